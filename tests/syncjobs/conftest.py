from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.db import connection

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


def worker_env(**extra: str) -> dict[str, str]:
    """Environment for a worker process that uses the current test database."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        url = f"sqlite:///{Path(db['NAME']).resolve()}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    import json

    return {**os.environ, "DATABASE_URL": url, "JOB_EXTRA_BODIES": json.dumps(BODIES),
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]), **extra}
