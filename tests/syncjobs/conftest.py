from __future__ import annotations

import pytest

from syncjobs import job_bodies
from tests.syncjobs.body_names import TEST_BODIES
from tests.worker_fixtures import worker_env

__all__ = ["worker_env"]


@pytest.fixture(autouse=True)
def _test_bodies(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' own job kinds, registered from outside (the product has no test hook)."""
    for kind, body in TEST_BODIES.items():
        monkeypatch.setitem(job_bodies.BODIES, kind, body)
