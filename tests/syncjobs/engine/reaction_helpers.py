"""Shared pieces of the reaction export tests: linked subscribers, reactions, CRM reads."""

from __future__ import annotations

import datetime as dt
import itertools
import uuid
from collections import Counter
from typing import Any

from audience.models import Campaign, Reaction, ReactionKind, Subscriber
from audience.reactions import ReactionOutcome, record_reactions
from audience.subscribers import create_subscriber
from dynamics import DataverseClient
from dynamics_emulator.orgs import stable_id
from mailworx_crm.entity_types import entity_set
from syncjobs import runner
from syncjobs.engine.start import start_reaction_export
from syncjobs.models import JobRun, LinkState, RecordLink
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin

# A real team of the emulator's contoso organisation: binds must name an existing row.
REACTION_TEAM = stable_id("contoso", "team", "Marketing DACH")
START = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
_events = itertools.count(1)
_NAMES = {"contact": {"lastname"}, "account": {"name"}, "lead": {"lastname", "subject"}}


def crm_record(client: DataverseClient, entity: str, email: str) -> str:
    crm_id = str(uuid.uuid4())
    data: dict[str, Any] = {"emailaddress1": email}
    data.update({column: email.split("@")[0] for column in _NAMES[entity]})
    client.create(entity_set(entity), data, id=crm_id)
    return crm_id


def link(sub: Subscriber, entity: str, crm_id: str) -> RecordLink:
    return RecordLink.objects.create(tenant=sub.tenant, subscriber=sub, entity_type=entity,
                                     crm_id=crm_id, state=LinkState.ACTIVE)


def linked_subscriber(tenant: Tenant, client: DataverseClient, email: str,
                      entity: str = "contact") -> Subscriber:
    sub = create_subscriber(tenant, {"email": email})
    link(sub, entity, crm_record(client, entity, email))
    return sub


def reaction(campaign: Campaign, sub: Subscriber, kind: str, *, minute: int = 0,
             url: str = "", bounce_type: str = "") -> dict[str, Any]:
    if kind == ReactionKind.CLICK and not url:
        url = "https://example.com/offer"
    if kind == ReactionKind.BOUNCE and not bounce_type:
        bounce_type = "soft"
    return {"source_event_id": f"evt-{next(_events)}", "kind": kind, "subscriber_id": sub.pk,
            "campaign_id": campaign.pk, "occurred_at": START + dt.timedelta(minutes=minute),
            "url": url, "bounce_type": bounce_type}


def react(tenant: Tenant, items: list[dict[str, Any]]) -> None:
    results = record_reactions(tenant, items)
    assert all(r.outcome == ReactionOutcome.CREATED for r in results), results


def export(tenant: Tenant) -> JobRun:
    """Start a reaction export and run it here; returns the finished run."""
    job = start_reaction_export(tenant, trigger="manual")
    runner.execute(job.pk)
    job.refresh_from_db()
    return job


def activities(client: DataverseClient, flt: str | None = None) -> dict[str, dict[str, Any]]:
    """The CRM's reaction activities by ``mwx_reactionkey``; a duplicate key fails here."""
    rows = list(client.query("mwx_emailreactions", filter=flt))
    keys = Counter(r["mwx_reactionkey"] for r in rows)
    assert all(n == 1 for n in keys.values()), keys
    return {r["mwx_reactionkey"]: r for r in rows}


def expected_counts(tenant: Tenant) -> dict[str, tuple[int, int, int]]:
    """Per ``<campaign>/<subscriber>``: (opens, clicks, bounces) as the database holds them."""
    out: dict[str, list[int]] = {}
    index = {ReactionKind.OPEN: 0, ReactionKind.CLICK: 1, ReactionKind.BOUNCE: 2}
    for campaign_id, subscriber_id, kind in Reaction.objects.filter(tenant=tenant).values_list(
            "campaign_id", "subscriber_id", "kind"):
        out.setdefault(f"{campaign_id}-{subscriber_id}", [0, 0, 0])[index[kind]] += 1
    return {key: (o, c, b) for key, (o, c, b) in out.items()}


def crm_counts(rows: dict[str, dict[str, Any]]) -> dict[str, tuple[int, int, int]]:
    """(opens, clicks, bounces) per activity that holds any reaction."""
    out = {}
    for key, row in rows.items():
        counts = (row["mwx_opens"] or 0, row["mwx_clicks"] or 0, row["mwx_bounces"] or 0)
        if any(counts):
            out[key] = counts
    return out


SOAP_READS = ("RetrieveMultiple", "Retrieve)", "RetrieveEntity", "RetrieveVersion", "WhoAmI",
              "RetrieveUserPrivileges")


def writes(admin: EmulatorAdmin) -> int:
    """Write requests the test organisation answered so far (contoso over the Web API,
    legacy2015 over SOAP, where every call is a POST and reads are named messages)."""
    return sum(n for key, n in admin.counters().items()
               if key.startswith(("contoso ", "legacy2015 "))
               and key.split(" ")[1] in ("POST", "PATCH")
               and not any(f"Execute({read}" in key for read in SOAP_READS))
