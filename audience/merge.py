"""Merging two subscribers that share an address (S9).

Everything moves to the survivor in one transaction: group memberships, field values (per
field the newer ``modified_at`` wins, S11) and reactions; the CRM record links are the sync
engine's and move with them in ``syncjobs.engine.merge``, the only caller. The merged-away
subscriber stays as a tombstone (``merged_into`` = survivor) so that anything still naming
it — a retried reaction ingest, an old cursor — can be redirected; subscribers merged into
the source earlier are re-pointed to the survivor, so tombstones never chain.
"""

from __future__ import annotations

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from audience.consent_merge import merge_consent
from audience.models import (
    GroupMembership,
    Reaction,
    Subscriber,
    SubscriberField,
    SubscriberValue,
)
from mailworx_crm.email_address import normalise_email


class MergeError(ValueError):
    pass


def merge_subscribers(source: Subscriber, survivor: Subscriber) -> Subscriber:
    """Merge ``source`` into ``survivor``; returns the refreshed survivor."""
    if source.pk == survivor.pk:
        raise MergeError(_("A subscriber cannot be merged into itself."))
    if source.tenant_id != survivor.tenant_id:
        raise MergeError(_("Subscribers of different tenants cannot be merged."))
    with transaction.atomic():
        locked = {s.pk: s for s in Subscriber.objects.select_for_update()
                  .filter(pk__in=[source.pk, survivor.pk])}
        source, survivor = locked[source.pk], locked[survivor.pk]
        if source.merged_into_id or survivor.merged_into_id:
            raise MergeError(_("A subscriber that was merged already cannot be merged again."))
        now = timezone.now()

        survivor_groups = GroupMembership.objects.filter(subscriber=survivor).values("group_id")
        GroupMembership.objects.filter(subscriber=source).exclude(
            group_id__in=survivor_groups).update(subscriber=survivor)
        GroupMembership.objects.filter(subscriber=source).delete()

        _merge_values(source, survivor)
        Reaction.objects.filter(subscriber=source).update(subscriber=survivor)

        # A subscriber who opted out, or whose mailbox bounced, stays so (S13, N6).
        event = merge_consent(survivor, source, now)
        if event is not None:
            event.save()
        values = dict(SubscriberValue.objects.filter(
            subscriber=survivor, field__key__in=[SubscriberField.EMAIL, SubscriberField.LANGUAGE]
        ).values_list("field__key", "value"))
        if values.get(SubscriberField.LANGUAGE):
            survivor.language = values[SubscriberField.LANGUAGE]
        if values.get(SubscriberField.EMAIL):
            survivor.email = values[SubscriberField.EMAIL]
            survivor.email_normalised = normalise_email(survivor.email)
        survivor.save()

        Subscriber.objects.filter(merged_into=source).update(merged_into=survivor)
        source.merged_into = survivor
        source.save(update_fields=["merged_into", "updated_at"])
    return survivor


def _merge_values(source: Subscriber, survivor: Subscriber) -> None:
    mine = {v.field_id: v for v in SubscriberValue.objects.filter(subscriber=survivor)}
    take: list[SubscriberValue] = []
    for value in SubscriberValue.objects.filter(subscriber=source):
        current = mine.get(value.field_id)
        if current is None or value.modified_at > current.modified_at:
            take.append(SubscriberValue(
                tenant_id=survivor.tenant_id, subscriber=survivor, field_id=value.field_id,
                value=value.value, modified_at=value.modified_at))
    if take:
        SubscriberValue.objects.bulk_create(
            take, update_conflicts=True, unique_fields=["subscriber", "field"],
            update_fields=["value", "modified_at"])
    SubscriberValue.objects.filter(Q(subscriber=source)).delete()
