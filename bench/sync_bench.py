"""Sync engine benchmark: initial sync, incremental sync and reaction export at scale.

Run: ``.venv/bin/python bench/sync_bench.py [--subscribers 100000] [--profile DIR] [--keep]``.

* The Dataverse emulator runs in another process (``--seed bench:N/2``: N/2 contacts, N/10
  accounts, N/10 leads), throttling on, as a real organisation would answer.
* A throw-away SQLite database in a temporary directory (never the dev DB) holds one tenant
  wired to the emulator: catalogue, a default unit, mappings (first/last name for contacts
  and leads, company for accounts), group "Newsletter" (create and link) and group
  "Events" (link only, 5 % of the subscribers).
* Subscribers: half carry the address of a CRM record (60 % contacts, 20 % accounts, 20 %
  leads; 0.5 % of those contact addresses are also on a lead, S7), 2 % repeat another
  subscriber's address in other letter case (S9).
* Each measured phase is one job run in a child process (a worker as Celery would run it),
  so its peak RSS is the worker's own. HTTP figures come from the run's own counters and
  are cross-checked with the emulator's request counter (which also counts token requests).
Seeding is timed and printed but is no part of the phases. Never part of pass/fail.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.util
import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TARGETS = {"initial_round_trips": 700, "incremental_round_trips": 30,
           "reaction_round_trips": 200, "rss_mb": 300, "initial_rate": 2000}
SEED_TIME = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # older than the CRM's seeded records


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup_django(state: Path) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mailworx_crm.settings")
    os.environ["MWX_VAR_DIR"] = str(state)
    os.environ["DATABASE_URL"] = f"sqlite:///{state}/bench.sqlite3"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()


# -- the worker (child process) --------------------------------------------------------------


def worker(run_id: int, profile: str | None) -> None:
    """Run one queued job to its end here and report its time and this process's peak RSS."""
    setup_django(Path(os.environ["MWX_VAR_DIR"]))
    from syncjobs import runner

    started = time.perf_counter()
    if profile:
        import cProfile

        prof = cProfile.Profile()
        status = prof.runcall(runner.execute, run_id)
        prof.dump_stats(profile)
    else:
        status = runner.execute(run_id)
    elapsed = time.perf_counter() - started
    print(json.dumps({"status": status, "seconds": elapsed, "rss_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's own peak RSS. ``getrusage`` would not do: Linux carries the parent's
    high-water mark over fork and exec into ``ru_maxrss``, so a worker started by this
    (large) bench process would report the bench's memory. ``VmHWM`` belongs to the
    process's own address space, which exec replaced."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the emulator ----------------------------------------------------------------------------


class Emulator:
    def __init__(self, state: Path, contacts: int) -> None:
        import requests

        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "dynamics_emulator", "--port", str(self.port), "--seed",
             f"bench:{contacts}", "--state-dir", str(state)],
            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert self.proc.stdout is not None
        self.ca = self.proc.stdout.readline().split(": ", 1)[1].strip()  # "CA certificate: …"
        self.base = f"https://127.0.0.1:{self.port}"
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
        self.session.verify = self.ca
        for _ in range(1200):
            try:
                self.session.get(self.base + "/_admin/orgs", timeout=2)
                return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("the emulator did not start")

    def requests(self) -> int:
        counters = self.session.get(self.base + "/_admin/counters", timeout=30).json()
        return sum(n for key, n in counters.items() if key.startswith("contoso "))

    def dump(self, entity_set: str, flt: str = "") -> list[dict[str, Any]]:
        params = {"$filter": flt} if flt else {}
        resp = self.session.get(f"{self.base}/_admin/contoso/{entity_set}", params=params,
                                timeout=600)
        resp.raise_for_status()
        return list(resp.json()["value"])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(20)


# -- seeding ---------------------------------------------------------------------------------


def seed_tenant(emu: Emulator) -> Any:
    from django.utils import timezone

    from audience.groups import create_group, save_sync_setting
    from audience.services import ensure_standard_fields
    from businessunits.services import create_unit
    from dynamics_emulator import credentials
    from fieldmapping.catalogue import load_catalogue
    from fieldmapping.metadata import attribute_data
    from fieldmapping.models import CrmAttribute
    from fieldmapping.services import MappingInput, save_mapping
    from orgsettings.connection import client_for
    from orgsettings.models import Deployment, OrgSettings, ReactionMode
    from orgsettings.services import save_org_settings
    from tenants.models import Tenant

    tenant = Tenant.objects.create(name="Bench", slug="bench")
    save_org_settings([tenant], {
        "crm_url": f"{emu.base}/contoso", "deployment": Deployment.ONLINE,
        "authority_url": emu.base, "ca_bundle": Path(emu.ca).read_text(),
        "reaction_mode": ReactionMode.ABSOLUTE, "directory_tenant_id": credentials.TENANT_ID,
        "client_id": credentials.CLIENT_ID}, {"client_secret": credentials.CLIENT_SECRET},
        user=None)
    OrgSettings.objects.filter(tenant=tenant).update(check_passed_at=timezone.now())
    fields = {f.key: f for f in ensure_standard_fields(tenant)}
    with client_for(tenant) as client:
        load_catalogue(tenant, {"entities": {
            name: {"attributes": [attribute_data(a) for a in client.entity_attributes(name)]}
            for name in ("contact", "account", "lead")}})
    unit = create_unit(tenant, name="Sales", owner_id="00000000-0000-0000-0000-000000000001",
                       owner_name="Sales", owner_type="team", is_default=True)
    for entity, attribute, key in (("contact", "firstname", "first_name"),
                                   ("contact", "lastname", "last_name"),
                                   ("lead", "firstname", "first_name"),
                                   ("lead", "lastname", "last_name"),
                                   ("account", "name", "company")):
        attr = CrmAttribute.objects.get(tenant=tenant, entity=entity, logical_name=attribute)
        save_mapping(unit, entity, MappingInput(attr, fields[key], None, option_map={}))
    news = create_group(tenant, "Newsletter")
    save_sync_setting(news, entity_type="contact", mode="both")
    events = create_group(tenant, "Events")
    save_sync_setting(events, entity_type="contact", mode="link")
    return tenant, news, events, fields


def crm_people(emu: Emulator, n: int) -> list[dict[str, str]]:
    """CRM addresses for half of the subscribers: 60 % contacts, 20 % accounts, 20 % leads."""
    def pick(entity_set: str, count: int, kind: str) -> list[dict[str, str]]:
        rows = emu.dump(entity_set)[:count]
        out = []
        for r in rows:
            if kind == "account":
                out.append({"email": r["emailaddress1"], "company": r["name"], "kind": kind})
            else:
                out.append({"email": r["emailaddress1"], "first_name": r["firstname"] or "",
                            "last_name": r["lastname"] or "", "kind": kind})
        return out

    half = n // 2
    contacts = pick("contacts", half * 3 // 5, "contact")
    accounts = pick("accounts", half // 5, "account")
    leads = pick("leads", half - len(contacts) - half // 5, "lead")
    # Interleave so every slice of subscribers meets all three tables.
    people: list[dict[str, str]] = []
    pools = [contacts, accounts, leads]
    weights = [3, 1, 1]
    while any(pools):
        for pool, w in zip(pools, weights, strict=True):
            people += [pool.pop() for _ in range(min(w, len(pool)))]
    return people


def seed_crm_overlap(tenant: Any, people: list[dict[str, str]], n: int) -> int:
    """0.5 % of the contact addresses also on a (newer) lead: the contact must win (S7)."""
    from orgsettings.connection import client_for

    contacts = [p for p in people if p["kind"] == "contact"][: max(1, n // 200)]
    with client_for(tenant) as client:
        results = client.create_multiple("leads", "lead", [
            {"emailaddress1": p["email"], "lastname": p["last_name"], "subject": "Overlap"}
            for p in contacts])
    return sum(r.ok for r in results)


def seed_subscribers(tenant: Any, news: Any, events: Any, fields: dict[str, Any],
                     people: list[dict[str, str]], n: int) -> dict[str, int]:
    """Bulk SQL (bulk_create): the services' per-item validation is not what is measured."""
    from django.db import transaction

    from audience.models import GroupMembership, Subscriber, SubscriberValue

    now = dt.datetime.now(dt.UTC)
    specs: list[dict[str, str]] = []
    matched = 0
    for i in range(n):
        if i % 100 in (49, 99):  # 2 %: the address of an earlier subscriber, other case
            twin = dict(specs[i - 1 if i % 100 == 49 else i - 2])
            twin["email"] = twin["email"].upper()
            specs.append(twin)
        elif i % 2 == 0 and people:
            spec = dict(people.pop())
            if i % 200 == 4 and spec["kind"] != "account":
                spec["last_name"] = spec["last_name"] + "-Neu"  # changed in mailworx (S11)
                spec["fresh"] = "1"
            specs.append(spec)
            matched += 1
        else:
            specs.append({"email": f"sub{i}@mailworx-bench.example", "first_name": f"First{i}",
                          "last_name": f"Last{i % 997}", "company": f"Company {i % 301}"})
    with transaction.atomic():
        subs = [Subscriber(tenant=tenant, email=s["email"], email_normalised=s["email"].lower(),
                           language="de" if i % 3 else "en") for i, s in enumerate(specs)]
        Subscriber.objects.bulk_create(subs, batch_size=900)
        values = []
        for sub, spec in zip(subs, specs, strict=True):
            stamp = now if spec.get("fresh") else SEED_TIME
            values.append(SubscriberValue(tenant=tenant, subscriber=sub, field=fields["email"],
                                          value=spec["email"], modified_at=SEED_TIME))
            values.append(SubscriberValue(tenant=tenant, subscriber=sub,
                                          field=fields["language"], value=sub.language,
                                          modified_at=SEED_TIME))
            for key in ("first_name", "last_name", "company"):
                if spec.get(key):
                    values.append(SubscriberValue(
                        tenant=tenant, subscriber=sub, field=fields[key], value=spec[key],
                        modified_at=stamp if key == "last_name" else SEED_TIME))
        SubscriberValue.objects.bulk_create(values, batch_size=900)
        members = []
        for i, sub in enumerate(subs):
            if i % 20 != 3:
                members.append(GroupMembership(group=news, subscriber=sub))
            if i % 20 in (3, 5):
                members.append(GroupMembership(group=events, subscriber=sub))
        GroupMembership.objects.bulk_create(members, batch_size=900)
    return {"subscribers": len(subs), "values": len(values), "memberships": len(members),
            "matched": matched}


def change_both_sides(tenant: Any, changes: int) -> dict[str, int]:
    """``changes`` mapped fields changed in mailworx (through the service) and as many other
    linked records changed in the CRM (UpdateMultiple, as another integration would)."""
    from audience.models import SubscriberValue
    from audience.subscribers import bulk_upsert
    from orgsettings.connection import client_for
    from syncjobs.engine.entities import entity_set
    from syncjobs.sync_models import LinkState, RecordLink

    links = list(RecordLink.objects.filter(tenant=tenant, state=LinkState.ACTIVE)
                 .select_related("subscriber").order_by("pk"))
    step = max(1, len(links) // (2 * changes))
    chosen = links[::step][: 2 * changes]
    mine, theirs = chosen[0::2], chosen[1::2]
    company = {sv.subscriber_id: sv.value for sv in SubscriberValue.objects.filter(
        subscriber_id__in=[link.subscriber_id for link in mine], field__key="company")}
    items = []
    for link in mine:
        key = "company" if link.entity_type == "account" else "last_name"
        base = company.get(link.subscriber_id, "Firma") if key == "company" else "Mailworx"
        items.append({"email": link.subscriber.email, key: f"{base} {link.pk}"})
    results = bulk_upsert(tenant, items)
    updated = sum(1 for r in results if r.outcome == "updated")
    by_entity: dict[str, list[dict[str, Any]]] = {}
    for link in theirs:
        column = "name" if link.entity_type == "account" else "firstname"
        by_entity.setdefault(link.entity_type, []).append(
            {f"{link.entity_type}id": str(link.crm_id), column: f"CRM {link.pk}"})
    crm_ok = 0
    with client_for(tenant) as client:
        for entity, records in by_entity.items():
            crm_ok += sum(r.ok for r in client.update_multiple(entity_set(entity), entity,
                                                               records))
    return {"mailworx": updated, "crm": crm_ok}


def seed_reactions(tenant: Any, news: Any, n: int) -> int:
    from audience.campaigns import create_campaign
    from audience.models import Subscriber
    from audience.reactions import record_reactions
    from businessunits.models import BusinessUnit

    unit = BusinessUnit.objects.get(tenant=tenant, is_default=True)
    ids = list(Subscriber.objects.live().filter(tenant=tenant, crm_links__state="active")
               .values_list("pk", flat=True)[:n])
    at = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    campaigns = [create_campaign(tenant, f"Bench {k}", group=news, business_unit=unit,
                                 sent_at=at, recipients=len(ids)) for k in range(4)]
    kinds = ["open", "open", "click", "open", "bounce"]
    items = []
    for i in range(n):
        kind = kinds[i % len(kinds)]
        items.append({"source_event_id": f"evt-{i}", "kind": kind,
                      "subscriber_id": ids[i % len(ids)],
                      "campaign_id": campaigns[(i // len(ids)) % len(campaigns)].pk,
                      "occurred_at": at + dt.timedelta(seconds=i),
                      "url": "https://example.com/offer" if kind == "click" else "",
                      "bounce_type": "soft" if kind == "bounce" else ""})
    return sum(1 for r in record_reactions(tenant, items) if r.outcome == "created")


# -- phases ----------------------------------------------------------------------------------


def run_job(run_id: int, state: Path, profile_dir: str | None, label: str) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", str(run_id)]
    if profile_dir:
        cmd += ["--profile-out", str(Path(profile_dir) / f"{label}.prof")]
    out = subprocess.run(cmd, cwd=ROOT, env=os.environ.copy(), capture_output=True, text=True,
                         check=False)
    if out.returncode != 0:
        print(out.stdout[-3000:], out.stderr[-3000:])
        raise RuntimeError(f"worker for run {run_id} failed")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def verdict(value: float, limit: float, *, at_least: bool = False) -> str:
    ok = value >= limit if at_least else value <= limit
    return f"{'met' if ok else 'MISSED'} (target {'≥' if at_least else '≤'} {limit:,.0f})"


def report(label: str, emu: Emulator, run: Any, worker_out: dict[str, Any], requests_before: int,
           units: int, unit_name: str, trips_target: int, *, rate_target: int | None = None,
           per: int | None = None) -> None:
    http = run.counters.get("http", {})
    trips, ops = http.get("round_trips", 0), http.get("operations", 0)
    seconds = worker_out["seconds"]
    rate = units / seconds if seconds else 0.0
    per = per or units  # the tenant's subscribers: "per 1,000 subscribers"
    print(f"{label}: run {run.status}, {seconds:.1f} s in the worker = {rate:,.0f} "
          f"{unit_name}/s" + (f" — {verdict(rate, rate_target, at_least=True)}"
                              if rate_target else ""))
    print(f"  HTTP: {trips:,} round trips — {verdict(trips, trips_target)}; {ops:,} operations; "
          f"per 1,000 subscribers: {trips * 1000 / per:.1f} round trips, "
          f"{ops * 1000 / per:,.0f} operations; throttled {http.get('throttled', 0)}, "
          f"retries {http.get('retries', 0)} (emulator saw "
          f"{emu.requests() - requests_before:,} requests incl. sign-in)")
    print(f"  worker peak RSS {worker_out['rss_mb']:.0f} MB — "
          f"{verdict(worker_out['rss_mb'], TARGETS['rss_mb'])}")
    steps = {k: v for k, v in run.counters.items() if k not in ("http",) and isinstance(v, dict)}
    print(f"  counters: {json.dumps(steps, sort_keys=True)}")
    if run.error:
        print(f"  error: {run.error}")


def sync_phase(label: str, tenant: Any, emu: Emulator, state: Path, args: argparse.Namespace,
               units: int, unit_name: str, trips_target: int, *, rate_target: int | None = None,
               per: int | None = None) -> None:
    from syncjobs import runner
    from syncjobs.engine.start import start_sync
    from syncjobs.models import JobRun

    job = start_sync(tenant, "incremental", trigger="manual")
    before = emu.requests()
    out = run_job(job.pk, state, args.profile, label.split()[0])
    report(label, emu, JobRun.objects.get(pk=job.pk), out, before, units, unit_name,
           trips_target, rate_target=rate_target, per=per)
    del runner


def reaction_phase(tenant: Any, news: Any, emu: Emulator, state: Path,
                   args: argparse.Namespace) -> None:
    if importlib.util.find_spec("syncjobs.engine.reactions") is None:
        print("reaction export: unavailable — syncjobs.engine.reactions.run_reaction_export "
              "(JobKind.REACTION_EXPORT, branch 'reactions') is not in this branch yet; "
              "phase skipped")
        return
    from syncjobs import runner
    from syncjobs.models import JobKind, JobRun

    started = time.perf_counter()
    created = seed_reactions(tenant, news, args.reactions)
    print(f"seeded {created:,} reactions in {time.perf_counter() - started:.1f} s")
    job = runner.enqueue(tenant, JobKind.REACTION_EXPORT, trigger="manual")
    before = emu.requests()
    out = run_job(job.pk, state, args.profile, "reactions")
    report("reaction export", emu, JobRun.objects.get(pk=job.pk), out, before, created,
           "reactions", TARGETS["reaction_round_trips"], per=args.subscribers)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--reactions", type=int, default=100_000)
    parser.add_argument("--changes", type=int, default=1000)
    parser.add_argument("--profile", metavar="DIR", help="write a cProfile file per phase")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--profile-out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.profile_out)
        return
    state = Path(tempfile.mkdtemp(prefix="sync-bench-"))
    n = args.subscribers
    print(f"sync bench: {n:,} subscribers, state in {state}")
    t0 = time.perf_counter()
    emu = Emulator(state, n // 2)
    try:
        print(f"emulator up with bench:{n // 2} in {time.perf_counter() - t0:.1f} s")
        setup_django(state)
        from django.core.management import call_command

        from syncjobs import runner

        runner.dispatch = lambda run_id: None  # the bench runs each job in its own worker
        call_command("migrate", verbosity=0)
        t0 = time.perf_counter()
        tenant, news, events, fields = seed_tenant(emu)
        people = crm_people(emu, n)
        overlap = seed_crm_overlap(tenant, people, n)
        counts = seed_subscribers(tenant, news, events, fields, people, n)
        print(f"seeded in {time.perf_counter() - t0:.1f} s: {counts}, {overlap} leads sharing "
              f"a contact's address")

        sync_phase("initial sync", tenant, emu, state, args, n, "subscribers",
                   TARGETS["initial_round_trips"], rate_target=TARGETS["initial_rate"])
        t0 = time.perf_counter()
        changed = change_both_sides(tenant, args.changes)
        print(f"changed {changed} in {time.perf_counter() - t0:.1f} s")
        sync_phase("incremental sync", tenant, emu, state, args, sum(changed.values()),
                   "changes", TARGETS["incremental_round_trips"], per=n)
        check(tenant, emu)
        reaction_phase(tenant, news, emu, state, args)
    finally:
        emu.stop()
        if args.keep:
            print(f"kept {state}")
        else:
            shutil.rmtree(state, ignore_errors=True)


def check(tenant: Any, emu: Emulator) -> None:
    """Plausibility of the end state, so fast figures cannot hide a broken sync."""
    from audience.models import Subscriber
    from syncjobs.sync_models import RecordLink, SyncIssue

    live = Subscriber.objects.live().filter(tenant=tenant).count()
    links = RecordLink.objects.filter(tenant=tenant, state="active").count()
    pending = RecordLink.objects.filter(tenant=tenant, state="pending").count()
    issues = SyncIssue.objects.filter(tenant=tenant, state="open").count()
    mwx_ids = {r["mwx_subscriberid"] for r in emu.dump("contacts", "mwx_subscriberid ne null")}
    print(f"  state: {live:,} live subscribers, {links:,} active links, {pending} pending, "
          f"{issues} open issues, {len(mwx_ids):,} contacts created by the sync")


if __name__ == "__main__":
    main()
