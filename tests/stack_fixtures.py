"""The production stack for tests of the integration stage: two Celery workers (prefork,
each in its own process group, as two containers would be) and beat, on Redis as broker
and result backend, using the current (PostgreSQL) test database.

Leases and the reaper's tick are seconds, not minutes, so kill-and-resume stays fast.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis as redis_lib

from mailworx_crm.celery import app as celery_app
from scripts.services import CeleryProcess, beat, worker
from tests.worker_fixtures import WITH_TEST_BODIES, _broker_url, _reset_producer_pool, worker_env

LEASE_SECONDS = 3
REAPER_TICK_SECONDS = 1


@dataclass
class Stack:
    workers: list[CeleryProcess]
    beat: CeleryProcess
    env: dict[str, str]
    logs: list[Path] = field(default_factory=list)

    def logs_text(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-4000:]}"
                         for p in self.logs if p.exists())


def _result_backend(broker: str) -> str:
    base, index = broker.rsplit("/", 1)
    return f"{base}/{int(index) + 8}"  # the broker's database + 8: never another worker's


def _wait_until_workers_answer(names: list[str], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        replies = celery_app.control.ping(timeout=1.0) or []
        answered = {name for reply in replies for name in reply}
        if all(any(a.startswith(n + "@") for a in answered) for n in names):
            return
    raise AssertionError(f"the workers {names} never answered a ping")


@pytest.fixture
def production_stack(transactional_db: None, tmp_path: Path) -> Iterator[Stack]:
    if not os.environ.get("REDIS_URL"):
        pytest.fail("the production stack needs Redis (REDIS_URL; the integration stage sets it)")
    broker = _broker_url()
    backend = _result_backend(broker)
    for url in (broker, backend):  # nothing left over from an earlier test
        redis_lib.Redis.from_url(url).flushdb()
    env = worker_env(CELERY_BROKER_URL=broker, CELERY_RESULT_BACKEND=backend,
                     JOB_LEASE_SECONDS=str(LEASE_SECONDS),
                     JOB_REAPER_TICK_SECONDS=str(REAPER_TICK_SECONDS),
                     JOB_QUEUE_STALE_SECONDS=str(LEASE_SECONDS), MWX_VAR_DIR=str(tmp_path))
    saved = (celery_app.conf.broker_url, celery_app.conf.broker_transport_options)
    celery_app.conf.broker_url, celery_app.conf.broker_transport_options = broker, {}
    _reset_producer_pool()
    tag = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    celery = [*WITH_TEST_BODIES, "celery"]  # workers that know the tests' job bodies
    workers = [worker(f"stack{i}-{tag}", env, tmp_path, concurrency=2, prefix=celery)
               for i in (1, 2)]
    scheduler = beat(env, tmp_path, prefix=celery)
    stack = Stack(workers, scheduler, env, [w.log for w in workers] + [scheduler.log])
    try:
        for process in (*workers, scheduler):
            process.start()
        _wait_until_workers_answer([f"stack{i}-{tag}" for i in (1, 2)])
        yield stack
    finally:
        for process in (*workers, scheduler):
            process.stop()
        celery_app.conf.broker_url, celery_app.conf.broker_transport_options = saved
        _reset_producer_pool()
