"""A real Celery worker process for tests, on the filesystem broker (or Redis in the
integration stage, REDIS_URL), using the current test database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.db import connection
from kombu import pools as kombu_pools

from mailworx_crm.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[1]
# A worker process with the tests' job bodies registered (tests/with_test_bodies.py).
WITH_TEST_BODIES = [sys.executable, "-m", "tests.with_test_bodies"]


def worker_env(**extra: str) -> dict[str, str]:
    """Environment for another process that must use the current test database."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{Path(db['NAME']).resolve()}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT),
            **extra}


def _broker_url() -> str:
    """Redis in the integration stage — a database of its own per pytest-xdist worker, so
    parallel test processes never take each other's messages — else the filesystem."""
    url = os.environ.get("REDIS_URL")
    if not url:
        return "filesystem://"
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = 1 + int(worker.removeprefix("gw") or 0)
    return f"{url.rsplit('/', 1)[0]}/{index}"


def _reset_producer_pool() -> None:
    # The pool caches connections made with the old broker settings.
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
        celery_app._pool = None
    # The producer pool wraps the connection pool: drop it too, or a second worker test in
    # the same process acquires from the closed pool ("Acquire on closed pool"). kombu also
    # keeps producer pools per broker URL in a process-wide registry: empty that as well.
    celery_app.amqp._producer_pool = None
    kombu_pools.reset()


@pytest.fixture
def celery_worker_process(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Start a worker; this process's Celery app sends to the same broker meanwhile."""
    url = _broker_url()
    options: dict[str, str] = {}
    if url.startswith("filesystem"):
        out, processed = tmp_path / "broker" / "out", tmp_path / "broker" / "processed"
        control = tmp_path / "broker" / "control"
        for folder in (out, processed, control):
            folder.mkdir(parents=True)
        options = {"data_folder_in": str(out), "data_folder_out": str(out),
                   "processed_folder": str(processed), "control_folder": str(control)}
    saved = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    celery_app.conf.broker_url = url
    celery_app.conf.broker_transport_options = options
    _reset_producer_pool()
    worker = subprocess.Popen(
        [*WITH_TEST_BODIES, "celery", "-A", "mailworx_crm", "worker", "--pool=solo",
         "--concurrency=1", "--loglevel=WARNING", "--without-mingle", "--without-gossip",
         f"--hostname=test-{os.getpid()}@localhost"],
        cwd=ROOT, env=worker_env(CELERY_BROKER_URL=url, MWX_VAR_DIR=str(tmp_path)),
    )
    try:
        yield worker
    finally:
        worker.terminate()
        worker.wait(timeout=20)
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved
        _reset_producer_pool()
