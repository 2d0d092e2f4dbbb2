"""Retention (N7): the hourly beat task purges personal data past the tenant's retention and
keeps what is recent; a subscriber's latest consent entry always stays."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from audience.consent import history, record_change
from audience.models import ConsentSource, ConsentState, Subscriber
from audience.subscribers import create_subscriber
from orgsettings.models import OrgSettings
from syncjobs import tasks
from syncjobs.models import (
    ErasurePropagation,
    JobKind,
    JobLogLine,
    JobRun,
    SyncIssue,
    SyncIssueAttempt,
    SyncStatus,
)
from tenants.models import Tenant
from tests.mapping_fixtures import save_settings

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def days_ago(n: int) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


@pytest.fixture(autouse=True)
def _keep_test_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    # The task closes stale connections first (a long-lived worker's habit); here that
    # would close the test's own transaction.
    monkeypatch.setattr(tasks, "close_old_connections", lambda: None)


@pytest.fixture
def aged(tenant: Tenant, other_tenant: Tenant) -> Subscriber:
    save_settings(tenant)
    OrgSettings.objects.filter(tenant=tenant).update(
        log_retention_days=30, consent_history_retention_days=365
    )
    old_run = JobRun.objects.create(
        tenant=tenant,
        kind=JobKind.SYNC,
        status="succeeded",
        finished_at=days_ago(40),
        result={"sample": ["anna@example.org"]},
    )
    new_run = JobRun.objects.create(
        tenant=tenant,
        kind=JobKind.SYNC,
        status="succeeded",
        finished_at=days_ago(1),
        result={"sample": ["b@x.org"]},
    )
    for run, age in ((old_run, 40), (new_run, 1)):
        line = JobLogLine.objects.create(run=run, message=f"line {age}")
        JobLogLine.objects.filter(pk=line.pk).update(at=days_ago(age))
    for age in (40, 1):
        issue = SyncIssue.objects.create(tenant=tenant, step="push", reason=f"issue {age}")
        SyncIssue.objects.filter(pk=issue.pk).update(last_seen=days_ago(age))
    # The recent issue's history: an old attempt goes, a recent one stays.
    for age in (40, 1):
        attempt = SyncIssueAttempt.objects.create(issue=issue, outcome="failed",
                                                  reason=f"attempt {age}")
        SyncIssueAttempt.objects.filter(pk=attempt.pk).update(at=days_ago(age))
    # Another tenant keeps its own (default) retention: its 40-day-old line stays.
    save_settings(other_tenant)
    foreign = JobRun.objects.create(tenant=other_tenant, kind=JobKind.SYNC, status="succeeded")
    line = JobLogLine.objects.create(run=foreign, message="foreign 40")
    JobLogLine.objects.filter(pk=line.pk).update(at=days_ago(40))
    sub = create_subscriber(
        tenant,
        {"email": "anna@example.org"},
        source=ConsentSource.FORM,
        consent=ConsentState.OPTED_IN,
        consent_at=days_ago(800),
    )
    record_change(sub, ConsentState.OPTED_OUT, source=ConsentSource.ADMIN, at=days_ago(400))
    only = create_subscriber(
        tenant,
        {"email": "old@example.org"},
        source=ConsentSource.FORM,
        consent=ConsentState.OPTED_IN,
        consent_at=days_ago(900),
    )
    assert history(only).count() == 1
    return sub


def test_the_beat_task_purges_old_personal_data_and_keeps_recent(
    tenant: Tenant, aged: Subscriber
) -> None:
    assert settings.CELERY_BEAT_SCHEDULE["privacy-housekeeping"]["task"] == (
        "syncjobs.privacy_housekeeping"
    )
    tasks.privacy_housekeeping()
    assert sorted(JobLogLine.objects.values_list("message", flat=True)) == ["foreign 40", "line 1"]
    assert list(SyncIssue.objects.values_list("reason", flat=True)) == ["issue 1"]
    assert list(SyncIssueAttempt.objects.values_list("reason", flat=True)) == ["attempt 1"]
    assert SyncStatus.objects.get(tenant=tenant).open_issues == 1
    results = dict(JobRun.objects.filter(tenant=tenant).values_list("finished_at", "result"))
    assert sorted(map(str, results.values())) == ["{'sample': ['b@x.org']}", "{}"]
    # Consent history: the 800-day-old opt-in goes, the latest entry of each stays.
    assert [e.state for e in history(aged)] == [ConsentState.OPTED_OUT]
    old = Subscriber.objects.get(email="old@example.org")
    assert [e.state for e in history(old)] == [ConsentState.OPTED_IN]


def test_history_is_kept_when_its_retention_is_zero(tenant: Tenant, aged: Subscriber) -> None:
    OrgSettings.objects.filter(tenant=tenant).update(consent_history_retention_days=0)
    tasks.privacy_housekeeping()
    assert [e.state for e in history(aged)] == [ConsentState.OPTED_OUT, ConsentState.OPTED_IN]


def test_the_task_queues_erasures_still_waiting_for_the_crm(
    tenant: Tenant, no_dispatch: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    save_settings(tenant)
    prop = ErasurePropagation.objects.create(
        tenant=tenant,
        subscriber_ref=1,
        entity_type="contact",
        crm_id=uuid.uuid4(),
        action="flag_and_note",
    )
    with django_capture_on_commit_callbacks(execute=True):
        tasks.privacy_housekeeping()
    assert no_dispatch == []  # just made: the erasure's own run is sending it
    ErasurePropagation.objects.filter(pk=prop.pk).update(created_at=days_ago(1))
    with django_capture_on_commit_callbacks(execute=True):
        tasks.privacy_housekeeping()
    assert JobRun.objects.get(pk=no_dispatch[-1]).kind == JobKind.ERASURE_PROPAGATION
