"""Bulk upsert of 100,000 subscribers and ingest of 100,000 reactions through the services,
and bulk upsert of 100,000 subscribers through the REST API (chunks of 1,000 per request).

Run: ``.venv/bin/python bench/audience_bench.py [--subscribers N] [--reactions N]
[--api-subscribers N] [--api-chunk N] [--only-api]``.
Uses a throw-away SQLite database in a temporary directory (or ``DATABASE_URL`` if
``--use-database-url`` is given). Prints rows/s and the process's peak resident memory
(``getrusage``; tracemalloc would slow the measured code several times over). Never part of
pass/fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def rss() -> float:
    """Peak resident set size of this process so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--reactions", type=int, default=100_000)
    parser.add_argument("--use-database-url", action="store_true")
    parser.add_argument("--api-subscribers", type=int, default=100_000)
    parser.add_argument("--api-chunk", type=int, default=1000)
    parser.add_argument("--only-api", action="store_true")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory(prefix="audience-bench-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailworx_crm.settings")
    os.environ["MWX_VAR_DIR"] = tmp.name
    if not args.use_database_url:
        os.environ["DATABASE_URL"] = f"sqlite:///{tmp.name}/bench.sqlite3"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)

    from audience.campaigns import create_campaign
    from audience.groups import create_group
    from audience.models import Reaction, Subscriber, SubscriberValue
    from audience.reactions import ReactionOutcome, record_reactions
    from audience.subscribers import Outcome, bulk_upsert
    from tenants.models import Tenant

    rss_start = rss()
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    if args.only_api:
        api_bench(args.api_subscribers, args.api_chunk)
        tmp.cleanup()
        return
    tenant = Tenant.objects.create(name="Bench", slug="bench")
    group = create_group(tenant, "Everyone")
    n = args.subscribers

    def items(suffix: str) -> list[dict[str, str]]:
        return [{"email": f"user{i}@example.com", "first_name": f"First{i}",
                 "last_name": f"Last{i % 977}{suffix}", "company": f"Company {i % 501}",
                 "language": "de" if i % 3 else "en"} for i in range(n)]

    def run(label: str, payload: list[dict[str, str]]) -> dict[str, int]:
        started = time.perf_counter()
        results = bulk_upsert(tenant, payload, group=group)
        elapsed = time.perf_counter() - started
        counts: dict[str, int] = {}
        for r in results:
            counts[r.outcome] = counts.get(r.outcome, 0) + 1
        print(f"{label}: {n:,} items in {elapsed:.1f} s = {n / elapsed:,.0f} items/s; "
              f"max RSS {rss():.0f} MiB; {counts}")
        return counts

    assert run("bulk upsert, all new      ", items(""))[Outcome.CREATED] == n
    assert run("bulk upsert, all unchanged", items(""))[Outcome.UNCHANGED] == n
    assert run("bulk upsert, 1 field each ", items("x"))[Outcome.UPDATED] == n
    print(f"  rows: {Subscriber.objects.count():,} subscribers, "
          f"{SubscriberValue.objects.count():,} values")

    campaign = create_campaign(tenant, "Bench campaign", recipients=n)
    ids = list(Subscriber.objects.filter(tenant=tenant).values_list("pk", flat=True))
    at = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    kinds = ["open", "open", "click", "open", "bounce"]
    reactions = []
    for i in range(args.reactions):
        kind = kinds[i % len(kinds)]
        reactions.append({
            "source_event_id": f"evt-{i}", "kind": kind, "subscriber_id": ids[i % len(ids)],
            "campaign_id": campaign.pk, "occurred_at": at + dt.timedelta(seconds=i),
            "url": "https://example.com/offer" if kind == "click" else "",
            "bounce_type": "soft" if kind == "bounce" else "",
        })
    for label, expected in (("reaction ingest, new      ", ReactionOutcome.CREATED),
                            ("reaction ingest, repeated ", ReactionOutcome.DUPLICATE)):
        started = time.perf_counter()
        results = record_reactions(tenant, reactions)
        elapsed = time.perf_counter() - started
        assert all(r.outcome == expected for r in results)
        print(f"{label}: {len(reactions):,} items in {elapsed:.1f} s = "
              f"{len(reactions) / elapsed:,.0f} items/s; max RSS {rss():.0f} MiB")
    print(f"  rows: {Reaction.objects.count():,} reactions")
    print(f"process max RSS at the end: {rss():.0f} MiB (includes the benchmark's own input "
          f"lists of 100,000 dicts); before the first upsert: {rss_start:.0f} MiB")
    if args.api_subscribers:
        api_bench(args.api_subscribers, args.api_chunk)
    tmp.cleanup()


def api_bench(n: int, chunk: int) -> None:
    """``POST …/subscribers/bulk-upsert/`` in chunks, through the whole Django stack
    (middleware, token authentication, tenant door, JSON parsing and rendering)."""
    import json

    from django.contrib.auth import get_user_model
    from django.db import reset_queries
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from audience.models import Subscriber
    from tenants.models import Membership, Role, Tenant

    tenant = Tenant.objects.create(name="Bench API", slug="bench-api")
    user = get_user_model().objects.create_user(username="bench@example.com")
    Membership.objects.create(user=user, tenant=tenant, role=Role.ADMINISTRATOR)
    client = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    url = f"/api/v1/tenants/{tenant.slug}/subscribers/bulk-upsert/"

    def run(label: str, suffix: str) -> None:
        counts: dict[str, int] = {}
        started = time.perf_counter()
        for start in range(0, n, chunk):
            body = json.dumps({"items": [
                {"email": f"api{i}@example.com", "first_name": f"First{i}",
                 "last_name": f"Last{i % 977}{suffix}", "company": f"Company {i % 501}",
                 "language": "de" if i % 3 else "en"}
                for i in range(start, min(start + chunk, n))]})
            response = client.post(url, body, content_type="application/json")
            assert response.status_code == 200, response.content[:500]
            for outcome, count in response.json()["counts"].items():
                counts[outcome] = counts.get(outcome, 0) + count
            reset_queries()
        elapsed = time.perf_counter() - started
        print(f"API {label}: {n:,} items in {n // chunk + bool(n % chunk)} requests of "
              f"{chunk:,}, {elapsed:.1f} s = {n / elapsed:,.0f} items/s; "
              f"max RSS {rss():.0f} MiB; {counts}")

    run("bulk upsert, all new      ", "")
    run("bulk upsert, all unchanged", "")
    run("bulk upsert, 1 field each ", "x")
    print(f"  rows: {Subscriber.objects.filter(tenant=tenant).count():,} subscribers")


if __name__ == "__main__":
    main()
