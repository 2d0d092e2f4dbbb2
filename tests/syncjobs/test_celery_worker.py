"""A real Celery worker process picks up a job through the broker and runs it.

The broker is the filesystem transport (the embedded default) or, in the integration
stage, Redis (REDIS_URL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from mailworx_crm.celery import app as celery_app
from syncjobs import runner
from syncjobs.models import JobRun, JobStatus
from tenants.models import Tenant
from tests.syncjobs.conftest import worker_env

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    url = os.environ.get("REDIS_URL") or "filesystem://"
    options: dict[str, str] = {}
    if url.startswith("filesystem"):
        out, processed = tmp_path / "broker" / "out", tmp_path / "broker" / "processed"
        out.mkdir(parents=True)
        processed.mkdir(parents=True)
        options = {"data_folder_in": str(out), "data_folder_out": str(out),
                   "processed_folder": str(processed)}
    saved = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    celery_app.conf.broker_url = url
    celery_app.conf.broker_transport_options = options
    _reset_producer_pool()
    yield url, options
    celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved
    _reset_producer_pool()


def _reset_producer_pool() -> None:
    # The pool caches connections made with the old broker settings.
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
        celery_app._pool = None


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_queued_job(tenant: Tenant, tmp_path: Path,
                                         broker: tuple[str, dict[str, str]]) -> None:
    url, _options = broker
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "mailworx_crm", "worker", "--pool=solo",
         "--concurrency=1", "--loglevel=WARNING", "--without-mingle", "--without-gossip",
         f"--hostname=test-{os.getpid()}@localhost"],
        cwd=ROOT, env=worker_env(CELERY_BROKER_URL=url, MWX_VAR_DIR=str(tmp_path)),
    )
    try:
        run = runner.enqueue(tenant, "test_succeed")  # autocommit: dispatched at once
        deadline = time.monotonic() + 60
        while JobRun.objects.get(pk=run.pk).status != JobStatus.SUCCEEDED:
            assert worker.poll() is None, "the worker died"
            assert time.monotonic() < deadline, "the worker never ran the job"
            time.sleep(0.2)
        run.refresh_from_db()
        assert run.result["answer"] == 42
        assert run.worker.startswith(os.uname().nodename)
        assert run.worker.split(":")[-1] != str(os.getpid())  # another process ran it
    finally:
        worker.terminate()
        worker.wait(timeout=20)
