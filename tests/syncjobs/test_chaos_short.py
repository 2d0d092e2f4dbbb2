"""The short chaos run (integration stage): the sync scenario once without faults and once
under every fault at once (emulator faults, a SIGKILLed worker, a Redis restart, an
emulator restart) on PostgreSQL, Redis, two prefork workers and beat; the end states must
not differ in anything (bench/chaos.py prints the figures into the CI log)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_short_chaos_run_ends_all_zeros() -> None:
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        pytest.fail("the chaos run needs PostgreSQL (DATABASE_URL; the integration stage sets it)")
    run = subprocess.run([sys.executable, "bench/chaos.py", "--short"], cwd=ROOT, text=True,
                         capture_output=True, timeout=900, env={**os.environ, "DATABASE_URL": url})
    print(run.stdout[-6000:], run.stderr[-3000:])
    assert run.returncode == 0, "the chaos run differs from the reference (see the output)"
    summary = run.stdout.split("===== chaos summary =====", 1)[1]
    for figure in ("lost", "duplicated", "doubled reactions", "differing fields"):
        assert f"{figure}: 0\n" in summary
    assert "kill at" in summary and "redis at" in summary and "emulator at" in summary
