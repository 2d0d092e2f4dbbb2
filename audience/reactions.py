"""Recording reactions (opens, clicks, bounces), idempotent by ``source_event_id`` (N1).

The same batch ingested twice stores each reaction once; the second run reports the items
as duplicates. A reaction naming a merged-away subscriber is stored on the survivor (S9).
A hard bounce marks an active subscriber as bounced.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audience.consent import record_many
from audience.models import (
    BounceType,
    Campaign,
    ConsentSource,
    ConsentState,
    Reaction,
    ReactionKind,
    Subscriber,
    SubscriberStatus,
)
from tenants.models import Tenant

CHUNK_SIZE = 1000


class ReactionOutcome(enum.StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    INVALID = "invalid"


@dataclass(frozen=True)
class ReactionResult:
    index: int
    outcome: ReactionOutcome
    message: str = ""


MAX_ID = 2**63 - 1  # the largest primary key the databases store


class _Invalid(ValueError):
    pass


def _parse(item: Mapping[str, Any]) -> Reaction:
    event_id = str(item.get("source_event_id") or "").strip()
    if not event_id or len(event_id) > 200:
        raise _Invalid(_("The event id is missing or longer than 200 characters."))
    kind = str(item.get("kind") or "")
    if kind not in ReactionKind.values:
        raise _Invalid(_("Unknown reaction kind “%(kind)s”.") % {"kind": kind})
    bounce_type = str(item.get("bounce_type") or "")
    url = str(item.get("url") or "")
    if kind == ReactionKind.BOUNCE and bounce_type not in BounceType.values:
        raise _Invalid(_("A bounce needs the bounce type hard or soft."))
    if kind != ReactionKind.BOUNCE and bounce_type:
        raise _Invalid(_("Only bounces have a bounce type."))
    if kind == ReactionKind.CLICK and not url:
        raise _Invalid(_("A click needs the clicked URL."))
    if kind != ReactionKind.CLICK and url:
        raise _Invalid(_("Only clicks have a clicked URL."))
    occurred = item.get("occurred_at")
    try:
        if isinstance(occurred, str):
            occurred = dt.datetime.fromisoformat(occurred)
        if not isinstance(occurred, dt.datetime) or timezone.is_naive(occurred):
            raise ValueError
    except ValueError:
        raise _Invalid(_("The time of the reaction is missing or has no time zone.")) from None
    try:
        subscriber_id, campaign_id = int(item["subscriber_id"]), int(item["campaign_id"])
    except (KeyError, TypeError, ValueError):
        raise _Invalid(_("The subscriber or campaign is missing.")) from None
    if not (0 < subscriber_id <= MAX_ID and 0 < campaign_id <= MAX_ID):
        # Not an id any row can have (and too large for the database to compare).
        raise _Invalid(_("The subscriber or campaign id is not a valid id."))
    return Reaction(source_event_id=event_id, kind=kind, bounce_type=bounce_type, url=url,
                    occurred_at=occurred, subscriber_id=subscriber_id, campaign_id=campaign_id)


def record_reactions(
    tenant: Tenant, items: Iterable[Mapping[str, Any]], *, chunk_size: int = CHUNK_SIZE
) -> list[ReactionResult]:
    """Store new reactions; one result per item, in order."""
    results: list[ReactionResult] = []
    seen: set[str] = set()
    chunk: list[Mapping[str, Any]] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= chunk_size:
            results += _record_chunk(tenant, chunk, len(results), seen)
            chunk = []
    if chunk:
        results += _record_chunk(tenant, chunk, len(results), seen)
    return results


def _record_chunk(
    tenant: Tenant, chunk: list[Mapping[str, Any]], offset: int, seen: set[str]
) -> list[ReactionResult]:
    results: dict[int, ReactionResult] = {}
    parsed: dict[int, Reaction] = {}
    for i, item in enumerate(chunk, start=offset):
        try:
            parsed[i] = _parse(item)
        except _Invalid as exc:
            results[i] = ReactionResult(i, ReactionOutcome.INVALID, str(exc))

    existing = set(Reaction.objects.filter(
        tenant=tenant, source_event_id__in=[r.source_event_id for r in parsed.values()]
    ).values_list("source_event_id", flat=True))
    subscribers = dict(Subscriber.objects.filter(
        tenant=tenant, pk__in={r.subscriber_id for r in parsed.values()}
    ).values_list("pk", "merged_into_id"))
    campaigns = set(Campaign.objects.filter(
        tenant=tenant, pk__in={r.campaign_id for r in parsed.values()}
    ).values_list("pk", flat=True))

    new: list[Reaction] = []
    for i, reaction in parsed.items():
        if reaction.source_event_id in existing or reaction.source_event_id in seen:
            results[i] = ReactionResult(i, ReactionOutcome.DUPLICATE)
            continue
        if reaction.subscriber_id not in subscribers:
            results[i] = ReactionResult(i, ReactionOutcome.INVALID, _("Unknown subscriber."))
            continue
        if reaction.campaign_id not in campaigns:
            results[i] = ReactionResult(i, ReactionOutcome.INVALID, _("Unknown campaign."))
            continue
        reaction.subscriber_id = subscribers[reaction.subscriber_id] or reaction.subscriber_id
        reaction.tenant = tenant
        seen.add(reaction.source_event_id)
        new.append(reaction)
        results[i] = ReactionResult(i, ReactionOutcome.CREATED)

    hard = {r.subscriber_id for r in new
            if r.kind == ReactionKind.BOUNCE and r.bounce_type == BounceType.HARD}
    with transaction.atomic():
        # ignore_conflicts: a concurrent ingest of the same events stores them once.
        Reaction.objects.bulk_create(new, ignore_conflicts=True, batch_size=500)
        if hard:
            # A hard bounce ends the permission and suppresses the address (N6).
            bouncing = Subscriber.objects.filter(
                pk__in=hard, consent__in=ConsentState.with_status(SubscriberStatus.ACTIVE))
            record_many(list(bouncing), ConsentState.BOUNCED, source=ConsentSource.BOUNCE)
    return [results[i] for i in range(offset, offset + len(chunk))]
