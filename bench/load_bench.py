"""The web app under load while a sync runs: gunicorn on PostgreSQL, Celery on Redis.

Run: ``.venv/bin/python bench/load_bench.py [--subscribers 20000] [--users 20] [--seconds 60]``.

Everything runs on loopback, every piece real and each in its own process:

* a throw-away PostgreSQL cluster (port 54339, ``scripts/services.py``) and a Redis server
  (broker, result backend, cache);
* the Dataverse emulator (``sync_bench_emulator.Emulator``, ``--seed bench:N/2``);
* gunicorn serving ``mailworx_crm.wsgi:application`` (sync workers), Celery workers (prefork)
  and beat, all with ``MWX_MODE=production`` (generated secrets; the TLS proxy is stood in
  for by ``X-Forwarded-Proto``, see ``load_users.py``);
* locust, headless, in its own process (``load_users.py``): a fixed number of users for a
  fixed time on the runs page, the subscriber list (paging) and the reactions ingest endpoint.

The tenant is seeded as in ``sync_bench.py`` (``sync_seed.py``) and has never synced; its
initial sync is started just before the load, so the load meets a worker writing to the same
tables. Printed: per endpoint requests, p50/p99 latency, error rate and 5xx count (target:
no 5xx), the sync's end and status, and the machine's load average. Never part of pass/fail.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))  # the helper modules next to this script
sys.path.insert(0, str(ROOT / "scripts"))  # services.py

from services import (  # noqa: E402
    RedisServer,
    beat,
    free_port,
    fresh_database,
    postgres,
    wait_for_port,
)
from services import worker as celery_worker  # noqa: E402
from sync_bench_emulator import Emulator  # noqa: E402

PG_PORT = 54339  # not make test's 54329
USERNAME = "load-admin"
ENDPOINTS = ("runs page", "subscriber list", "reactions ingest")


def loadavg() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def stack_env(state: Path, database_url: str, redis_base: str) -> dict[str, str]:
    """The environment of gunicorn, the workers, beat and this process (for seeding)."""
    from cryptography.fernet import Fernet

    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "mailworx_crm.settings",
        # Production settings: no DEBUG, secure cookies, JSON-only API, manifest static
        # files, CRM calls in a transaction logged rather than refused.
        "MWX_MODE": "production",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SECURE_SSL_REDIRECT": "false",  # the TLS proxy would redirect; loopback has none
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": f"{redis_base}/0",
        "CELERY_RESULT_BACKEND": f"{redis_base}/2",
        "CACHE_URL": f"{redis_base.replace('redis://', 'rediscache://')}/1",
        # The emulator listens on loopback, which only the operator's allowlist lets
        # through (SPEC N8, docs/security.md).
        "CRM_ALLOWED_NETWORKS": "127.0.0.1/32",
        "MWX_VAR_DIR": str(state / "var"),
        "STATIC_ROOT": str(state / "static"),
        "LOG_LEVEL": "WARNING",
    }


class Gunicorn:
    """gunicorn in its own process group, logging to a file."""

    def __init__(self, env: dict[str, str], log: Path, workers: int) -> None:
        self.port = free_port()
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "gunicorn", "mailworx_crm.wsgi:application",
                 "--bind", f"127.0.0.1:{self.port}", "--workers", str(workers),
                 "--timeout", "60", "--error-logfile", "-",
                 "--access-logfile", str(log.with_name("access.log"))],
                cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        wait_for_port(self.port, timeout=60)

    def stop(self) -> None:
        self.proc.terminate()  # the master stops its workers gracefully
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)


def seed(emu: Emulator, n: int, password: str) -> dict[str, Any]:
    """Tenant and subscribers as sync_bench seeds them; the admin, the token, campaigns."""
    import datetime as dt

    from django.contrib.auth import get_user_model
    from sync_seed import crm_people, seed_crm_overlap, seed_subscribers, seed_tenant

    from audience.campaigns import create_campaign
    from audience.models import Subscriber
    from businessunits.models import BusinessUnit
    from tenants.accounts import issue_token
    from tenants.models import Membership, Role

    tenant, news, events, fields = seed_tenant(emu)
    people = crm_people(emu, n)
    seed_crm_overlap(tenant, people, n)
    counts = seed_subscribers(tenant, news, events, fields, people, n)
    user = get_user_model().objects.create_user(USERNAME, "load-admin@example.com", password)
    Membership.objects.create(user=user, tenant=tenant, role=Role.ADMINISTRATOR)
    _token, secret = issue_token(user, name="load bench")
    unit = BusinessUnit.objects.get(tenant=tenant, is_default=True)
    sent = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    campaigns = [create_campaign(tenant, f"Load {k}", group=news, business_unit=unit,
                                 sent_at=sent, recipients=n) for k in range(3)]
    ids = list(Subscriber.objects.live().filter(tenant=tenant).order_by("?")
               .values_list("pk", flat=True)[:5000])
    return {"tenant": tenant, "counts": counts, "token": secret,
            "campaign_ids": [c.pk for c in campaigns], "subscriber_ids": ids}


def wait_for_worker(timeout: float = 90.0) -> None:
    from mailworx_crm.celery import app

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if app.control.ping(timeout=1.0):
            return
    raise RuntimeError("no Celery worker answered a ping")


def percentile(sorted_times: list[float], q: float) -> float:
    if not sorted_times:
        return 0.0
    k = min(len(sorted_times) - 1, max(0, round(q * (len(sorted_times) - 1))))
    return sorted_times[k]


def report(stats: dict[str, dict[str, Any]], seconds: float, load_started: float,
           sync_end: float | None) -> int:
    """The per-endpoint table (split at ``sync_end``, the epoch second the sync ended);
    returns the number of 5xx answers."""
    print(f"\n{'endpoint':<18} {'requests':>8} {'req/s':>6} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'max ms':>8} {'errors':>7} {'5xx':>4}")
    # The logins (PBKDF2 password checks) hold the web workers at the start; the windows
    # show the requests started after the last login, during and after the sync.
    logins = stats.get("login (post)", {"times": [], "starts": []})
    logged_in = max((at + t / 1000 for t, at in zip(logins["times"], logins["starts"],
                                                      strict=True)), default=0.0)
    end = sync_end or float("inf")
    windows = [("logged in, while the sync ran", logged_in, end),
               ("logged in, after the sync", max(logged_in, end), float("inf"))]
    total_5xx = 0
    names = [*ENDPOINTS, *sorted(set(stats) - set(ENDPOINTS))]
    for name in names:
        row = stats.get(name)
        if row is None:
            print(f"{name:<18} {'0':>8}")
            continue
        times = sorted(row["times"])
        n = len(times)
        server_errors = sum(c for s, c in row["statuses"].items() if int(s) >= 500)
        total_5xx += server_errors
        rate = f"{n / seconds:6.1f}" if name in ENDPOINTS else f"{'':>6}"
        print(f"{name:<18} {n:>8,} {rate} {percentile(times, 0.5):>8.0f} "
              f"{percentile(times, 0.99):>8.0f} {times[-1]:>8.0f} "
              f"{row['failures'] / n:>7.2%} {server_errors:>4}")
        if name in ENDPOINTS:
            for label, since, until in windows:
                part = sorted(t for t, at in zip(row["times"], row["starts"], strict=True)
                              if since <= at < until)
                if part:
                    print(f"    {label:<32} {len(part):>6,} {'':>6} "
                          f"{percentile(part, 0.5):>8.0f} {percentile(part, 0.99):>8.0f} "
                          f"{part[-1]:>8.0f}")
        for message, count in sorted(row.get("errors", {}).items(), key=lambda kv: -kv[1])[:5]:
            print(f"    {count}× {message}")
    if logins["times"]:
        print(f"(the last of the {len(logins['times'])} logins ended "
              f"{logged_in - load_started:+.1f} s after the load started)")
    statuses: dict[str, int] = {}
    for row in stats.values():
        for s, c in row["statuses"].items():
            statuses[s] = statuses.get(s, 0) + c
    print(f"status codes: {json.dumps(dict(sorted(statuses.items())))}")
    return total_5xx


def sync_outcome(run_id: int, load_started: float, wait: float) -> float | None:
    """Wait for the sync, print its end and status; when it ended (epoch seconds)."""
    from syncjobs.models import JobRun, JobStatus

    deadline = time.monotonic() + wait
    run = JobRun.objects.get(pk=run_id)
    while run.status in JobStatus.active() and time.monotonic() < deadline:
        time.sleep(2)
        run = JobRun.objects.get(pk=run_id)
    if run.finished_at is None:
        print(f"sync run {run.pk}: still {run.status} {wait:.0f} s after the load ended "
              f"(progress {run.progress_done:,}/{run.progress_total:,})")
        return None
    started = run.started_at.timestamp() - load_started if run.started_at else float("nan")
    ended = run.finished_at.timestamp() - load_started
    http = run.counters.get("http", {})
    print(f"sync run {run.pk}: {run.status}; started {started:+.1f} s, ended {ended:+.1f} s "
          f"after the load started ({ended - started:.1f} s); attempts {run.attempts}; "
          f"{http.get('round_trips', 0)} round trips, throttled {http.get('throttled', 0)}")
    if run.error:
        print(f"  error: {run.error}")
    return float(run.finished_at.timestamp())


def access_log(log: Path) -> None:
    """Cross-check from gunicorn's side: requests, status classes, pages past the first."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    classes: dict[str, int] = {}
    for ln in lines:
        parts = ln.split('" ')
        code = parts[1].split()[0] if len(parts) > 1 and parts[1].split() else "?"
        classes[code[:1] + "xx"] = classes.get(code[:1] + "xx", 0) + 1
    paged = sum("/subscribers/?before=" in ln for ln in lines)
    by_class = json.dumps(dict(sorted(classes.items())))
    print(f"gunicorn access log: {len(lines):,} requests {by_class}, {paged:,} of them "
          "subscriber-list pages past the first")


def log_trouble(logs: list[Path]) -> None:
    """Tracebacks, errors and worker timeouts in the server-side logs."""
    for log in logs:
        if not log.exists():
            continue
        lines = log.read_text(errors="replace").splitlines()
        bad = [ln for ln in lines if any(w in ln for w in (
            "Traceback", " ERROR ", "CRITICAL", "WORKER TIMEOUT", "[ERROR]"))]
        print(f"{log.name}: {len(lines)} lines, {len(bad)} with errors")
        for ln in bad[:5]:
            print(f"    {ln[:200]}")


def run(args: argparse.Namespace, state: Path, stack: ExitStack) -> None:
    n = args.subscribers
    print(f"load bench: {n:,} subscribers, {args.users} users for {args.seconds} s, "
          f"{args.web_workers} gunicorn workers, {args.celery_workers} Celery worker(s) × "
          f"{args.concurrency}; state in {state}")
    print(f"machine load (1/5/15 min) at start: {loadavg()}")
    t0 = time.perf_counter()
    server = stack.enter_context(postgres(port=PG_PORT))
    database_url = fresh_database(server, "load_bench")
    redis = RedisServer()
    redis.start()
    stack.callback(redis.stop)
    emu = Emulator(state, n // 2)
    stack.callback(emu.stop)
    env = stack_env(state, database_url, f"redis://127.0.0.1:{redis.port}")
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)
    password = secrets.token_urlsafe(16)
    seeded = seed(emu, n, password)
    tenant = seeded["tenant"]
    print(f"stack up and seeded in {time.perf_counter() - t0:.1f} s: {seeded['counts']}")

    logs = state / "logs"
    logs.mkdir()
    web = Gunicorn(env, logs / "gunicorn.log", args.web_workers)
    stack.callback(web.stop)
    for k in range(args.celery_workers):
        w = celery_worker(f"load{k}", env, logs, concurrency=args.concurrency)
        w.start()
        stack.callback(w.stop)
    b = beat(env, state)
    b.start()
    stack.callback(b.stop)
    wait_for_worker()

    from django.db import connection

    from syncjobs.engine.start import start_sync

    config = state / "load.json"
    config.write_text(json.dumps({
        "base": f"http://127.0.0.1:{web.port}", "hostport": f"127.0.0.1:{web.port}",
        "slug": tenant.slug, "username": USERNAME, "password": password,
        "token": seeded["token"], "campaign_ids": seeded["campaign_ids"],
        "subscriber_ids": seeded["subscriber_ids"], "users": args.users,
        "seconds": args.seconds, "batch": args.batch, "think": args.think,
        "run": secrets.token_hex(4)}))
    job = start_sync(tenant, "incremental")
    connection.close()  # no idle connection held open across the load
    print(f"sync run {job.pk} queued (initial sync of a tenant that never synced); "
          f"machine load at load start: {loadavg()}")
    load_started = time.time()
    locust_log = stack.enter_context((logs / "locust.log").open("wb"))
    load = subprocess.Popen([sys.executable, str(ROOT / "bench" / "load_users.py"),
                             str(config)], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=locust_log, text=True)
    stack.callback(lambda: load.poll() is None and load.kill())
    out, _ = load.communicate(timeout=args.seconds + 120)
    load_seconds = time.time() - load_started
    print(f"load ended after {load_seconds:.1f} s; machine load at load end: {loadavg()}")
    if load.returncode != 0 or not out.strip():
        print((logs / "locust.log").read_text()[-3000:])
        raise RuntimeError(f"the load process failed (exit {load.returncode})")
    stats = json.loads(out.strip().splitlines()[-1])
    sync_end = sync_outcome(job.pk, load_started, args.sync_wait)
    errors_5xx = report(stats, args.seconds, load_started, sync_end)
    print(f"5xx: {errors_5xx} — {'met' if errors_5xx == 0 else 'MISSED'} (target: none)")
    access_log(logs / "access.log")
    log_trouble([logs / "gunicorn.log", *sorted(logs.glob("load*.log")), state / "beat.log"])
    print(f"machine load at the end: {loadavg()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=20, help="simulated people (locust users)")
    parser.add_argument("--seconds", type=int, default=60, help="length of the load")
    parser.add_argument("--think", type=float, default=1.0,
                        help="mean pause between one user's requests, seconds")
    parser.add_argument("--batch", type=int, default=50, help="reactions per ingest call")
    parser.add_argument("--web-workers", type=int, default=3, help="gunicorn sync workers")
    parser.add_argument("--celery-workers", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=2, help="per Celery worker")
    parser.add_argument("--sync-wait", type=float, default=600.0,
                        help="how long to wait for the sync after the load, seconds")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    # Ctrl-C and SIGTERM unwind the stack, so every process started here is stopped (a
    # shell starting this in the background would otherwise have it ignore SIGINT).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    state = Path(tempfile.mkdtemp(prefix="load-bench-"))
    try:
        with ExitStack() as stack:
            try:
                run(args, state, stack)
            except (KeyboardInterrupt, SystemExit):
                print("interrupted: stopping every process this bench started", flush=True)
                raise
    finally:
        if args.keep:
            print(f"kept {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(130)
