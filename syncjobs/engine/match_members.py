"""Which subscribers of a group match looks up, read without holding the group in memory:
duplicates merged first (S9), then the unlinked ones page by page, or — when the last
look-up is recent (N2) — only those whose answer could have changed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.db.models import Count, Min, QuerySet

from audience.models import (
    GroupMembership,
    GroupSyncSetting,
    Subscriber,
    SubscriberField,
    SubscriberValue,
)
from syncjobs.engine.context import Sync
from syncjobs.engine.merge import merge_many
from syncjobs.models.sync import HOLDING_STATES, RecordLink

MERGE_CHUNK = 500  # pairs per set-based merge


def unlinked_batches(unlinked: QuerySet[Subscriber], blocked: set[int], fresh: set[int] | None,
                     size: int) -> Iterator[list[int]]:
    """Ids of unlinked, unblocked subscribers in batches of ``size``: all of them page by
    page (keyset on the primary key), or only those in ``fresh``."""
    batch: list[int] = []
    for ids in _id_pages(unlinked, fresh, size):
        batch += [pk for pk in ids if pk not in blocked]
        while len(batch) >= size:
            yield batch[:size]
            del batch[:size]
    if batch:
        yield batch


def _id_pages(qs: QuerySet[Subscriber], fresh: set[int] | None,
              size: int) -> Iterator[list[int]]:
    if fresh is not None:
        wanted = sorted(fresh)
        for start in range(0, len(wanted), 500):
            yield list(qs.filter(pk__in=wanted[start:start + 500]).values_list("pk", flat=True))
        return
    last = 0
    # Each page is read after the batches before it are written: the page starts past
    # their ids, so subscribers they linked or merged are never read twice.
    while ids := list(qs.filter(pk__gt=last).values_list("pk", flat=True)[:size]):
        yield ids
        last = ids[-1]


def changed_since(sync: Sync, setting: GroupSyncSetting, since: dt.datetime) -> set[int]:
    """Subscribers whose look-up could have another answer now: new ones, new members of
    the group and changed addresses (open issues are added by the caller: they retry)."""
    fresh = set(Subscriber.objects.filter(tenant=sync.tenant, created_at__gte=since)
                .values_list("pk", flat=True))
    fresh |= set(GroupMembership.objects.filter(group=setting.group, added_at__gte=since)
                 .values_list("subscriber_id", flat=True))
    fresh |= set(SubscriberValue.objects.filter(
        tenant=sync.tenant, modified_at__gte=since, field__key=SubscriberField.EMAIL
    ).values_list("subscriber_id", flat=True))
    return fresh


def merge_duplicates(sync: Sync, members: QuerySet[Subscriber], step: str,
                     among: set[int] | None = None) -> None:
    """S9: one subscriber per address in the group; a linked one survives, else the oldest.

    Only addresses that occur more than once are read (the database groups them), in the
    order of their oldest subscriber. With ``among`` (the subscribers whose look-up could
    have another answer, N2) only their addresses are checked: a duplicate can only have
    appeared through one of them, as the last run merged all others.
    """
    if among is None:
        twice = _twice(members)
    else:
        ids = sorted(among)
        emails: set[str] = set()
        for start in range(0, len(ids), 500):
            emails.update(members.filter(pk__in=ids[start:start + 500])
                          .values_list("email_normalised", flat=True))
        wanted = sorted(emails)
        twice = [email for start in range(0, len(wanted), 500) for email in _twice(
            members.filter(email_normalised__in=wanted[start:start + 500]))]
    pairs: list[tuple[int, int]] = []
    for start in range(0, len(twice), MERGE_CHUNK):
        rows = list(members.filter(email_normalised__in=twice[start:start + MERGE_CHUNK])
                    .order_by("pk").values_list("pk", "email_normalised"))
        linked = set(RecordLink.objects.filter(
            subscriber_id__in=[pk for pk, _e in rows], state__in=HOLDING_STATES
        ).values_list("subscriber_id", flat=True))
        by_email: dict[str, list[int]] = {}
        for pk, email in rows:
            by_email.setdefault(email, []).append(pk)
        for email in twice[start:start + MERGE_CHUNK]:
            pks = by_email.get(email, [])
            survivor_pk = next((pk for pk in pks if pk in linked), pks[0] if pks else 0)
            pairs += [(pk, survivor_pk) for pk in pks if pk != survivor_pk]
    # Set-based merges, a few queries per chunk instead of a dozen per pair.
    for start in range(0, len(pairs), MERGE_CHUNK):
        sync.count(step, "merged", merge_many(pairs[start:start + MERGE_CHUNK]))


def _twice(members: QuerySet[Subscriber]) -> list[str]:
    return list(members.order_by().values("email_normalised")
                .annotate(n=Count("pk"), first=Min("pk")).filter(n__gt=1)
                .order_by("first").values_list("email_normalised", flat=True))
