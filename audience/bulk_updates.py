"""Bulk variants of the subscriber services for the sync engine: many subscribers per query.

``update_subscribers`` is ``audience.subscribers.update_subscriber`` for many subscribers at
once (same validation, same per-field modification times, same mirrored columns), so a
sync batch of thousands of CRM rows costs a handful of queries instead of several per row.
``merge_many`` is ``audience.merge.merge_subscribers`` for many independent pairs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Case, Value, When
from django.utils import timezone
from django.utils.translation import gettext as _

from audience.address_change import follow_address_change
from audience.consent_merge import merge_consent
from audience.merge import MergeError
from audience.models import (
    ConsentEvent,
    GroupMembership,
    Reaction,
    Subscriber,
    SubscriberField,
    SubscriberValue,
)
from audience.subscribers import (
    SubscriberError,
    _changes,
    _mirror,
    _value_rows,
    _write_values,
    current_values,
    prepare_item,
    tenant_fields,
)
from mailworx_crm.bulk_sql import update_rows
from mailworx_crm.email_address import normalise_email
from tenants.models import Tenant


def update_subscribers(
    tenant: Tenant, changes: Mapping[int, Mapping[str, Any]], *,
    now: dt.datetime | None = None,
) -> dict[int, list[str] | SubscriberError]:
    """Apply ``{subscriber id: values}``; per subscriber the keys that changed (only they get
    a new time) or the ``SubscriberError`` that kept its values out (nothing of it written).
    """
    now = now or timezone.now()
    fields = tenant_fields(tenant)
    out: dict[int, list[str] | SubscriberError] = {}
    cleaned: dict[int, dict[str, str]] = {}
    for sid, values in changes.items():
        try:
            cleaned[sid] = prepare_item(values, fields,
                                        require_email=SubscriberField.EMAIL in values)
        except SubscriberError as exc:
            out[sid] = exc
    current = current_values(cleaned)
    changed_by_sub: dict[int, dict[str, str]] = {}
    for sid, values in cleaned.items():
        changed = _changes(current.get(sid, {}), values)
        out[sid] = sorted(changed)
        if changed:
            changed_by_sub[sid] = changed
    if not changed_by_sub:
        return out
    mirrored_keys = {SubscriberField.EMAIL, SubscriberField.LANGUAGE}
    with transaction.atomic():
        subs = {s.pk: s for s in Subscriber.objects.filter(pk__in=list(changed_by_sub)).only(
            "pk", "tenant_id", "email", "email_normalised", "language", "consent")}
        mirrored = []
        rows = []
        moved: list[tuple[Subscriber, str]] = []
        for sid, changed in changed_by_sub.items():
            sub = subs[sid]
            rows += _value_rows(sub, changed, fields, now)
            if mirrored_keys & set(changed):
                if SubscriberField.EMAIL in changed:
                    moved.append((sub, sub.email))
                _mirror(sub, changed, tenant)
                mirrored.append(sub)
        # One UPDATE bumps ``updated_at`` for all; only address/language changes rewrite
        # the mirrored columns (rare: the sync maps names and choices far more often).
        Subscriber.objects.filter(pk__in=list(changed_by_sub)).update(updated_at=now)
        Subscriber.objects.bulk_update(mirrored, ["email", "email_normalised", "language"],
                                       batch_size=200)
        _write_values(rows)
        for sub, old_email in moved:  # N7: the permission follows the new address
            follow_address_change(sub, old_email)
    return out


def _case_update(qs_model: Any, column: str, mapping: Mapping[int, int],
                 key: str = "pk") -> None:
    """``UPDATE … SET column = CASE key WHEN … END`` for many rows, in chunks."""
    items = list(mapping.items())
    for start in range(0, len(items), 400):
        chunk = dict(items[start:start + 400])
        qs_model.objects.filter(**{f"{key}__in": list(chunk)}).update(**{column: Case(
            *[When(**{key: k}, then=Value(v)) for k, v in chunk.items()])})


def merge_many(pairs: Sequence[tuple[int, int]]) -> int:
    """``merge_subscribers`` for many ``(source id, survivor id)`` pairs in one transaction.

    The same rules (S9, S11, S13): memberships the survivor lacks move, field values keep
    the newer one per field, reactions move, the stricter status stays, the source becomes
    a tombstone and tombstones never chain. Sources are distinct and never survivors;
    several sources may share a survivor (applied in the given order). CRM record links
    are the engine's: ``syncjobs.engine.merge`` moves them.
    """
    if not pairs:
        return 0
    survivor_of = dict(pairs)
    sources = list(survivor_of)
    if len(sources) != len(pairs) or set(sources) & set(survivor_of.values()):
        raise MergeError("a subscriber cannot be merged twice or be a survivor and a source")
    with transaction.atomic():
        ids = set(sources) | set(survivor_of.values())
        subs = {s.pk: s for s in Subscriber.objects.select_for_update().filter(pk__in=ids)}
        if len(subs) != len(ids) or len({s.tenant_id for s in subs.values()}) != 1:
            raise MergeError(_("Subscribers of different tenants cannot be merged."))
        if any(s.merged_into_id for s in subs.values()):
            raise MergeError(_("A subscriber that was merged already cannot be merged again."))
        now = timezone.now()
        _merge_memberships(survivor_of)
        _merge_values_many(survivor_of, subs)
        reactions = dict(Reaction.objects.filter(subscriber_id__in=sources)
                         .values_list("pk", "subscriber_id"))
        _case_update(Reaction, "subscriber_id",
                     {pk: survivor_of[sid] for pk, sid in reactions.items()})
        survivors: list[Subscriber] = []
        events: list[ConsentEvent] = []
        for source, survivor_id in pairs:
            src, survivor = subs[source], subs[survivor_id]
            if (event := merge_consent(survivor, src, now)) is not None:
                events.append(event)  # the stricter permission stays (S13, N6)
            survivors.append(survivor)
        mirrored = {(sid, key): value for sid, key, value in SubscriberValue.objects.filter(
            subscriber_id__in=set(survivor_of.values()),
            field__key__in=[SubscriberField.EMAIL, SubscriberField.LANGUAGE]
        ).values_list("subscriber_id", "field__key", "value")}
        unique = {s.pk: s for s in survivors}.values()
        for survivor in unique:
            if mirrored.get((survivor.pk, SubscriberField.LANGUAGE)):
                survivor.language = mirrored[(survivor.pk, SubscriberField.LANGUAGE)]
            if mirrored.get((survivor.pk, SubscriberField.EMAIL)):
                survivor.email = mirrored[(survivor.pk, SubscriberField.EMAIL)]
                survivor.email_normalised = normalise_email(survivor.email)
            survivor.updated_at = now
        columns = ["consent", "consent_changed_at", "email", "email_normalised", "language",
                   "updated_at"]
        # One executemany: bulk_update's CASE per column cost seconds per thousand merges.
        update_rows(Subscriber, columns,
                    [[*(getattr(s, c) for c in columns), s.pk] for s in unique])
        ConsentEvent.objects.bulk_create(events, batch_size=500)
        earlier = dict(Subscriber.objects.filter(merged_into_id__in=sources)
                       .values_list("pk", "merged_into_id"))
        _case_update(Subscriber, "merged_into_id",
                     {pk: survivor_of[target] for pk, target in earlier.items()})
        _case_update(Subscriber, "merged_into_id", survivor_of)
        Subscriber.objects.filter(pk__in=sources).update(updated_at=now)
    return len(pairs)


def _merge_memberships(survivor_of: Mapping[int, int]) -> None:
    rows = list(GroupMembership.objects.filter(
        subscriber_id__in=set(survivor_of) | set(survivor_of.values())
    ).values_list("pk", "group_id", "subscriber_id").order_by("pk"))
    have = {(sid, group) for _pk, group, sid in rows if sid not in survivor_of}
    move: dict[int, int] = {}
    for source in survivor_of:  # in the given order, as one merge after the other would
        for pk, group, sid in rows:
            if sid == source and (survivor_of[source], group) not in have:
                have.add((survivor_of[source], group))
                move[pk] = survivor_of[source]
    _case_update(GroupMembership, "subscriber_id", move)
    GroupMembership.objects.filter(subscriber_id__in=list(survivor_of)).delete()


def _merge_values_many(survivor_of: Mapping[int, int], subs: Mapping[int, Subscriber]) -> None:
    current: dict[tuple[int, int], SubscriberValue] = {}
    by_source: dict[int, list[SubscriberValue]] = {}
    for value in SubscriberValue.objects.filter(
            subscriber_id__in=set(survivor_of) | set(survivor_of.values())):
        if value.subscriber_id in survivor_of:
            by_source.setdefault(value.subscriber_id, []).append(value)
        else:
            current[(value.subscriber_id, value.field_id)] = value
    take: dict[tuple[int, int], SubscriberValue] = {}
    for source, survivor_id in survivor_of.items():
        for value in by_source.get(source, []):
            key = (survivor_id, value.field_id)
            mine = current.get(key)
            if mine is None or value.modified_at > mine.modified_at:
                current[key] = take[key] = SubscriberValue(
                    tenant_id=subs[survivor_id].tenant_id, subscriber_id=survivor_id,
                    field_id=value.field_id, value=value.value, modified_at=value.modified_at)
    _write_values(list(take.values()))
    SubscriberValue.objects.filter(subscriber_id__in=list(survivor_of)).delete()
