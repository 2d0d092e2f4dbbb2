"""Chaos run (SPEC N1 on the production stack): the same sync scenario twice — once
without faults (the reference), once under every fault at once — and the two end states
compared. Prints lost, duplicated, doubled reactions and differing fields (each must be 0)
and wall time, requests, retries, throttled. Exit status 1 on any difference.

Run: ``make chaos`` or ``.venv/bin/python bench/chaos.py [--short | --long] [--seed N]``.

Each scenario runs in its own process with its own PostgreSQL database, Redis server,
emulator (organisation data on disk) and Celery stack (two prefork workers, each in its
own process group, and beat; leases and the reaper's tick in seconds):

1. seed: ``bench:N`` in the CRM plus salutations, languages, parent accounts and a marked
   static list; a tenant with two synced groups and mappings incl. an option set, a lookup
   and the language; subscribers with 2 % duplicate addresses;
2. a full sync and a reaction export (started by hand, as an operator would);
3. reactions; a reaction export;
4. changes on both sides (mapped fields in mailworx and in the CRM, new subscribers, more
   reactions); an incremental sync and a reaction export;
5. a last incremental sync and reaction export (both runs end settled).

Faults in the chaos run, for its whole length: the emulator's fault injection (10 % 429
with Retry-After, 2 % 503, 1 % dropped connections, random latency on every Web API
request); workers SIGKILLed at random moments (while they hold a run) and restarted; Redis
restarted once (losing what it held); the emulator SIGKILLed and restarted once with its
data kept. A run that fails (e.g. after too many lost workers) is started again, as the
scheduler would; that is counted, not hidden.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from chaos_digest import compare, digest, doubled_reactions  # noqa: E402
from chaos_seed import add_subscribers, seed_crm_values, seed_mappings, seed_reactions  # noqa: E402
from sync_bench_emulator import Emulator  # noqa: E402
from sync_seed import change_both_sides, crm_people, seed_subscribers, seed_tenant  # noqa: E402

from scripts.services import CeleryProcess, RedisServer, beat, fresh_database, postgres, worker  # noqa: E402

SIZES = {  # crm contacts (bench:N), subscribers, reactions, changes, kills
    "short": {"crm": 2000, "subscribers": 2000, "reactions": 3000, "changes": 40, "kills": 1},
    "default": {"crm": 20000, "subscribers": 20000, "reactions": 50000, "changes": 400,
                "kills": 3},
    "long": {"crm": 100000, "subscribers": 20000, "reactions": 50000, "changes": 400,
             "kills": 3},
}
FAULTS = {"seed": 0, "enabled": True, "rules": [
    {"method": "*", "path": r"/api/data/", "p429": 0.10, "p503": 0.02, "pdrop": 0.01,
     "pslow": 0.25, "slow_ms": 400, "retry_after": 1}]}
STACK_ENV = {"JOB_LEASE_SECONDS": "6", "JOB_REAPER_TICK_SECONDS": "2",
             "JOB_QUEUE_STALE_SECONDS": "10", "LOG_LEVEL": "WARNING"}


# -- one scenario (its own process) ----------------------------------------------------------


def setup_django(database_url: str, broker: str, backend: str, state: Path) -> dict[str, str]:
    env = {**os.environ, **STACK_ENV, "DATABASE_URL": database_url,
           "CELERY_BROKER_URL": broker, "CELERY_RESULT_BACKEND": backend,
           "MWX_VAR_DIR": str(state), "DJANGO_SETTINGS_MODULE": "mailworx_crm.settings",
           "PYTHONPATH": str(ROOT),
           # The emulator listens on loopback, which only the operator's allowlist lets
           # through (SPEC N8).
           "CRM_ALLOWED_NETWORKS": "127.0.0.1/32"}
    os.environ.update(env)
    import django

    django.setup()
    return env


class Stack:
    """Two prefork workers and beat; kills go to the worker holding a running job."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.workers = [worker(f"chaos{i}", env, logs, concurrency=2) for i in (1, 2)]
        self.beat = beat(env, logs)

    def start(self) -> None:
        for p in (*self.workers, self.beat):
            p.start()

    def stop(self) -> None:
        for p in (*self.workers, self.beat):
            p.stop()

    def holder_of_a_running_job(self) -> CeleryProcess | None:
        from syncjobs.models import JobRun, JobStatus

        for name in JobRun.objects.filter(status=JobStatus.RUNNING).values_list("worker",
                                                                                flat=True):
            try:
                group = os.getpgid(int(name.rsplit(":", 1)[1]))
            except (ValueError, ProcessLookupError):
                continue
            for w in self.workers:
                if w.proc is not None and w.proc.pid == group:
                    return w
        return None


@dataclass
class Event:
    at: float  # seconds after the first phase started
    kind: str  # kill | redis | emulator


class Chaos(threading.Thread):
    """Carries out the planned events at their moments; a kill waits for a worker that
    holds a running job (up to 20 s), so every kill interrupts real work."""

    def __init__(self, plan: list[Event], stack: Stack, redis: RedisServer, emu: Emulator,
                 faults: dict[str, Any]) -> None:
        super().__init__(daemon=True)
        self.plan, self.stack, self.redis, self.emu, self.faults = plan, stack, redis, emu, faults
        self.started = time.monotonic()
        self.done: list[str] = []
        self.injected: dict[str, int] = {}
        self.requests_before_restart = 0
        self.stopping = threading.Event()

    def run(self) -> None:
        from django.db import connection

        try:
            for event in sorted(self.plan, key=lambda e: e.at):
                if self.stopping.wait(max(0.0, self.started + event.at - time.monotonic())):
                    return
                getattr(self, f"_{event.kind}")()
                self.done.append(f"{event.kind} at {time.monotonic() - self.started:.0f} s")
        finally:
            connection.close()

    def _kill(self) -> None:
        deadline = time.monotonic() + 20
        victim = None
        while victim is None and time.monotonic() < deadline and not self.stopping.is_set():
            victim = self.stack.holder_of_a_running_job()
            time.sleep(0.1)
        victim = victim or random.choice(self.stack.workers)
        victim.kill()
        time.sleep(1.0)
        victim.start()

    def _redis(self) -> None:
        self.redis.restart(down_seconds=2.0)

    def _emulator(self) -> None:
        for key, n in self.emu.injected().items():
            self.injected[key] = self.injected.get(key, 0) + n
        self.requests_before_restart += self.emu.requests()
        self.emu.restart(down_seconds=2.0)
        self.emu.faults(self.faults)


def wait_for(runs: list[Any], restart: Any, limit: float = 3600) -> int:
    """Wait until every run ended; a failed one is started again (as the scheduler would).
    Returns how many were started again."""
    from syncjobs.models import JobStatus

    again = 0
    deadline = time.monotonic() + limit
    pending = list(runs)
    while pending:
        if time.monotonic() > deadline:
            raise RuntimeError(f"runs never ended: {[r.pk for r in pending]}")
        time.sleep(0.5)
        still = []
        for run in pending:
            run.refresh_from_db()
            if run.status in JobStatus.active():
                still.append(run)
            elif run.status != JobStatus.SUCCEEDED:
                print(f"    run {run.pk} ({run.kind}) {run.status}: {run.error[:200]} — "
                      "started again", flush=True)
                again += 1
                still.append(restart(run))
        pending = still
    return again


def start(tenant: Any, what: str) -> Any:
    from syncjobs import runner
    from syncjobs.engine.start import start_sync
    from syncjobs.models import JobKind, JobRun, JobStatus

    for _attempt in range(600):
        try:
            if what == "reactions":
                return runner.enqueue(tenant, JobKind.REACTION_EXPORT, trigger="manual")
            return start_sync(tenant, what, trigger="manual")
        except runner.JobAlreadyActive:
            time.sleep(0.5)  # a run of the kind is still active (a resend of a lost one)
    return JobRun.objects.filter(tenant=tenant, status__in=JobStatus.active()).first()


def phase(label: str, tenant: Any, kinds: list[str], stats: dict[str, Any]) -> None:
    t0 = time.monotonic()
    runs = [start(tenant, k) for k in kinds]
    again = wait_for(runs, lambda r: start(tenant, r.params.get("mode") or (
        "reactions" if r.kind == "reaction_export" else "incremental")))
    stats["restarted_runs"] += again
    print(f"  {label}: {time.monotonic() - t0:.1f} s", flush=True)


def scenario(args: argparse.Namespace) -> None:
    size = SIZES[args.size]
    state = Path(args.state)
    redis = RedisServer()
    redis.start()
    emu: Emulator | None = None
    stack: Stack | None = None
    chaos: Chaos | None = None
    stats: dict[str, Any] = {"restarted_runs": 0}
    try:  # every process this scenario starts is stopped again, whatever fails
        env = setup_django(args.database_url, redis.url, f"{redis.url[:-2]}/1", state)
        from django.core.management import call_command

        from orgsettings.models import OrgSettings
        from syncjobs.models import JobRun

        call_command("migrate", verbosity=0)
        emu = Emulator(state / "emulator", size["crm"], data_dir=state / "emulator-data")
        stack = Stack(env, state)
        t0 = time.monotonic()
        tenant, news, events, fields = seed_tenant(emu)
        # The scheduler must not add runs of its own: the phases start them by hand.
        OrgSettings.objects.filter(tenant=tenant).update(
            sync_interval_minutes=100000, reaction_export_interval_minutes=100000,
            reconcile_interval_hours=100000)
        seed_mappings(tenant)
        crm = seed_crm_values(emu, tenant)
        people = crm_people(emu, size["subscribers"])
        seeded = seed_subscribers(tenant, news, events, fields, people, size["subscribers"])
        print(f"  seeded in {time.monotonic() - t0:.1f} s: {seeded} {crm}", flush=True)
        requests0 = emu.requests()
        stack.start()
        began = time.monotonic()
        if args.faults:
            emu.faults(FAULTS)
            plan = [Event(float(at), kind) for at, kind in json.loads(args.plan)]
            chaos = Chaos(plan, stack, redis, emu, FAULTS)
            chaos.start()
        phase("full sync + reaction export", tenant, ["full", "reactions"], stats)
        n = seed_reactions(tenant, news, size["reactions"])
        phase(f"reaction export of {n:,} reactions", tenant, ["reactions"], stats)
        mine = change_both_sides(tenant, size["changes"])
        late = add_subscribers(tenant, news, size["changes"])
        more = seed_reactions(tenant, news, size["reactions"] // 10, offset=size["reactions"])
        print(f"  changes: {mine}, {late} new subscribers, {more:,} more reactions", flush=True)
        phase("incremental sync + reaction export", tenant, ["incremental", "reactions"], stats)
        if chaos is not None:
            chaos.stopping.set()
            chaos.join()
        if args.faults:
            emu.faults({"enabled": False})
        phase("settling sync + reaction export", tenant, ["incremental", "reactions"], stats)
        wall = time.monotonic() - began
        http: dict[str, float] = {}
        for run in JobRun.objects.filter(tenant=tenant):
            for key, value in (run.counters.get("http") or {}).items():
                if isinstance(value, (int, float)):
                    http[key] = http.get(key, 0) + value
        injected = dict(chaos.injected) if chaos else {}
        for key, value in (emu.injected() if args.faults else {}).items():
            injected[key] = injected.get(key, 0) + value
        state_now = digest(emu, tenant)
        doubled, missing = doubled_reactions(state_now)
        result = {
            "wall_seconds": wall,
            "requests": emu.requests() - requests0 + (chaos.requests_before_restart
                                                      if chaos else 0),
            "http": http, "injected": injected, "stats": stats,
            "events": chaos.done if chaos else [], "doubled": doubled,
            "reactions_missing": missing, "runs": JobRun.objects.filter(tenant=tenant).count(),
            "attempts": sum(JobRun.objects.filter(tenant=tenant).values_list("attempts",
                                                                                flat=True)),
            "digest": state_now,
        }
        Path(args.out).write_text(json.dumps(result, default=str))
    finally:
        if chaos is not None:
            chaos.stopping.set()
        if stack is not None:
            stack.stop()
        if emu is not None:
            emu.stop()
        redis.stop()


# -- the two runs and the comparison ---------------------------------------------------------


def run_scenario(name: str, size: str, server_url: str, workdir: Path, *, faults: bool,
                 plan: list[tuple[float, str]]) -> dict[str, Any]:
    state = workdir / name
    state.mkdir(parents=True)
    database_url = fresh_database(server_url, f"mwx_chaos_{name}")
    out = state / "result.json"
    cmd = [sys.executable, str(Path(__file__).resolve()), "--scenario", name, "--size", size,
           "--database-url", database_url, "--state", str(state), "--out", str(out),
           "--plan", json.dumps(plan)] + (["--faults"] if faults else [])
    print(f"\n{name}: {'every fault at once' if faults else 'no faults'}", flush=True)
    code = subprocess.call(cmd, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if code != 0 or not out.exists():
        for log in sorted(state.glob("*.log")):
            print(f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}")
        raise RuntimeError(f"the {name} scenario failed (exit {code})")
    return dict(json.loads(out.read_text()))


def make_plan(size: str, reference_seconds: float, seed: int) -> list[tuple[float, str]]:
    """Random moments within the first 70 % of the reference's length (a chaos run is
    slower, so every event still falls inside its phases)."""
    rng = random.Random(seed)
    span = max(reference_seconds, 10.0)
    kinds = ["kill"] * SIZES[size]["kills"] + ["redis", "emulator"]
    return sorted((round(rng.uniform(0.05, 0.7) * span, 1), kind) for kind in kinds)


def summary(ref: dict[str, Any], got: dict[str, Any]) -> bool:
    diff = compare(ref["digest"], got["digest"])
    print("\n===== chaos summary =====")
    print(f"events: {', '.join(got['events']) or 'none'}")
    print(f"faults injected by the emulator: {json.dumps(got['injected'], sort_keys=True)}")
    for label, r in (("reference", ref), ("chaos", got)):
        h = r["http"]
        print(f"{label:>9}: wall {r['wall_seconds']:.1f} s, CRM requests served {r['requests']:,}, "
              f"round trips {int(h.get('round_trips', 0)):,}, retries "
              f"{int(h.get('retries', 0)):,}, throttled {int(h.get('throttled', 0)):,}, "
              f"runs {r['runs']} (attempts {r['attempts']}, started again "
              f"{r['stats']['restarted_runs']})")
    figures = {"lost": diff.lost + got["reactions_missing"], "duplicated": diff.duplicated,
               "doubled reactions": diff.doubled, "differing fields": diff.differing}
    for key, value in figures.items():
        print(f"{key:>18}: {value}{'' if value == 0 else '   <-- MUST BE 0'}")
    for line in diff.examples:
        print(f"  {line}")
    if ref["doubled"] or ref["reactions_missing"]:
        print(f"!! the reference itself is off: doubled {ref['doubled']}, "
              f"missing {ref['reactions_missing']}")
    return diff.clean and not got["reactions_missing"] and not ref["doubled"] \
        and not ref["reactions_missing"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--short", action="store_const", dest="size", const="short")
    sizes.add_argument("--long", action="store_const", dest="size", const="long")
    parser.set_defaults(size="default")
    parser.add_argument("--seed", type=int, default=1, help="seed of the events' moments")
    parser.add_argument("--scenario", help=argparse.SUPPRESS)
    parser.add_argument("--size", dest="size", help=argparse.SUPPRESS)
    parser.add_argument("--database-url", help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--plan", default="[]", help=argparse.SUPPRESS)
    parser.add_argument("--faults", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scenario:
        scenario(args)
        return 0
    print(f"chaos run ({args.size}: {json.dumps(SIZES[args.size])}), machine load "
          f"{os.getloadavg()[0]:.2f}", flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="mwx-chaos-"))
    with postgres(port=54369) as server_url:
        ref = run_scenario("reference", args.size, server_url, workdir, faults=False, plan=[])
        plan = make_plan(args.size, ref["wall_seconds"], args.seed)
        got = run_scenario("chaos", args.size, server_url, workdir, faults=True, plan=plan)
    ok = summary(ref, got)
    print(f"machine load at the end {os.getloadavg()[0]:.2f}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
