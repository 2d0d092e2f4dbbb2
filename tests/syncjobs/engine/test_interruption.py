"""N1/N2: a sync stopped inside any step — an exception at a step boundary, CRM faults, a
crash right after the CRM created records, a killed worker — resumes and ends exactly as an
uninterrupted run: no lost subscriber, no duplicate CRM record. Throttling is survived."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from audience.groups import add_members
from audience.models import Subscriber, SubscriberGroup
from audience.subscribers import create_subscriber, current_values
from dynamics import DataverseClient
from syncjobs import runner
from syncjobs.engine.start import start_sync
from syncjobs.models import JobRun, JobStatus, LinkState, RecordLink
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn, records_by_email
from tests.worker_fixtures import WITH_TEST_BODIES, worker_env

ROOT = Path(__file__).resolve().parents[3]
SHARED = "office@shared-everywhere.example"
NEW = [f"new{i}@interrupt.example" for i in range(5)]
DUP = "dup@interrupt.example"


def scenario(group: SubscriberGroup) -> list[Subscriber]:
    subs = [create_subscriber(group.tenant, {"email": SHARED})]
    subs += [create_subscriber(group.tenant, {"email": e, "first_name": f"N{i}"})
             for i, e in enumerate(NEW)]
    subs += [create_subscriber(group.tenant, {"email": DUP, "first_name": "Dup"}),
             create_subscriber(group.tenant, {"email": DUP.upper(), "last_name": "Licate"})]
    add_members(group, [s.pk for s in subs])
    return subs


def assert_end_state(tenant: Tenant, client: DataverseClient) -> None:
    """What an uninterrupted run leaves (the ``uninterrupted`` case asserts it too)."""
    live = list(Subscriber.objects.live().filter(tenant=tenant))
    assert sorted(s.email_normalised for s in live) == sorted([SHARED, *NEW, DUP])
    for sub in live:
        link = RecordLink.objects.get(subscriber=sub, state=LinkState.ACTIVE)
        records = records_by_email(client, sub.email_normalised)
        assert len(records["contact"]) == 1, sub.email  # never a duplicate
        assert str(link.crm_id) == records["contact"][0]["contactid"]
        mine = current_values([sub.pk])[sub.pk]
        assert records["contact"][0]["firstname"] == (mine.get("first_name") or None)
    dup = next(s for s in live if s.email_normalised == DUP)
    assert current_values([dup.pk])[dup.pk]["last_name"] == "Licate"  # merged, values kept


pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


@pytest.mark.parametrize("step,nth", [(None, 0), ("pull", 1), ("match", 1), ("match", 2),
                                      ("push", 1), ("push", 2)])
def test_n1_interrupted_at_a_step_boundary_resumes_to_the_same_end_state(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_client: DataverseClient, interrupt: Callable[[str, int], None],
        step: str | None, nth: int) -> None:
    scenario(group)
    if step is not None:
        interrupt(step, nth)
        failed = sync()
        assert failed.status == JobStatus.FAILED
        assert "Traceback" not in failed.error
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert_end_state(tenant, crm_client)


def test_n1_a_crash_after_the_crm_created_records_makes_no_duplicates(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_client: DataverseClient, monkeypatch: pytest.MonkeyPatch, client_class: Any) -> None:
    scenario(group)
    real = client_class.create_multiple

    def create_then_crash(self: DataverseClient, *args: Any, **kwargs: Any) -> Any:
        real(self, *args, **kwargs)  # the CRM made them; the answer never arrives
        raise ConnectionResetError("worker lost its connection")
    monkeypatch.setattr(client_class, "create_multiple", create_then_crash)
    assert sync().status == JobStatus.FAILED
    assert RecordLink.objects.filter(state=LinkState.PENDING).count() == len(NEW) + 1
    monkeypatch.setattr(client_class, "create_multiple", real)
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert_end_state(tenant, crm_client)


def test_n1_crm_failures_inside_push_fail_the_run_and_the_next_run_completes(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_client: DataverseClient, crm_admin: EmulatorAdmin, crm_org: str,
        monkeypatch: pytest.MonkeyPatch, client_class: Any) -> None:
    scenario(group)
    real = client_class.create_multiple

    def crm_breaks_down(self: DataverseClient, *args: Any, **kwargs: Any) -> Any:
        # From push's first create on, every request of the organisation fails (the Web
        # API's paths or SOAP's one service alike).
        crm_admin.session.post(f"{crm_admin.base}/faults", json={"enabled": True, "fail_next": [
            {"method": "*", "path": f"^/{crm_org}/", "count": 40, "status": 503,
             "retry_after": 0}]}, timeout=10).raise_for_status()
        monkeypatch.setattr(client_class, "create_multiple", real)
        return real(self, *args, **kwargs)
    monkeypatch.setattr(client_class, "create_multiple", crm_breaks_down)
    failed = sync()
    assert failed.status == JobStatus.FAILED
    assert "Traceback" not in failed.error
    crm_admin.session.post(f"{crm_admin.base}/faults/reset", timeout=10).raise_for_status()
    assert sync().status == JobStatus.SUCCEEDED
    assert_end_state(tenant, crm_client)


@pytest.mark.webapi_only  # service protection (429) is Dataverse's: CRM 2013/2015 have none
def test_n2_throttling_is_honoured_and_counted(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_client: DataverseClient, crm_admin: EmulatorAdmin) -> None:
    scenario(group)
    crm_admin.session.post(f"{crm_admin.base}/faults", json={"enabled": True, "fail_next": [
        {"method": "GET", "path": "contacts", "count": 2, "status": 429, "retry_after": 1},
        {"method": "POST", "path": "CreateMultiple", "count": 1, "status": 429,
         "retry_after": 1}]}, timeout=10).raise_for_status()
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    http = run.counters["http"]
    assert http["throttled"] == 3
    assert http["wait_seconds"] >= 3  # waited as long as Retry-After asked
    assert http["round_trips"] >= http["throttled"]
    assert_end_state(tenant, crm_client)


@pytest.mark.django_db(transaction=True)
@pytest.mark.webapi_only  # slows only the Web API's CreateMultiple path; SOAP's one service
# cannot single out creates (and a worker subprocess per variant is costly)
def test_n1_a_killed_worker_is_resumed_by_the_reaper_without_duplicates(
        tenant: Tenant, group: SubscriberGroup, names: None, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, no_dispatch: list[int]) -> None:
    scenario(group)
    # Slow creates: the worker is killed while the CRM works on them.
    crm_admin.session.post(f"{crm_admin.base}/faults", json={"enabled": True, "rules": [
        {"method": "POST", "path": "CreateMultiple", "pslow": 1.0, "slow_ms": 1500}]},
        timeout=10).raise_for_status()
    run = start_sync(tenant, "incremental")
    worker = subprocess.Popen([*WITH_TEST_BODIES, "manage.py", "run_job", str(run.pk)], cwd=ROOT,
                              env=worker_env(JOB_LEASE_SECONDS="30"))
    try:
        deadline = time.monotonic() + 60
        while "mailworx → CRM" not in JobRun.objects.get(pk=run.pk).progress_label:  # push
            assert time.monotonic() < deadline, "the worker never reached push"
            assert worker.poll() is None, "the worker exited early"
            time.sleep(0.05)
        time.sleep(0.5)  # inside the (slow) create request
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING
    later = run.lease_expires_at + timedelta(seconds=1)  # type: ignore[operator]
    assert runner.reap_expired(now=later) == [(run.pk, "resumed")]
    crm_admin.session.post(f"{crm_admin.base}/faults/reset", timeout=10).raise_for_status()
    time.sleep(1.5)  # let the CRM finish the create the killed worker had sent
    assert runner.execute(run.pk) == JobStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.attempts == 2
    assert timezone.now() >= run.finished_at  # type: ignore[operator]
    assert_end_state(tenant, crm_client)


@pytest.mark.webapi_only  # service protection limits are Dataverse's: CRM 2013/2015 have none
def test_n2_service_protection_limits_are_survived_and_reported(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_client: DataverseClient, crm_admin: EmulatorAdmin) -> None:
    scenario(group)
    crm_client.who_am_i()  # the token is fetched before the limits tighten
    crm_admin.session.post(f"{crm_admin.base}/limits", json={
        "requests": 4, "window_seconds": 1, "retry_after": 1}, timeout=10).raise_for_status()
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    refused = crm_admin.session.get(f"{crm_admin.base}/limits", timeout=10).json()
    assert run.counters["http"]["throttled"] >= 1
    assert run.counters["http"]["throttled"] == sum(refused["refused"].values())
    assert run.counters["http"]["wait_seconds"] >= run.counters["http"]["throttled"]
    crm_admin.session.post(f"{crm_admin.base}/limits/reset", timeout=10).raise_for_status()
    assert_end_state(tenant, crm_client)


@pytest.mark.parametrize("tracking", [True, False])
def test_n1_pull_interrupted_between_batches_resumes_without_losing_changes(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_client: DataverseClient, crm_admin: EmulatorAdmin,
        interrupt: Callable[[str, int], None], monkeypatch: pytest.MonkeyPatch,
        tracking: bool, crm_org: str) -> None:
    from syncjobs.engine.steps import pull

    if not tracking:
        crm_admin.session.post(f"{crm_admin.base}/tracking", json={
            "org": crm_org, "entity": "contact", "enabled": False},
            timeout=10).raise_for_status()
    subs = scenario(group)
    assert sync().status == JobStatus.SUCCEEDED
    assert sync().status == JobStatus.SUCCEEDED  # change tracking / watermark started
    for sub in subs:
        link = RecordLink.objects.filter(subscriber=sub, state=LinkState.ACTIVE).first()
        if link is not None:
            crm_admin.patch(crm_org, "contacts", str(link.crm_id),
                            {"firstname": f"CRM-{sub.pk}"})
    monkeypatch.setattr(pull, "BATCH", 2)
    interrupt("pull", 3)  # after the second batch of changes was applied
    assert sync().status == JobStatus.FAILED
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    for sub in Subscriber.objects.live().filter(tenant=tenant):
        assert current_values([sub.pk])[sub.pk]["first_name"] == f"CRM-{sub.pk}"
    assert_end_state(tenant, crm_client)


def test_n1_records_created_before_a_crash_are_read_back_like_the_others(
        tenant: Tenant, group: SubscriberGroup, names: None, map_field: Any, sync: SyncFn,
        crm_client: DataverseClient, monkeypatch: pytest.MonkeyPatch, client_class: Any) -> None:
    """The CRM made a batch, the answer was lost, and the resumed run's pull took its change
    token before push re-landed the batch: those records must still get the first read that
    every record this sync creates gets (its CRM-only fields come over), as uninterrupted."""
    from syncjobs.engine.steps import push

    map_field("contact", "parentcustomerid", "company", related="account.name")
    subs = [create_subscriber(tenant, {"email": f"c{i}@crash.example", "company": "Acme"})
            for i in range(6)]
    add_members(group, [s.pk for s in subs])
    monkeypatch.setattr(push, "PUSH_BATCH", 2)
    monkeypatch.setattr(push, "BULK_CHUNK", 0, raising=False)
    real = client_class.create_multiple
    calls = []

    def second_batch_crashes(self: DataverseClient, *args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        result = real(self, *args, **kwargs)
        if len(calls) == 2:
            raise ConnectionResetError("worker lost its connection")
        return result
    monkeypatch.setattr(client_class, "create_multiple", second_batch_crashes)
    assert sync().status == JobStatus.FAILED
    monkeypatch.setattr(client_class, "create_multiple", real)
    assert sync().status == JobStatus.SUCCEEDED
    # No parent account in the CRM: the CRM-only company comes over empty for everyone.
    assert {current_values([s.pk])[s.pk].get("company", "") for s in subs} == {""}
