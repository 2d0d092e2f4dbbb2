"""C7 "Start syncing": no sync runs before the setup's last step (but dry runs), the step
opens only when the setup is done, and the scheduler, the CRM side's events, "Sync now" and
the API all follow it."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audience.services import ensure_standard_fields
from businessunits.models import BusinessUnit
from crmevents.models import CrmEvent
from fieldmapping.catalogue import load_catalogue
from fieldmapping.models import CrmAttribute
from fieldmapping.services import MappingInput, save_mapping
from orgsettings import integration_access, services
from orgsettings.models import OrgSettings
from orgsettings.progress import (
    State,
    mailworx_prepared,
    setup_steps,
    start_blockers,
    sync_enabled,
)
from syncjobs.engine.start import SyncRefused, start_event_runs, start_sync
from syncjobs.models import JobRun
from syncjobs.schedule import dispatch_due
from tenants.models import Tenant
from tests.mapping_fixtures import demo_catalogue, make_unit, save_settings

pytestmark = pytest.mark.django_db


def checked(tenant: Tenant) -> OrgSettings:
    """Saved settings, mailworx prepared, an integration check passed."""
    org = OrgSettings.objects.filter(tenant=tenant).first() or save_settings(tenant)
    if not mailworx_prepared(tenant):
        integration_access.prepare_mailworx(tenant, user=None)
    OrgSettings.objects.filter(pk=org.pk).update(check_passed_at=timezone.now())
    org.refresh_from_db()
    return org


def set_up(tenant: Tenant, *, fixed_language: str = "") -> BusinessUnit:
    """Everything "Start syncing" needs: the catalogue, a unit with its owner, mappings."""
    checked(tenant)
    fields = {f.key: f for f in ensure_standard_fields(tenant)}
    load_catalogue(tenant, demo_catalogue())
    unit = make_unit(tenant, is_default=True, fixed_language=fixed_language)
    attr = CrmAttribute.objects.get(tenant=tenant, entity="contact", logical_name="lastname")
    save_mapping(unit, "contact", MappingInput(attr, fields["last_name"]))
    return unit


def start_step(tenant: Tenant) -> State:
    return setup_steps(tenant)[-1].state


def start_url(tenant: Tenant) -> str:
    return reverse("orgsettings:start", kwargs={"tenant": tenant.slug})


def test_the_step_waits_until_the_setup_is_done_and_names_what_is_missing(
        tenant: Tenant) -> None:
    assert start_step(tenant) is State.WAITING
    checked(tenant)
    lines = start_blockers(tenant)
    assert any(line.startswith("Pull the CRM attributes") for line in lines)
    assert any(line.startswith("Save a business unit") for line in lines)
    with pytest.raises(services.StartSyncingRefused) as refused:
        services.start_syncing(tenant, user=None)
    assert refused.value.reasons == lines
    assert OrgSettings.objects.get(tenant=tenant).sync_started_at is None


def test_a_language_gap_keeps_it_closed_until_a_fixed_language_is_set(tenant: Tenant) -> None:
    unit = set_up(tenant)
    assert start_step(tenant) is State.WAITING
    assert any("lack a language mapping" in line for line in start_blockers(tenant))
    unit.fixed_language = "en"
    unit.save()
    assert start_step(tenant) is State.OPEN and start_blockers(tenant) == []
    org, started = services.start_syncing(tenant, user=None)
    assert started and org.sync_started_at is not None and sync_enabled(tenant)
    assert start_step(tenant) is State.DONE
    again, started_again = services.start_syncing(tenant, user=None)
    assert not started_again and again.sync_started_at == org.sync_started_at


def test_before_the_start_only_a_dry_run_may_run(tenant: Tenant, no_dispatch: list[int]
                                                 ) -> None:
    set_up(tenant, fixed_language="de")
    for mode in ("incremental", "full", "backfill", "crm_events"):
        with pytest.raises(SyncRefused, match="Start syncing"):
            start_sync(tenant, mode)
    run = start_sync(tenant, "incremental", dry_run=True)
    assert run.params["dry_run"] is True
    services.start_syncing(tenant, user=None)
    run.delete()
    assert start_sync(tenant, "incremental").params == {"mode": "incremental"}


def test_the_scheduler_and_crm_events_wait_for_the_start(tenant: Tenant,
                                                         no_dispatch: list[int]) -> None:
    set_up(tenant, fixed_language="de")
    CrmEvent.objects.create(tenant=tenant, kind="list_marked", crm_id=uuid.uuid4())
    assert dispatch_due() == []
    assert start_event_runs({tenant.pk}) == []
    assert not JobRun.objects.filter(tenant=tenant).exists()
    services.start_syncing(tenant, user=None)
    queued = dispatch_due(timezone.now() + timedelta(seconds=1))
    assert {(r.kind, r.params.get("mode")) for r in queued} >= {("sync", "incremental")}


@pytest.mark.django_db(transaction=True)
def test_the_migration_marks_tenants_that_synced_as_started() -> None:
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    before = [("orgsettings", "0006_secret_bindings_recorded"),
              ("syncjobs", "0009_record_link_subscriber_id_written")]
    after = [("orgsettings", "0007_sync_started")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    old = executor.loader.project_state(before).apps
    tenants = old.get_model("tenants", "Tenant")
    org_model = old.get_model("orgsettings", "OrgSettings")
    runs = old.get_model("syncjobs", "JobRun")
    live, dry, fresh = (tenants.objects.create(name=n, slug=n) for n in ("live", "dry", "new"))
    for t in (live, dry, fresh):
        org_model.objects.create(tenant=t, crm_url="https://x.crm4.dynamics.com",
                                 deployment="online", reaction_mode="absolute")
    first = runs.objects.create(tenant=live, kind="sync", status="succeeded",
                                params={"mode": "incremental"})
    runs.objects.create(tenant=live, kind="sync", status="succeeded",
                        params={"mode": "incremental"})
    runs.objects.create(tenant=live, kind="sync", status="failed", params={"mode": "full"})
    runs.objects.create(tenant=dry, kind="sync", status="succeeded",
                        params={"mode": "incremental", "dry_run": True})
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    new = executor.loader.project_state(after).apps.get_model("orgsettings", "OrgSettings")
    started = {o.tenant_id: o.sync_started_at for o in new.objects.all()}
    assert started == {live.pk: first.created_at, dry.pk: None, fresh.pk: None}
    MigrationExecutor(connection).migrate(executor.loader.graph.leaf_nodes())


class TestPage:
    def test_waiting_page_lists_what_is_missing_and_refuses_the_post(
            self, tenant: Tenant, owner_client: Client) -> None:
        checked(tenant)
        html = owner_client.get(start_url(tenant)).content.decode()
        assert 'id="start-missing"' in html and "Pull the CRM attributes" in html
        assert 'id="start-dry-run-button"' in html
        response = owner_client.post(start_url(tenant), follow=True)
        assert "Syncing cannot start yet" in response.content.decode()
        assert OrgSettings.objects.get(tenant=tenant).sync_started_at is None

    def test_owner_starts_and_the_first_sync_is_queued(
            self, tenant: Tenant, owner_client: Client, no_dispatch: list[int]) -> None:
        set_up(tenant, fixed_language="de")
        response = owner_client.post(start_url(tenant))
        run = JobRun.objects.get(tenant=tenant)
        assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
        assert run.params["mode"] == "incremental" and run.trigger == "manual"
        org = OrgSettings.objects.get(tenant=tenant)
        assert org.sync_started_at is not None and org.sync_started_by is not None
        assert 'id="sync-started"' in owner_client.get(start_url(tenant)).content.decode()

    def test_member_may_not_start_and_outsider_finds_nothing(
            self, tenant: Tenant, member_client: Client, outsider_client: Client) -> None:
        set_up(tenant, fixed_language="de")
        assert member_client.post(start_url(tenant)).status_code == 403
        assert outsider_client.post(start_url(tenant)).status_code == 404
        assert outsider_client.get(start_url(tenant)).status_code == 404
        assert OrgSettings.objects.get(tenant=tenant).sync_started_at is None

    def test_sync_now_before_the_start_points_to_the_step(
            self, tenant: Tenant, owner_client: Client, no_dispatch: list[int]) -> None:
        set_up(tenant, fixed_language="de")
        url = reverse("syncjobs:sync_start", kwargs={"tenant": tenant.slug})
        response = owner_client.post(url, {"mode": "incremental"}, follow=True)
        html = response.content.decode()
        assert "Syncing has not been started for this tenant yet" in html
        assert start_url(tenant) in html
        assert not JobRun.objects.exists()
        owner_client.post(url, {"mode": "incremental", "dry_run": "1"})
        assert JobRun.objects.get().params.get("dry_run") is True

    def test_setup_page_shows_attributes_and_start_steps(
            self, tenant: Tenant, owner_client: Client) -> None:
        html = owner_client.get(reverse("orgsettings:progress",
                                        kwargs={"tenant": tenant.slug})).content.decode()
        assert 'id="step-attributes"' in html and 'id="step-start"' in html
        assert 'class="state waiting"' in html and "blocked" not in html

