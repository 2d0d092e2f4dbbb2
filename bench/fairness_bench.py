"""Fairness benchmark: many tenants' syncs at once on a few workers (#24).

Run: ``.venv/bin/python bench/fairness_bench.py [--tenants 10] [--subscribers 500]
[--workers 2] [--server-time off|fast|default]``; the issue's run is ``--tenants 50
--subscribers 2000 --workers 2``.

The production stack as it runs for real: PostgreSQL, Redis, prefork Celery workers (one
process each, so ``--workers`` is the number of syncs that run at once) and the emulator in
its own process. Every tenant has a CRM organisation of its own (``POST /_admin/orgs``,
seeded empty, like contoso), as real customers do, so no tenant's work depends on
another's: each initial sync creates its ``--subscribers`` contacts and its marketing list
in its own organisation. Every tenant's initial sync is started at the same moment, as the
scheduler would after an outage; the script waits for all of them and prints the total
time, how long each tenant waited before its run started (longest, median, 90th
percentile), how long the runs took, the CRM requests, whether the runs started in the
order they were queued, and whether any tenant starved (a run that never started or never
ended within ``--limit``). The comparison is a first-come-first-served queue on
``--workers`` workers fed with the measured run times in queue order: its longest wait is
what a fair queue gives the last tenant. Never part of pass/fail.
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


def wait_for_workers(count: int) -> None:
    """Until every worker answers a ping: a worker's start (Django, the pool) is no wait
    of any tenant."""
    from mailworx_crm.celery import app

    for _ in range(120):
        if len(app.control.ping(timeout=1.0) or []) >= count:
            return
    raise RuntimeError("the Celery workers did not start")


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
        emu = Emulator(state / "emulator", 0, extra=["--server-time", args.server_time])
        t0 = time.monotonic()
        tenants = []
        for i in range(args.tenants):
            slug = f"t{i:02d}"
            emu.create_org(slug)  # the tenant's own CRM organisation, seeded empty
            tenant, news, _events, fields = seed_tenant(emu, f"Tenant {i:02d}", slug, org=slug)
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
        wait_for_workers(args.workers)
        requests0 = emu.requests_by_org()
        print(f"machine load before the runs: {load()}", flush=True)
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
        requests1 = emu.requests_by_org()
        report(done, total, args, {org: n - requests0.get(org, 0)
                                   for org, n in requests1.items()})
    finally:
        for w in workers:
            w.stop()
        if emu is not None:
            emu.stop()
        redis.stop()


def links_per_tenant(tenants: list[Any]) -> dict[str, int]:
    from django.db.models import Count, Q

    from syncjobs.models.sync import LinkState, RecordLink

    counts = dict(RecordLink.objects.filter(tenant__in=tenants).values_list("tenant__slug")
                  .annotate(n=Count("pk", filter=Q(state=LinkState.ACTIVE))))
    return {t.slug: counts.get(t.slug, 0) for t in tenants}


def load() -> str:
    return "/".join(f"{x:.2f}" for x in os.getloadavg()) + " (1/5/15 min)"


def fcfs_waits(took: list[float], workers: int) -> list[float]:
    """Waits of a first-come-first-served queue on ``workers`` workers, runs in queue order."""
    free = [0.0] * workers
    waits = []
    for seconds in took:
        k = free.index(min(free))
        waits.append(free[k])
        free[k] += seconds
    return waits


def report(runs: list[Any], total: float, args: argparse.Namespace,
           requests: dict[str, int]) -> None:
    from syncjobs.models import JobStatus

    runs = sorted(runs, key=lambda r: (r.created_at, r.pk))  # queue order
    started = [r for r in runs if r.started_at is not None]
    finished = [r for r in runs if r.status == JobStatus.SUCCEEDED]
    waits = [(r.started_at - r.created_at).total_seconds() for r in started]
    took = [(r.finished_at - r.started_at).total_seconds() for r in finished
            if r.finished_at is not None and r.started_at is not None]
    print(f"{args.tenants} tenants × {args.subscribers:,} subscribers, {args.workers} workers, "
          f"server time {args.server_time}, one CRM organisation per tenant")
    print(f"  machine load after the runs: {load()}")
    print(f"  total: {total:.1f} s for {len(finished)} of {len(runs)} runs; "
          f"{sum(requests.values()):,} CRM requests")
    for r in runs:
        wait = (r.started_at - r.created_at).total_seconds() if r.started_at else None
        ran = (r.finished_at - r.started_at).total_seconds() \
            if r.finished_at and r.started_at else None
        print(f"    {r.tenant.slug}: {r.status:<9} wait "
              f"{'-' if wait is None else f'{wait:6.1f} s'}, run "
              f"{'-' if ran is None else f'{ran:6.1f} s'}, "
              f"{requests.get(r.tenant.slug, 0):,} requests")
    if waits:
        print(f"  wait before the run started: longest {max(waits):.1f} s, median "
              f"{statistics.median(waits):.1f} s, 90th percentile {percentile(waits, 0.9):.1f} s")
    order = [r.pk for r in sorted(started, key=lambda r: (r.started_at, r.pk))]
    overtaken = sum(1 for i, pk in enumerate(order) if any(o < pk for o in order[i + 1:]))
    print(f"  start order: {overtaken} of {len(started)} runs started before a run queued "
          f"ahead of them")
    if took:
        per_tenant = [requests.get(r.tenant.slug, 0) for r in finished]
        print(f"  run time: median {statistics.median(took):.1f} s, shortest {min(took):.1f} s, "
              f"longest {max(took):.1f} s; CRM requests per tenant: median "
              f"{statistics.median(per_tenant):,.0f}, most {max(per_tenant):,}")
        if len(took) == len(runs):
            ideal = fcfs_waits(took, args.workers)
            print(f"  first-come-first-served on {args.workers} workers with these run times: "
                  f"longest wait {max(ideal):.1f} s, median {statistics.median(ideal):.1f} s; "
                  f"measured minus that, worst tenant: "
                  f"{max(w - i for w, i in zip(waits, ideal, strict=True)):+.1f} s")
    linked = links_per_tenant([r.tenant for r in runs])
    print(f"  end state: CRM records linked per tenant: fewest {min(linked.values()):,}, most "
          f"{max(linked.values()):,} (of {args.subscribers:,} subscribers each)")
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
