"""The doors to a dry run and to a reaction export: the runs page and the API.
Owner starts, member gets 403, outsider 404; the queued run carries the right kind/params."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from orgsettings.models import OrgSettings
from syncjobs.models import JobKind, JobRun, Trigger
from tenants.models import Tenant
from tests.syncjobs.ops_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db


def start_url(tenant: Tenant) -> str:
    return reverse("syncjobs:sync_start", kwargs={"tenant": tenant.slug})


def test_the_runs_page_offers_a_dry_run_and_a_reaction_export(
        owner_client: Client, tenant: Tenant, ready: OrgSettings) -> None:
    html = owner_client.get(reverse("syncjobs:list", kwargs={"tenant": tenant.slug})).content
    assert b'id="sync-dry-run"' in html and b'id="reactions-now"' in html


def test_dry_run_from_the_page_queues_a_sync_that_writes_nothing(
        owner_client: Client, tenant: Tenant, ready: OrgSettings,
        no_dispatch: list[int]) -> None:
    response = owner_client.post(start_url(tenant), {"mode": "incremental", "dry_run": "1"})
    run = JobRun.objects.get(tenant=tenant)
    assert response.status_code == 302
    assert run.kind == JobKind.SYNC
    assert run.params["mode"] == "incremental" and run.params["dry_run"] is True


def test_reaction_export_from_the_page(owner_client: Client, tenant: Tenant,
                                       ready: OrgSettings, no_dispatch: list[int]) -> None:
    assert owner_client.post(start_url(tenant), {"mode": "reactions"}).status_code == 302
    run = JobRun.objects.get(tenant=tenant)
    assert run.kind == JobKind.REACTION_EXPORT and run.trigger == Trigger.MANUAL
    # A second one while the first is queued is refused with a readable message.
    response = owner_client.post(start_url(tenant), {"mode": "reactions"}, follow=True)
    assert JobRun.objects.filter(tenant=tenant).count() == 1
    assert "already" in response.content.decode()


def test_members_and_outsiders_cannot_start_either(
        member_client: Client, outsider_client: Client, tenant: Tenant,
        ready: OrgSettings, no_dispatch: list[int]) -> None:
    for data in ({"mode": "incremental", "dry_run": "1"}, {"mode": "reactions"}):
        assert member_client.post(start_url(tenant), data).status_code == 403
        assert outsider_client.post(start_url(tenant), data).status_code == 404
    assert not JobRun.objects.exists()


def test_a_reaction_export_cannot_be_a_dry_run(owner_client: Client, tenant: Tenant,
                                               ready: OrgSettings,
                                               no_dispatch: list[int]) -> None:
    response = owner_client.post(start_url(tenant), {"mode": "reactions", "dry_run": "1"})
    assert response.status_code == 400 and not JobRun.objects.exists()


def test_on_sqlite_a_dry_run_of_a_large_tenant_is_refused_in_words(
        owner_client: Client, tenant: Tenant, ready: OrgSettings, no_dispatch: list[int],
        settings: Any) -> None:
    from django.db import connection

    from audience.subscribers import create_subscriber

    settings.DRY_RUN_SQLITE_MAX_SUBSCRIBERS = 1
    for i in range(2):
        create_subscriber(tenant, {"email": f"big{i}@dry.example"})
    response = owner_client.post(start_url(tenant), {"mode": "incremental", "dry_run": "1"},
                                 follow=True)
    if connection.vendor == "sqlite":
        assert not JobRun.objects.exists()
        assert "PostgreSQL" in response.content.decode()
    else:  # PostgreSQL locks only the rows a dry run touches: no limit
        assert JobRun.objects.get().params["dry_run"] is True
