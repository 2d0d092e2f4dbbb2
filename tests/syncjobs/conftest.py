from __future__ import annotations

import pytest

from tests.worker_fixtures import worker_env

__all__ = ["BODIES", "worker_env"]

BODIES = {
    "test_succeed": "tests.syncjobs.bodies.succeed",
    "test_fail_readably": "tests.syncjobs.bodies.fail_readably",
    "test_crash": "tests.syncjobs.bodies.crash",
    "test_sleep_first": "tests.syncjobs.bodies.sleep_on_first_attempt",
    "test_sleep_briefly": "tests.syncjobs.bodies.sleep_briefly",
    "test_wait_for_cancel": "tests.syncjobs.bodies.wait_for_cancel",
}


@pytest.fixture(autouse=True)
def _test_bodies(settings: object) -> None:
    settings.JOB_EXTRA_BODIES = BODIES  # type: ignore[attr-defined]
