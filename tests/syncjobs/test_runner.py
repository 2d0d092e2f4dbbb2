"""The job runner: one active run per tenant and kind, lifecycle, readable failures,
cancellation, and a killed worker whose lease expires."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from syncjobs import runner
from syncjobs.models import JobLogLine, JobRun, JobStatus
from tenants.models import Tenant
from tests.api.conftest import token_client
from tests.worker_fixtures import WITH_TEST_BODIES, worker_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.django_db
def test_a_second_run_of_the_same_kind_is_refused_while_one_is_active(
    tenant: Tenant, no_dispatch: list[int], django_capture_on_commit_callbacks: object
) -> None:
    first = runner.enqueue(tenant, "test_succeed")
    with pytest.raises(runner.JobAlreadyActive) as info:
        runner.enqueue(tenant, "test_succeed")
    assert info.value.run.pk == first.pk
    # Another kind, or the same kind after the first ended, is fine.
    runner.enqueue(tenant, "test_crash")
    runner.execute(first.pk)
    assert runner.enqueue(tenant, "test_succeed").pk != first.pk


@pytest.mark.django_db
def test_enqueue_dispatches_only_after_commit(
    tenant: Tenant, no_dispatch: list[int], django_capture_on_commit_callbacks: object
) -> None:
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        run = runner.enqueue(tenant, "test_succeed")
        assert no_dispatch == []
    assert no_dispatch == [run.pk]


@pytest.mark.django_db
def test_execute_runs_the_body_and_records_everything(tenant: Tenant, no_dispatch: list[int]
                                                      ) -> None:
    run = runner.enqueue(tenant, "test_succeed")
    assert runner.execute(run.pk) == JobStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED
    assert run.result == {"steps": ["one"], "answer": 42}
    assert run.counters == {"records": 3}
    assert run.progress_done == 2 and run.percent == 100
    assert run.started_at and run.finished_at and run.attempts == 1
    assert [line.message for line in run.log_lines.all()] == ["step one done"]
    # A second delivery of the same message does nothing (idempotent claim).
    assert runner.execute(run.pk) is None


@pytest.mark.django_db
def test_failures_carry_a_readable_reason_and_no_stack_trace(
    tenant: Tenant, no_dispatch: list[int]
) -> None:
    run = runner.enqueue(tenant, "test_fail_readably")
    assert runner.execute(run.pk) == JobStatus.FAILED
    run.refresh_from_db()
    assert run.error.startswith("The CRM refused the request")
    crash = runner.enqueue(tenant, "test_crash")
    runner.execute(crash.pk)
    crash.refresh_from_db()
    assert crash.status == JobStatus.FAILED
    assert "ZeroDivisionError" in crash.error
    assert "internal detail" not in crash.error
    assert "Traceback" not in crash.error


@pytest.mark.django_db(transaction=True)
def test_killed_worker_is_detected_and_the_run_resumed(tenant: Tenant, no_dispatch: list[int]
                                                       ) -> None:
    run = runner.enqueue(tenant, "test_sleep_first")
    worker = subprocess.Popen(
        [*WITH_TEST_BODIES, "manage.py", "run_job", str(run.pk)], cwd=ROOT,
        env=worker_env(JOB_LEASE_SECONDS="30"),
    )
    try:
        deadline = time.monotonic() + 30
        while JobRun.objects.get(pk=run.pk).progress_label != "sleeping":
            assert time.monotonic() < deadline, "worker never started the job"
            assert worker.poll() is None, "worker exited early"
            time.sleep(0.1)
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING  # nobody told the database the worker died
    assert runner.reap_expired(now=timezone.now()) == []  # lease still valid
    later = run.lease_expires_at + timedelta(seconds=1)  # type: ignore[operator]
    assert runner.reap_expired(now=later) == [(run.pk, "resumed")]
    run.refresh_from_db()
    assert run.status == JobStatus.QUEUED
    assert "stopped responding" in run.log_lines.last().message  # type: ignore[union-attr]
    assert runner.execute(run.pk) == JobStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.result == {"finished_on_attempt": 2}


@pytest.mark.django_db
def test_a_run_that_keeps_dying_is_failed_with_a_reason(tenant: Tenant, settings: object,
                                                        no_dispatch: list[int]) -> None:
    settings.JOB_MAX_ATTEMPTS = 2  # type: ignore[attr-defined]
    run = runner.enqueue(tenant, "test_succeed")
    past = timezone.now() - timedelta(minutes=5)
    JobRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, attempts=2,
                                            lease_expires_at=past)
    assert runner.reap_expired() == [(run.pk, "failed")]
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    assert "stopped responding 2 times" in run.error
    assert run.log_lines.filter(level=JobLogLine.Level.ERROR).exists()
    # The tenant is not blocked: a new run of the kind can start.
    assert runner.enqueue(tenant, "test_succeed").status == JobStatus.QUEUED


@pytest.mark.django_db(transaction=True)
def test_heartbeat_keeps_a_slow_run_alive(tenant: Tenant, settings: object,
                                          no_dispatch: list[int]) -> None:
    settings.JOB_LEASE_SECONDS = 0.3  # type: ignore[attr-defined]
    run = runner.enqueue(tenant, "test_sleep_briefly", params={"seconds": 1.0})
    claimed_lease = []

    import threading

    def watch() -> None:
        for _ in range(8):
            time.sleep(0.12)
            claimed_lease.append(JobRun.objects.get(pk=run.pk).lease_expires_at)

    t = threading.Thread(target=watch)
    t.start()
    assert runner.execute(run.pk) == JobStatus.SUCCEEDED
    t.join()
    renewed = {lease for lease in claimed_lease if lease is not None}
    assert len(renewed) >= 2, "the lease was never renewed while the body ran"


@pytest.mark.django_db
def test_stale_queued_runs_are_sent_again(tenant: Tenant, no_dispatch: list[int],
                                          django_capture_on_commit_callbacks: object) -> None:
    run = runner.enqueue(tenant, "test_succeed")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    JobRun.objects.filter(pk=run.pk).update(created_at=an_hour_ago, dispatched_at=an_hour_ago)
    with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
        assert runner.reap_expired() == [(run.pk, "redispatched")]
    assert no_dispatch[-1] == run.pk


@pytest.mark.django_db
def test_a_lost_queued_run_is_sent_again_once_per_stale_period_not_every_tick(
        tenant: Tenant, no_dispatch: list[int], settings: object,
        django_capture_on_commit_callbacks: object) -> None:
    settings.JOB_QUEUE_STALE_SECONDS = 300  # type: ignore[attr-defined]
    run = runner.enqueue(tenant, "test_succeed")
    sent = no_dispatch.count(run.pk)
    start = timezone.now()
    ticks = [start + timedelta(seconds=s) for s in (60, 301, 361, 421, 602, 603)]
    acted = []
    for tick in ticks:
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            acted.append(runner.reap_expired(now=tick))
    assert acted == [[], [(run.pk, "redispatched")], [], [], [(run.pk, "redispatched")], []]
    assert no_dispatch.count(run.pk) == sent + 2
    run.refresh_from_db()
    assert run.dispatched_at == ticks[4]  # when it was last sent
    assert run.log_lines.filter(message__contains="sent to the workers again").count() == 2


@pytest.mark.django_db
def test_a_run_whose_heartbeat_is_late_says_the_worker_was_lost(
        tenant: Tenant, owner: Any, owner_client: Client, no_dispatch: list[int]) -> None:
    run = runner.enqueue(tenant, "test_succeed")
    assert runner.claim(run.pk) is not None
    run.refresh_from_db()
    assert not run.worker_lost
    JobRun.objects.filter(pk=run.pk).update(
        heartbeat_at=timezone.now() - timedelta(seconds=45))
    run.refresh_from_db()
    assert run.worker_lost
    for name in ("detail", "progress"):
        page = owner_client.get(reverse(f"syncjobs:{name}",
                                        kwargs={"tenant": tenant.slug, "pk": run.pk}))
        assert "Worker lost — will resume" in page.content.decode()
    api = token_client(owner).get(f"/api/v1/tenants/{tenant.slug}/runs/{run.pk}/")
    assert api.status_code == 200 and api.json()["worker_lost"] is True


@pytest.mark.django_db
def test_cancel_a_queued_run(tenant: Tenant, no_dispatch: list[int]) -> None:
    run = runner.enqueue(tenant, "test_succeed")
    assert runner.request_cancel(run)
    run.refresh_from_db()
    assert run.status == JobStatus.CANCELLED
    assert runner.execute(run.pk) is None
