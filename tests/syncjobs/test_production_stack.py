"""The production stack (integration stage): two prefork workers and beat on Redis and
PostgreSQL compete for the same tenants; one run per tenant and kind at a time, each run
claimed once, and a killed worker's run resumed by the other worker through beat's reaper.
"""

from __future__ import annotations

import itertools
import os
import time
from collections import defaultdict
from datetime import datetime

import pytest

from syncjobs import runner
from syncjobs.models import JobRun, JobStatus
from tenants.models import Tenant
from tests.stack_fixtures import Stack, production_stack  # noqa: F401

pytestmark = pytest.mark.integration


def _wait(condition: object, stack: Stack, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} never happened\n{stack.logs_text()}"
        time.sleep(0.2)


def _group_of(worker: str) -> int:
    """The process group (one per worker node) of the prefork child named in a run."""
    return os.getpgid(int(worker.rsplit(":", 1)[1]))


def test_two_workers_compete_and_each_tenant_runs_one_job_of_a_kind_at_a_time(
        production_stack: Stack) -> None:  # noqa: F811
    tenants = [Tenant.objects.create(name=f"Stack {i}", slug=f"stack-{i}") for i in range(3)]
    wanted = 4
    started = time.monotonic()
    # Keep asking, as users and the scheduler would: a refused start (a run of the kind is
    # active) sends the active run's message again, so both workers see the same run.
    while any(JobRun.objects.filter(tenant=t).count() < wanted for t in tenants):
        assert time.monotonic() - started < 120, production_stack.logs_text()
        for tenant in tenants:
            if JobRun.objects.filter(tenant=tenant).count() >= wanted:
                continue
            try:
                runner.enqueue(tenant, "test_sleep_briefly", params={"seconds": 0.4})
            except runner.JobAlreadyActive as refused:
                runner.dispatch(refused.run.pk)
        time.sleep(0.05)
    _wait(lambda: not JobRun.objects.filter(status__in=JobStatus.active()).exists(),
          production_stack, 60, "the end of every run")
    runs = list(JobRun.objects.order_by("started_at"))
    assert len(runs) == wanted * len(tenants)
    assert all(r.status == JobStatus.SUCCEEDED and r.attempts == 1 for r in runs), \
        [(r.pk, r.status, r.attempts, r.error) for r in runs]
    spans: dict[int, list[tuple[datetime, datetime]]] = defaultdict(list)
    for r in runs:
        assert r.started_at is not None and r.finished_at is not None
        spans[r.tenant_id].append((r.started_at, r.finished_at))
    for tenant_spans in spans.values():
        for (_s1, end), (next_start, _e2) in itertools.pairwise(tenant_spans):
            assert end <= next_start, "two runs of one tenant and kind overlapped"
    groups = {_group_of(r.worker) for r in runs}
    assert groups == {w.proc.pid for w in production_stack.workers if w.proc}, \
        "both workers take runs"


def test_a_killed_worker_is_resumed_on_the_other_worker_by_beat(
        production_stack: Stack) -> None:  # noqa: F811
    tenant = Tenant.objects.create(name="Kill", slug="kill")
    run = runner.enqueue(tenant, "test_sleep_first")
    _wait(lambda: JobRun.objects.get(pk=run.pk).status == JobStatus.RUNNING,
          production_stack, 30, "the claim of the run")
    holder = JobRun.objects.get(pk=run.pk).worker
    victim = next(w for w in production_stack.workers
                  if w.proc is not None and w.proc.pid == _group_of(holder))
    victim.kill()  # the whole process group: parent and prefork children
    # Beat ticks every second; the lease is 3 s: the reaper queues it again, and the
    # surviving worker resumes it (the second attempt of this body finishes at once).
    _wait(lambda: JobRun.objects.get(pk=run.pk).status == JobStatus.SUCCEEDED,
          production_stack, 60, "the resumed run's success")
    run.refresh_from_db()
    assert run.attempts == 2
    assert run.result == {"finished_on_attempt": 2}
    assert run.worker != holder
