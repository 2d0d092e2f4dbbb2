"""S12 scheduled runs: ``dispatch_due`` with a fake clock queues what each tenant's intervals
say is due — once, never for paused or unchecked tenants, never a second active run — and
reaction exports and reconcile runs on their own intervals."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from orgsettings.models import OrgSettings
from syncjobs import runner
from syncjobs.models import JobKind, JobRun, JobStatus, Trigger
from syncjobs.schedule import dispatch_due
from tenants.models import Tenant
from tests.syncjobs.ops_fixtures import make_ready

pytestmark = pytest.mark.django_db


def queued(runs: list[JobRun]) -> list[tuple[str, str, str | None]]:
    return sorted((r.tenant.slug, r.kind, r.params.get("mode")) for r in runs)


def finish_all() -> None:
    JobRun.objects.filter(status__in=JobStatus.active()).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now(), lease_expires_at=None)


def age(kind: str, mode: str | None, minutes: float) -> None:
    """Pretend the tenant's runs of ``kind`` (and ``mode``) were created ``minutes`` ago."""
    runs = JobRun.objects.filter(kind=kind)
    if mode:
        runs = runs.filter(params__mode=mode)
    runs.update(created_at=timezone.now() - timedelta(minutes=minutes))


@pytest.fixture
def now() -> datetime:
    return timezone.now()


def test_due_tenants_are_queued_once(tenant: Tenant, other_tenant: Tenant, now: datetime,
                                     no_dispatch: list[int]) -> None:
    make_ready(tenant)
    make_ready(other_tenant)
    first = dispatch_due(now)
    assert queued(first) == [
        ("acme", "reaction_export", None), ("acme", "sync", "incremental"),
        ("globex", "reaction_export", None), ("globex", "sync", "incremental")]
    assert {r.trigger for r in first} == {Trigger.SCHEDULE}
    # Reconcile is due too, but the incremental sync of the same kind is active.
    assert dispatch_due(now + timedelta(minutes=1)) == []
    finish_all()
    assert queued(dispatch_due(now + timedelta(minutes=2))) == [
        ("acme", "sync", "reconcile"), ("globex", "sync", "reconcile")]
    finish_all()
    assert dispatch_due(now + timedelta(minutes=3)) == []  # nothing due within the intervals


def test_the_sync_interval_counts_from_the_last_sync_by_hand_or_schedule(
        tenant: Tenant, now: datetime, no_dispatch: list[int]) -> None:
    make_ready(tenant)
    OrgSettings.objects.filter(tenant=tenant).update(sync_interval_minutes=30)
    runner.enqueue(tenant, JobKind.SYNC, params={"mode": "full"})  # by hand: counts for both
    runner.enqueue(tenant, JobKind.REACTION_EXPORT)
    finish_all()
    age(JobKind.SYNC, "full", 29)
    age(JobKind.REACTION_EXPORT, None, 29)
    assert dispatch_due(now) == []
    age(JobKind.SYNC, "full", 31)
    assert queued(dispatch_due(now)) == [("acme", "sync", "incremental")]


def test_a_group_sync_does_not_count_as_the_tenants_sync(tenant: Tenant, now: datetime,
                                                         no_dispatch: list[int]) -> None:
    make_ready(tenant)
    runner.enqueue(tenant, JobKind.SYNC, params={"mode": "group", "group_id": 1})
    runner.enqueue(tenant, JobKind.REACTION_EXPORT)
    finish_all()
    assert [r.params["mode"] for r in dispatch_due(now)] == ["incremental"]


def test_paused_and_unchecked_tenants_are_not_queued(tenant: Tenant, other_tenant: Tenant,
                                                     now: datetime,
                                                     no_dispatch: list[int]) -> None:
    make_ready(tenant)
    OrgSettings.objects.filter(tenant=tenant).update(sync_paused=True)
    org = make_ready(other_tenant)
    # The connection changed after the check passed: a new check is due first (C9).
    OrgSettings.objects.filter(pk=org.pk).update(
        connection_changed_at=org.check_passed_at + timedelta(seconds=1))
    assert dispatch_due(now) == []
    assert not JobRun.objects.exists()


def test_a_tenant_with_a_running_sync_is_not_queued_twice(
        tenant: Tenant, now: datetime, no_dispatch: list[int]) -> None:
    make_ready(tenant)
    running = runner.enqueue(tenant, JobKind.SYNC, params={"mode": "incremental"})
    JobRun.objects.filter(pk=running.pk).update(
        status=JobStatus.RUNNING, lease_expires_at=now + timedelta(hours=1),
        created_at=now - timedelta(hours=2))
    runs = dispatch_due(now)
    assert queued(runs) == [("acme", "reaction_export", None)]
    assert JobRun.objects.filter(kind=JobKind.SYNC).count() == 1


def test_reaction_export_and_reconcile_run_on_their_own_intervals(
        tenant: Tenant, now: datetime, no_dispatch: list[int]) -> None:
    make_ready(tenant)
    OrgSettings.objects.filter(tenant=tenant).update(
        sync_interval_minutes=15, reaction_export_interval_minutes=60, reconcile_interval_hours=6)
    for kind, mode in ((JobKind.SYNC, "incremental"), (JobKind.SYNC, "reconcile"),
                       (JobKind.REACTION_EXPORT, None)):
        runner.enqueue(tenant, kind, params={"mode": mode} if mode else None)
        finish_all()
    age(JobKind.SYNC, "incremental", 10)
    age(JobKind.SYNC, "reconcile", 5 * 60)
    age(JobKind.REACTION_EXPORT, None, 61)
    assert queued(dispatch_due(now)) == [("acme", "reaction_export", None)]
    finish_all()
    age(JobKind.SYNC, "reconcile", 6 * 60 + 1)
    assert queued(dispatch_due(now)) == [("acme", "sync", "reconcile")]
    finish_all()
    age(JobKind.SYNC, "incremental", 16)
    assert queued(dispatch_due(now)) == [("acme", "sync", "incremental")]


def test_the_dispatcher_reaps_dead_runs(tenant: Tenant, now: datetime,
                                        no_dispatch: list[int]) -> None:
    dead = runner.enqueue(tenant, "integration_check")
    JobRun.objects.filter(pk=dead.pk).update(status=JobStatus.RUNNING, attempts=1,
                                             lease_expires_at=now - timedelta(seconds=1))
    dispatch_due(now)
    assert JobRun.objects.get(pk=dead.pk).status == JobStatus.QUEUED


def test_two_queries_find_the_work_whatever_the_number_of_tenants(
        now: datetime, no_dispatch: list[int], db: Any) -> None:
    def count_for(n: int) -> int:
        tenants = [Tenant.objects.create(name=f"T{n}-{i}", slug=f"t{n}-{i}") for i in range(n)]
        for t in tenants:
            make_ready(t)
        for _round in range(2):  # queue everything once (reconcile after the sync)
            dispatch_due(now)
            finish_all()
        with CaptureQueriesContext(connection) as ctx:
            assert dispatch_due(now + timedelta(minutes=1)) == []
        JobRun.objects.all().delete()
        for t in tenants:
            t.delete()
        return len(ctx.captured_queries)

    assert count_for(2) == count_for(6) <= 4  # reaper (2), tenants, latest runs


def test_beat_runs_the_dispatcher_every_minute() -> None:
    entries = list(django_settings.CELERY_BEAT_SCHEDULE.values())
    assert {"task": "syncjobs.dispatch_due", "schedule": 60.0} in entries


def test_a_dry_run_does_not_count_as_a_sync(tenant: Tenant, now: datetime,
                                            no_dispatch: list[int]) -> None:
    make_ready(tenant)
    dispatch_due(now)
    finish_all()
    age(JobKind.SYNC, None, 24 * 60 + 30)  # everything ran long ago …
    runner.enqueue(tenant, JobKind.SYNC, params={"mode": "full", "dry_run": True})
    finish_all()                          # … and a dry run just now changes nothing
    assert ("acme", "sync", "incremental") in queued(dispatch_due(now))


def test_when_syncs_and_reconcile_are_both_due_one_full_run_does_both(
        tenant: Tenant, now: datetime, no_dispatch: list[int]) -> None:
    """A tenant whose syncs outlast its interval would otherwise never get its reconcile:
    the incremental sync would always take the one active slot first."""
    make_ready(tenant)
    runner.enqueue(tenant, JobKind.SYNC, params={"mode": "reconcile"})
    runner.enqueue(tenant, JobKind.REACTION_EXPORT)
    finish_all()
    age(JobKind.SYNC, None, 25 * 60)
    age(JobKind.REACTION_EXPORT, None, 5)
    assert queued(dispatch_due(now)) == [("acme", "sync", "full")]
    finish_all()
    assert dispatch_due(now + timedelta(minutes=1)) == []
