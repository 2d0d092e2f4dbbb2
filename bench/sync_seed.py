"""Seeding for ``sync_bench.py``: the tenant, the CRM side, the subscribers and the changes
of the incremental phase (bulk inserts and the emulator's bulk messages; not measured)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sync_bench_emulator import Emulator

SEED_TIME = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)  # older than the CRM's seeded records


# -- seeding ---------------------------------------------------------------------------------


def seed_tenant(emu: Emulator, name: str = "Bench", slug: str = "bench",
                org: str | None = None) -> Any:
    """The tenant wired to the emulator's organisation ``org`` (default: the bench's
    ``emu.org``; one per tenant in the fairness bench, as for real customers)."""
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

    tenant = Tenant.objects.create(name=name, slug=slug)
    org = org or emu.org
    common = {"crm_url": f"{emu.base}/{org}", "authority_url": emu.base,
              "ca_bundle": Path(emu.ca).read_text(), "reaction_mode": ReactionMode.ABSOLUTE}
    if not org.startswith("legacy"):
        save_org_settings([tenant], {
            **common, "deployment": Deployment.ONLINE,
            "directory_tenant_id": credentials.TENANT_ID, "client_id": credentials.CLIENT_ID},
            {"client_secret": credentials.CLIENT_SECRET}, user=None)
    else:  # an on-premise organisation (legacy2015: the Organization Service, NTLM)
        domain, user, password = credentials.NTLM_USERS[0]
        save_org_settings([tenant], {**common, "deployment": Deployment.ON_PREMISE,
                                     "onprem_username": f"{domain}\\{user}"},
                          {"onprem_password": password}, user=None)
    # As the integration check would have found (orgsettings/checks.py).
    OrgSettings.objects.filter(tenant=tenant).update(
        check_passed_at=timezone.now(), sync_started_at=timezone.now(),
        crm_protocol="soap" if org.startswith("legacy") else "webapi")
    fields = {f.key: f for f in ensure_standard_fields(tenant)}
    with client_for(tenant) as client:
        load_catalogue(tenant, {"entities": {
            name: {"attributes": [attribute_data(a) for a in client.entity_attributes(name)]}
            for name in ("contact", "account", "lead")}})
        # The reaction owner must be a real team of the CRM (the owner picker's choice).
        team = next(iter(client.query("teams", select=["teamid", "name"], top=1)))
    unit = create_unit(tenant, name="Sales", owner_id=str(team["teamid"]),
                       owner_name=str(team["name"]), owner_type="team", is_default=True)
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
    # Configured before the first sync, like the subscribers (see ``_seed_chunk``): a
    # setting saved within match's overlap makes the next run look its group up afresh.
    from audience.models import GroupSyncSetting
    GroupSyncSetting.objects.filter(group__tenant=tenant).update(updated_at=SEED_TIME)
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


SEED_CHUNK = 20_000  # subscribers per transaction: seeding memory stays flat at any size


def seed_subscribers(tenant: Any, news: Any, events: Any, fields: dict[str, Any],
                     people: list[dict[str, str]], n: int) -> dict[str, int]:
    """Bulk SQL in chunks: the services' per-item validation is not what is measured."""
    counts = {"subscribers": 0, "values": 0, "memberships": 0, "matched": 0}
    for start in range(0, n, SEED_CHUNK):
        for key, value in _seed_chunk(tenant, news, events, fields, people, start,
                                      min(n, start + SEED_CHUNK)).items():
            counts[key] += value
    return counts


def _specs(people: list[dict[str, str]], start: int, stop: int) -> tuple[list[dict[str, str]],
                                                                          int]:
    specs: list[dict[str, str]] = []
    matched = 0
    for i in range(start, stop):
        if i % 100 in (49, 99):  # 2 %: the address of an earlier subscriber, other case
            twin = dict(specs[i - start - 1 if i % 100 == 49 else i - start - 2])
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
    return specs, matched


def _seed_chunk(tenant: Any, news: Any, events: Any, fields: dict[str, Any],
                people: list[dict[str, str]], start: int, stop: int) -> dict[str, int]:
    from django.db import transaction

    from audience.models import GroupMembership, Subscriber, SubscriberValue

    now = dt.datetime.now(dt.UTC)
    specs, matched = _specs(people, start, stop)  # chunks start at multiples of 100 (twins)
    with transaction.atomic():
        subs = [Subscriber(tenant=tenant, email=s["email"], email_normalised=s["email"].lower(),
                           language="de" if i % 3 else "en")
                for i, s in enumerate(specs, start)]
        Subscriber.objects.bulk_create(subs, batch_size=900)
        # An existing tenant: its subscribers and memberships predate the first sync, as
        # its values do. Created "now", every one would fall within match's overlap for
        # late commits (five minutes before the last run) and be looked up again by the
        # incremental run — a cost of the seeding, not of the changes measured.
        Subscriber.objects.filter(pk__in=[sub.pk for sub in subs]).update(created_at=SEED_TIME)
        values = []
        for sub, spec in zip(subs, specs, strict=True):
            stamp = now if spec.get("fresh") else SEED_TIME
            values.append((tenant.pk, sub.pk, fields["email"].pk, spec["email"], SEED_TIME))
            values.append((tenant.pk, sub.pk, fields["language"].pk, sub.language, SEED_TIME))
            for key in ("first_name", "last_name", "company"):
                if spec.get(key):
                    values.append((tenant.pk, sub.pk, fields[key].pk, spec[key],
                                   stamp if key == "last_name" else SEED_TIME))
        fast_insert(SubscriberValue, ["tenant", "subscriber", "field", "value", "modified_at"],
                    values)
        members = []
        for i, sub in enumerate(subs, start):
            if i % 20 != 3:
                members.append((news.pk, sub.pk, SEED_TIME))
            if i % 20 in (3, 5):
                members.append((events.pk, sub.pk, SEED_TIME))
        fast_insert(GroupMembership, ["group", "subscriber", "added_at"], members)
    return {"subscribers": len(subs), "values": len(values), "memberships": len(members),
            "matched": matched}


def fast_insert(model: Any, names: list[str], rows: list[tuple[Any, ...]]) -> None:
    """``INSERT`` rows with one ``executemany`` (``bulk_create`` compiles every field of
    every object, most of the seeding's time at a million subscribers)."""
    from django.db import connection

    fields = [model._meta.get_field(name) for name in names]
    qn = connection.ops.quote_name
    # Identifiers from the model only; every value is a parameter.
    sql = (f"INSERT INTO {qn(model._meta.db_table)} "
           f"({', '.join(qn(f.column) for f in fields)}) "
           f"VALUES ({', '.join(['%s'] * len(fields))})")
    prepared = [[f.get_db_prep_save(v, connection) for f, v in zip(fields, row, strict=True)]
                for row in rows]
    with connection.cursor() as cursor:
        cursor.executemany(sql, prepared)


def change_both_sides(tenant: Any, changes: int) -> dict[str, int]:
    """``changes`` mapped fields changed in mailworx (through the service) and as many other
    linked records changed in the CRM (UpdateMultiple, as another integration would)."""
    from audience.models import SubscriberValue
    from audience.subscribers import bulk_upsert
    from mailworx_crm.entity_types import entity_set
    from orgsettings.connection import client_for
    from syncjobs.models.sync import LinkState, RecordLink

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


