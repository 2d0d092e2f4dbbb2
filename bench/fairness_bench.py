"""Fairness benchmark: many tenants' syncs at once on a few workers (#24).

Run: ``.venv/bin/python bench/fairness_bench.py [--tenants 50] [--subscribers 2000]
[--workers 2] [--server-time off|fast|default]``.

The production stack as it runs for real: PostgreSQL, Redis, prefork Celery workers (one
process each, so ``--workers`` is the number of syncs that run at once) and the emulator in
its own process, all tenants on one organisation (each with its own addresses, so no
tenant's work depends on another's). Every tenant's initial sync is started at the same
moment, as the scheduler would after an outage; the script waits for all of them and
prints the total time, how long each tenant waited before its run started (longest,
median, 90th percentile), how long the runs took, and whether any tenant starved (a run
that never started or never ended). Against an ideal first-come-first-served queue, the
longest wait is (tenants / workers − 1) × the median run. Never part of pass/fail.

Limit: the emulator has one online organisation, so every tenant syncs with the same one.
Each tenant's synced group creates a marketing list marked for mailworx, and every later
tenant adopts the earlier tenants' marked lists (S1) — work no real tenant with its own
organisation would do, growing with the number of tenants before it. The run time per
tenant therefore grows along the queue; the waits still show the queue's order and whether
any tenant starved. The defaults are small for ``make bench``; the issue's 50 × 2,000 is
``--tenants 50 --subscribers 2000``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from sync_bench_emulator import Emulator  # noqa: E402
from sync_seed import seed_tenant  # noqa: E402

from scripts.services import RedisServer, fresh_database, postgres, worker  # noqa: E402

SEED_TIME = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def setup_django(database_url: str, broker: str, state: Path) -> dict[str, str]:
    env = {**os.environ, "DATABASE_URL": database_url, "CELERY_BROKER_URL": broker,
           "CELERY_RESULT_BACKEND": broker[:-2] + "/1", "MWX_VAR_DIR": str(state),
           "DJANGO_SETTINGS_MODULE": "mailworx_crm.settings", "PYTHONPATH": str(ROOT),
           "LOG_LEVEL": "WARNING", "CRM_ALLOWED_NETWORKS": "127.0.0.1/32"}
    os.environ.update(env)
    import django

    django.setup()
    return env


def seed_subscribers(tenant: Any, news: Any, fields: dict[str, Any], n: int) -> None:
    """``n`` subscribers of the tenant's own domain in its synced group (bulk SQL)."""
    from django.db import transaction

    from audience.models import GroupMembership, Subscriber, SubscriberValue

    domain = f"{tenant.slug}.fairness.example"
    with transaction.atomic():
        subs = [Subscriber(tenant=tenant, email=f"s{i}@{domain}",
                           email_normalised=f"s{i}@{domain}", language="de")
                for i in range(n)]
        Subscriber.objects.bulk_create(subs, batch_size=900)
        values = []
        for i, sub in enumerate(subs):
            values += [SubscriberValue(tenant=tenant, subscriber=sub, field=fields["email"],
                                       value=sub.email, modified_at=SEED_TIME),
                       SubscriberValue(tenant=tenant, subscriber=sub, field=fields["last_name"],
                                       value=f"Last{i}", modified_at=SEED_TIME)]
        SubscriberValue.objects.bulk_create(values, batch_size=900)
        GroupMembership.objects.bulk_create(
            [GroupMembership(group=news, subscriber=sub) for sub in subs], batch_size=900)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def run(args: argparse.Namespace, server_url: str, state: Path) -> None:
    redis = RedisServer()
    redis.start()
    emu: Emulator | None = None
    workers: list[Any] = []
    try:
        database_url = fresh_database(server_url, "mwx_fairness")
        env = setup_django(database_url, redis.url, state)
        from django.core.management import call_command

        from orgsettings.models import OrgSettings
        from syncjobs.engine.start import start_sync
        from syncjobs.models import JobRun, JobStatus

        call_command("migrate", verbosity=0)
        emu = Emulator(state / "emulator", 100, extra=["--server-time", args.server_time])
        t0 = time.monotonic()
        tenants = []
        for i in range(args.tenants):
            tenant, news, _events, fields = seed_tenant(emu, f"Tenant {i:02d}", f"t{i:02d}")
            OrgSettings.objects.filter(tenant=tenant).update(
                sync_interval_minutes=100000, reaction_export_interval_minutes=100000,
                reconcile_interval_hours=100000)
            seed_subscribers(tenant, news, fields, args.subscribers)
            tenants.append(tenant)
        print(f"seeded {args.tenants} tenants × {args.subscribers:,} subscribers in "
              f"{time.monotonic() - t0:.1f} s", flush=True)
        workers = [worker(f"fair{i}", env, state, concurrency=1) for i in range(args.workers)]
        for w in workers:
            w.start()
        requests0 = emu.requests()
        began = time.monotonic()
        runs = [start_sync(tenant, "incremental", trigger="manual") for tenant in tenants]
        deadline = began + args.limit
        while JobRun.objects.filter(pk__in=[r.pk for r in runs],
                                    status__in=JobStatus.active()).exists():
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        total = time.monotonic() - began
        done = list(JobRun.objects.filter(pk__in=[r.pk for r in runs]))
        report(done, total, args, emu.requests() - requests0)
    finally:
        for w in workers:
            w.stop()
        if emu is not None:
            emu.stop()
        redis.stop()


def report(runs: list[Any], total: float, args: argparse.Namespace, requests: int) -> None:
    from syncjobs.models import JobStatus

    started = [r for r in runs if r.started_at is not None]
    finished = [r for r in runs if r.status == JobStatus.SUCCEEDED]
    waits = [(r.started_at - r.created_at).total_seconds() for r in started]
    took = [(r.finished_at - r.started_at).total_seconds() for r in finished
            if r.finished_at is not None and r.started_at is not None]
    print(f"{args.tenants} tenants × {args.subscribers:,} subscribers, {args.workers} workers, "
          f"server time {args.server_time}, machine load {os.getloadavg()[0]:.2f}")
    print(f"  total: {total:.1f} s for {len(finished)} of {len(runs)} runs; "
          f"{requests:,} CRM requests")
    if waits:
        print(f"  wait before the run started: longest {max(waits):.1f} s, median "
              f"{statistics.median(waits):.1f} s, 90th percentile {percentile(waits, 0.9):.1f} s")
    if took:
        ideal = (len(runs) / args.workers - 1) * statistics.median(took)
        print(f"  run time: median {statistics.median(took):.1f} s, longest {max(took):.1f} s; "
              f"a first-come-first-served queue would make the last tenant wait about "
              f"{ideal:.1f} s")
    starved = [r.tenant.slug for r in runs if r.status != JobStatus.SUCCEEDED]
    print(f"  starved (never started or never finished): {', '.join(starved) or 'none'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tenants", type=int, default=10)
    parser.add_argument("--subscribers", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--server-time", default="off", choices=["off", "fast", "default"])
    parser.add_argument("--limit", type=float, default=3600, help="give up after (seconds)")
    args = parser.parse_args()
    state = Path(tempfile.mkdtemp(prefix="mwx-fairness-"))
    with postgres(port=54373) as server_url:
        run(args, server_url, state)


if __name__ == "__main__":
    main()
