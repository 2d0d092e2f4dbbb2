"""A real Celery worker process picks up a job through the broker and runs it.

The broker is the filesystem transport (the embedded default) or, in the integration
stage, Redis (REDIS_URL)."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from syncjobs import runner
from syncjobs.models import JobRun, JobStatus
from tenants.models import Tenant
from tests.worker_fixtures import celery_worker_process  # noqa: F401


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_queued_job(
    tenant: Tenant, celery_worker_process: subprocess.Popen[bytes]  # noqa: F811
) -> None:
    run = runner.enqueue(tenant, "test_succeed")  # autocommit: dispatched at once
    deadline = time.monotonic() + 60
    while JobRun.objects.get(pk=run.pk).status != JobStatus.SUCCEEDED:
        assert celery_worker_process.poll() is None, "the worker died"
        assert time.monotonic() < deadline, "the worker never ran the job"
        time.sleep(0.2)
    run.refresh_from_db()
    assert run.result["answer"] == 42
    assert run.worker.startswith(os.uname().nodename)
    assert run.worker.split(":")[-1] != str(os.getpid())  # another process ran it
