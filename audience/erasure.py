"""Erasure (GDPR Art. 17) of a person's data on the mailworx side.

What goes: the subscriber rows (every live subscriber with the address, and the
tombstones merged into them, S9), their field values, group memberships, reactions and
consent history. What stays: the address's entry on the suppression list, as a keyed hash
only (``audience.consent``), so the address is never added again (N6).

Reactions go with their subscriber: a reaction says who opened or clicked which mailing,
so it is personal data as a whole; the campaign figures already written to the CRM are
aggregates and stay. The engine's own copies (record links, sync issues, run logs) are the
sync app's to scrub (``syncjobs.erasure``), which calls this module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audience.consent import purge_events, suppress
from audience.models import (
    ConsentEvent,
    Subscriber,
    SubscriberValue,
    SuppressionReason,
)


@dataclass(frozen=True)
class Erased:
    """What was erased; ``addresses`` and ``values`` stay in memory only, for the caller
    to find and scrub copies of them elsewhere."""

    subscriber_ids: list[int]
    addresses: list[str]
    values: list[str]


def erasure_set(subscriber: Subscriber) -> list[Subscriber]:
    """Everyone an erasure of ``subscriber`` covers: the live subscribers with the same
    address (one person, S9) and every tombstone merged into them."""
    people = list(
        Subscriber.objects.live().filter(
            tenant_id=subscriber.tenant_id, email_normalised=subscriber.email_normalised
        )
    )
    if subscriber.pk not in {s.pk for s in people}:
        people.append(subscriber)
    seen = {s.pk for s in people}
    frontier = list(seen)
    while frontier:
        tombstones = [
            s for s in Subscriber.objects.filter(merged_into_id__in=frontier) if s.pk not in seen
        ]
        people += tombstones
        seen.update(s.pk for s in tombstones)
        frontier = [s.pk for s in tombstones]
    return people


def erase_subscribers(
    subscribers: Sequence[Subscriber], *, at: dt.datetime | None = None
) -> Erased:
    """Erase ``subscribers`` (see the module docstring) in one transaction."""
    at = at or timezone.now()
    ids = [s.pk for s in subscribers]
    addresses = sorted({s.email for s in subscribers if s.email})
    values = sorted(
        {
            v
            for v in SubscriberValue.objects.filter(subscriber_id__in=ids).values_list(
                "value", flat=True
            )
            if v
        }
    )
    with transaction.atomic():
        for sub in subscribers:
            suppress(sub.tenant, sub.email, SuppressionReason.ERASED, at=at)
        # The history is evidence of consent; once the person is erased there is no consent
        # left to prove, and the suppression entry keeps the objection's effect.
        purge_events(ConsentEvent.objects.filter(subscriber_id__in=ids))
        # Tombstones point at survivors: unhook them first so the delete does not re-point
        # them (SET_NULL) before they are deleted themselves.
        Subscriber.objects.filter(pk__in=ids).update(merged_into=None)
        Subscriber.objects.filter(pk__in=ids).delete()
    return Erased(subscriber_ids=ids, addresses=addresses, values=values)
