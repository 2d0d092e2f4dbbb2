"""Fixtures for the pages and API of manual runs and sync issues: a tenant whose
integration is ready (no CRM call happens: runs are queued, not executed), a subscriber in
a synced group, and issues."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.utils import timezone

from audience.groups import add_members, create_group, save_sync_setting
from audience.models import Subscriber, SubscriberGroup
from audience.services import ensure_standard_fields
from audience.subscribers import create_subscriber
from orgsettings.models import OrgSettings
from syncjobs.models import JobKind, JobRun, JobStatus, SyncIssue
from tenants.models import Tenant
from tests.mapping_fixtures import make_unit, save_settings

__all__ = ["IssueFn", "RunFn", "make_issue", "make_run", "ready", "sub", "synced_group"]


def make_ready(tenant: Tenant) -> OrgSettings:
    org = OrgSettings.objects.filter(tenant=tenant).first() or save_settings(tenant)
    OrgSettings.objects.filter(pk=org.pk).update(check_passed_at=timezone.now(),
                                                 sync_started_at=timezone.now())
    org.refresh_from_db()
    return org


@pytest.fixture
def ready(tenant: Tenant) -> OrgSettings:
    """``tenant`` with saved settings and a passed integration check."""
    return make_ready(tenant)


@pytest.fixture
def synced_group(tenant: Tenant, ready: OrgSettings) -> SubscriberGroup:
    make_unit(tenant, is_default=True)
    group = create_group(tenant, "Newsletter")
    save_sync_setting(group, entity_type="contact", mode="both")
    return group


@pytest.fixture
def sub(tenant: Tenant, synced_group: SubscriberGroup) -> Subscriber:
    ensure_standard_fields(tenant)
    subscriber = create_subscriber(tenant, {"email": "anna@example.com"})
    add_members(synced_group, [subscriber.pk])
    return subscriber


IssueFn = Callable[..., SyncIssue]
RunFn = Callable[..., JobRun]


@pytest.fixture
def make_issue() -> IssueFn:
    def make(tenant: Tenant, subscriber: Subscriber | None = None, **kwargs: Any) -> SyncIssue:
        values: dict[str, Any] = {
            "step": "push", "code": "0x80044331",
            "reason": "The CRM refused the record: a value is longer than the CRM allows.",
            "hint": "Shorten the subscriber's first name to 50 characters.", "attempts": 3}
        values.update(kwargs)
        return SyncIssue.objects.create(tenant=tenant, subscriber=subscriber, **values)
    return make


@pytest.fixture
def make_run() -> RunFn:
    def make(tenant: Tenant, status: str = JobStatus.RUNNING, **kwargs: Any) -> JobRun:
        values: dict[str, Any] = {"kind": JobKind.SYNC, "params": {"mode": "incremental"},
                                  "progress_done": 2, "progress_total": 5,
                                  "progress_label": "Step: push"}
        values.update(kwargs)
        now = timezone.now()
        return JobRun.objects.create(tenant=tenant, status=status, started_at=now,
                                     heartbeat_at=now, **values)
    return make
