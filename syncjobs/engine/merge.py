"""S9 on the engine's side: when two subscribers become one, their CRM record links follow.

``audience.merge`` merges the subscribers' own data (memberships, values, reactions,
status); the links are the engine's memory, so this module moves them, in the same
transaction as the merge. The engine calls these, never ``audience.merge`` directly.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.db import transaction

from audience import bulk_updates
from audience import merge as audience_merge
from audience.models import Subscriber
from syncjobs.models.sync import HOLDING_STATES, LinkState, RecordLink


def merge_subscribers(source: Subscriber, survivor: Subscriber) -> Subscriber:
    """Merge ``source`` into ``survivor`` with their links; returns the refreshed survivor."""
    with transaction.atomic():
        merged = audience_merge.merge_subscribers(source, survivor)
        move_crm_links(source.pk, merged.pk)
    return merged


def merge_many(pairs: Sequence[tuple[int, int]]) -> int:
    """``merge_subscribers`` for many ``(source id, survivor id)`` pairs in one transaction."""
    with transaction.atomic():
        merged = bulk_updates.merge_many(pairs)
        survivor_of = dict(pairs)
        with_links = set(RecordLink.objects.filter(subscriber_id__in=list(survivor_of))
                         .values_list("subscriber_id", flat=True))
        for source in sorted(with_links):
            move_crm_links(source, survivor_of[source])
    return merged


def move_crm_links(source_id: int, survivor_id: int) -> None:
    """Move the source's record links to the survivor (inside the merge's transaction).

    The survivor keeps its own link when it has one; the source's link is then closed
    (state *unlinked*, ``merged_into`` = the survivor's CRM record), so one CRM record and
    one subscriber stay linked (S9). Links that no longer hold anything move as history.
    """
    kept = RecordLink.objects.filter(subscriber_id=survivor_id,
                                     state__in=HOLDING_STATES).first()
    for link in RecordLink.objects.filter(subscriber_id=source_id, state__in=HOLDING_STATES):
        if kept is None:
            # The record now stands for the survivor: push writes its id to the CRM.
            link.subscriber_id = survivor_id
            link.subscriber_id_written, link.needs_push = False, True
            link.save(update_fields=["subscriber", "subscriber_id_written", "needs_push",
                                     "updated_at"])
            kept = link
        else:
            link.state = LinkState.UNLINKED
            link.merged_into = kept.crm_id
            link.save(update_fields=["state", "merged_into", "updated_at"])
    RecordLink.objects.filter(subscriber_id=source_id).exclude(
        state__in=HOLDING_STATES).update(subscriber_id=survivor_id)
