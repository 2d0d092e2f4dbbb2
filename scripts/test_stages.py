"""`make test`: lint, then pytest in stages, then one summary.

Stages
  lint         ruff + mypy + import-linter (the design's arrows, pyproject.toml) + the OpenAPI
               schema (drf-spectacular --validate --fail-on-warn)
  unit         the whole suite except browser tests, on SQLite (or DATABASE_URL if set)
  integration  the Django suite again on a throw-away PostgreSQL cluster, with Redis; then
               the production stack (two prefork Celery workers + beat on Redis and
               PostgreSQL) and the short chaos run (bench/chaos.py --short)
  browser      end-to-end tests in real Chromium (Debian package) driven by Playwright

Stages that need system packages install them with apt-get when run as root, and are
otherwise SKIPPED with a loud line in the summary. MWX_REQUIRE_ALL_STAGES=1 (set by CI)
turns any skip into a failure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from services import Skip, apt_install, postgres, redis

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable


@dataclass
class Outcome:
    stage: str
    status: str  # passed | FAILED | SKIPPED
    detail: str = ""


def run(cmd: list[str], env: dict[str, str] | None = None) -> int:
    print(f"\n$ {' '.join(cmd)}", flush=True)
    return subprocess.call(cmd, cwd=ROOT, env={**os.environ, **(env or {})})


def pytest(args: list[str], env: dict[str, str] | None = None) -> int:
    code = run([PY, "-m", "pytest", *args], env)
    return 0 if code == 5 else code  # 5 = nothing collected for this selection


# --- stages -------------------------------------------------------------------------------


def stage_lint() -> None:
    if run([PY, "-m", "ruff", "check", "."]) or run([PY, "-m", "mypy", "."]):
        raise RuntimeError("ruff or mypy reported problems")
    if run([str(Path(PY).parent / "lint-imports"), "--no-cache"]):
        raise RuntimeError("an import breaks the design's contracts (pyproject.toml)")
    if run([PY, "manage.py", "spectacular", "--validate", "--fail-on-warn",
            "--file", os.devnull]):
        raise RuntimeError("the OpenAPI schema has errors or warnings")


def _workers() -> list[str]:
    return ["-n", "2"] if (os.cpu_count() or 1) > 1 else []


def stage_unit() -> None:
    if pytest(["-q", "-m", "not e2e and not integration", *_workers()]):
        raise RuntimeError("unit tests failed")


def stage_integration() -> None:
    with postgres() as database_url, redis() as redis_url:
        env = {"DATABASE_URL": database_url, "REDIS_URL": redis_url,
               "MWX_INTEGRATION": "1"}
        # The emulator's own tests touch no database: they already ran in the unit stage.
        # Parallel like the unit stage: pytest-django gives each worker its own database,
        # tests/worker_fixtures.py each its own Redis database.
        started = time.monotonic()
        if pytest(["-q", "-m", "not e2e and not integration", "--ignore=tests/dynamics_emulator",
                   *_workers()], env):
            raise RuntimeError("integration tests failed on PostgreSQL")
        print(f"--- suite on PostgreSQL + Redis: {time.monotonic() - started:.0f} s", flush=True)
        # The production stack: two prefork workers and beat on Redis (broker and result
        # backend) and PostgreSQL, and the short chaos run; verbose, so the log shows them.
        started = time.monotonic()
        if pytest(["-v", "-s", "-m", "integration", "-p", "no:xdist"],
                  env):
            raise RuntimeError("the production-stack tests or the short chaos run failed")
        print(f"--- production stack and chaos run: {time.monotonic() - started:.0f} s",
              flush=True)


def stage_browser() -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        apt_install("chromium")
        chromium = shutil.which("chromium")
    if chromium is None:
        raise Skip("Debian's chromium is not installed")
    if pytest(["-q", "-m", "e2e", "-p", "no:xdist"], {"MWX_CHROMIUM": chromium}):
        raise RuntimeError("browser tests failed")


STAGES = [
    ("lint", stage_lint),
    ("unit", stage_unit),
    ("integration", stage_integration),
    ("browser", stage_browser),
]


def main(argv: list[str]) -> int:
    wanted = set(argv) or {name for name, _ in STAGES}
    require_all = os.environ.get("MWX_REQUIRE_ALL_STAGES") == "1"
    outcomes: list[Outcome] = []
    for name, stage in STAGES:
        if name not in wanted:
            continue
        print(f"\n===== stage: {name} =====", flush=True)
        started = time.monotonic()
        try:
            stage()
        except Skip as skip:
            outcomes.append(Outcome(name, "SKIPPED", str(skip)))
        except (RuntimeError, subprocess.CalledProcessError) as exc:
            outcomes.append(Outcome(name, "FAILED", str(exc)))
        else:
            outcomes.append(Outcome(name, "passed", f"{time.monotonic() - started:.0f} s"))
    print("\n===== make test summary =====")
    for o in outcomes:
        line = f"{o.stage:<12} {o.status:<8} {o.detail}"
        print(("!!!!! " if o.status != "passed" else "      ") + line)
    failed = [o for o in outcomes if o.status == "FAILED"]
    skipped = [o for o in outcomes if o.status == "SKIPPED"]
    if skipped:
        print(f"!!!!! {len(skipped)} stage(s) SKIPPED — this run did not test everything.")
        if require_all:
            print("!!!!! MWX_REQUIRE_ALL_STAGES=1: a skipped stage is a failure.")
    return 1 if failed or (skipped and require_all) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
