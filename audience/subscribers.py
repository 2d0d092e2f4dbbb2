"""Subscribers: create, update and bulk upsert with a modification time per field (S9, S11).

Every field is a ``SubscriberValue`` row (see the storage note in ``audience.models``); only
fields whose value really changes get a new ``modified_at``, and an update that changes
nothing writes nothing. ``email`` and ``language`` are mirrored onto ``Subscriber`` columns.

``bulk_upsert`` matches by normalised address among the tenant's *live* subscribers. An
address held by several live subscribers is reported as ambiguous (the sync merges them, S9)
and never guessed. Each item is validated completely before anything is written, so an item
is applied whole or not at all; a chunk of 1,000 items costs a handful of queries.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audience.address_change import follow_address_change
from audience.consent import (
    SYSTEM,
    ConsentRefused,
    Who,
    guard_create,
    record_change,
    record_created,
    suppressed_among,
)
from audience.consent_items import ItemConsent, split_consent
from audience.models import (
    ConsentSource,
    ConsentState,
    GroupMembership,
    Subscriber,
    SubscriberField,
    SubscriberGroup,
    SubscriberValue,
)

# Re-exported: callers have always imported the value checks from here.
from audience.values import (  # noqa: F401
    SubscriberError,
    clean_value,
    prepare_item,
    tenant_fields,
)
from mailworx_crm.email_address import normalise_email, same_address
from tenants.models import Tenant

CHUNK_SIZE = 1000


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    AMBIGUOUS = "ambiguous"
    INVALID = "invalid"
    SUPPRESSED = "suppressed"  # a new subscriber refused: the address is suppressed (N6)


@dataclass(frozen=True)
class UpsertResult:
    index: int
    outcome: Outcome
    subscriber_id: int | None = None
    message: str = ""
    changed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        # A suppressed address is a refusal by rule, not an error in the item: a CSV import
        # goes ahead without it (and counts it).
        return self.outcome not in (Outcome.AMBIGUOUS, Outcome.INVALID)


def _mirror(sub: Subscriber, values: Mapping[str, str], tenant: Tenant) -> None:
    if SubscriberField.EMAIL in values:
        sub.email = values[SubscriberField.EMAIL]
        sub.email_normalised = normalise_email(sub.email)
    if values.get(SubscriberField.LANGUAGE):
        sub.language = values[SubscriberField.LANGUAGE]
    elif not sub.language:
        sub.language = tenant.default_language


def _changes(current: Mapping[str, str], values: Mapping[str, str]) -> dict[str, str]:
    changed = {}
    for key, value in values.items():
        old = current.get(key)
        unchanged_address = old is not None and same_address(old, value)
        if key == SubscriberField.EMAIL and unchanged_address:
            continue
        if old != value and not (old is None and value == ""):
            changed[key] = value
    return changed


def current_values(subscriber_ids: Iterable[int]) -> dict[int, dict[str, str]]:
    out: dict[int, dict[str, str]] = {}
    rows = SubscriberValue.objects.filter(subscriber_id__in=list(subscriber_ids)).values_list(
        "subscriber_id", "field__key", "value")
    for sid, key, value in rows:
        out.setdefault(sid, {})[key] = value
    return out


def _value_rows(
    sub: Subscriber, values: Mapping[str, str], fields: Mapping[str, SubscriberField],
    now: dt.datetime,
) -> list[SubscriberValue]:
    return [SubscriberValue(tenant_id=sub.tenant_id, subscriber_id=sub.pk, field_id=fields[k].pk,
                            value=v, modified_at=now) for k, v in values.items()]


def _write_values(rows: list[SubscriberValue]) -> None:
    if rows:
        SubscriberValue.objects.bulk_create(
            rows, update_conflicts=True, unique_fields=["subscriber", "field"],
            update_fields=["value", "modified_at"], batch_size=500,
        )


def create_subscriber(
    tenant: Tenant, values: Mapping[str, Any], *, source: ConsentSource = ConsentSource.ADMIN,
    consent: ConsentState = ConsentState.UNKNOWN, detail: Mapping[str, Any] | None = None,
    who: Who = SYSTEM, consent_at: dt.datetime | None = None, now: dt.datetime | None = None,
) -> Subscriber:
    """A new subscriber — even when the address exists already (duplicates are allowed, S9)
    — with its first consent history entry. ``ConsentRefused`` for a suppressed address
    (N6) unless ``consent`` is a double opt-in with its confirmation time."""
    now = now or timezone.now()
    fields = tenant_fields(tenant)
    cleaned = prepare_item(values, fields)
    decision = guard_create(tenant, cleaned[SubscriberField.EMAIL], state=consent,
                            detail=detail)
    if not decision.allowed:
        raise ConsentRefused(decision)
    with transaction.atomic():
        sub = Subscriber(tenant=tenant, consent=consent, consent_changed_at=consent_at or now)
        _mirror(sub, cleaned, tenant)
        sub.save()
        _write_values(_value_rows(sub, {k: v for k, v in cleaned.items() if v != ""},
                                  fields, now))
        record_created([sub], source=source, detail=detail, who=who, at=consent_at or now)
    return sub


def update_subscriber(
    subscriber: Subscriber, values: Mapping[str, Any], *, now: dt.datetime | None = None
) -> list[str]:
    """Apply ``values``; returns the keys that changed (only they get a new time)."""
    now = now or timezone.now()
    fields = tenant_fields(subscriber.tenant)
    cleaned = prepare_item(values, fields, require_email=SubscriberField.EMAIL in values)
    changed = _changes(current_values([subscriber.pk]).get(subscriber.pk, {}), cleaned)
    if not changed:
        return []
    old_email = subscriber.email
    with transaction.atomic():
        _mirror(subscriber, changed, subscriber.tenant)
        subscriber.save(update_fields=["email", "email_normalised", "language", "updated_at"])
        _write_values(_value_rows(subscriber, changed, fields, now))
        if SubscriberField.EMAIL in changed:  # N7: the permission follows the new address
            follow_address_change(subscriber, old_email)
    return sorted(changed)


def unsubscribe(subscriber: Subscriber, *, source: ConsentSource = ConsentSource.ADMIN,
                who: Who = SYSTEM, at: dt.datetime | None = None) -> bool:
    """Unsubscribe (S13, N6): opted out, recorded, the address suppressed. The CRM
    write-back ("do not allow bulk email") comes with the sync. False when already out."""
    if subscriber.consent == ConsentState.OPTED_OUT:
        return False
    return record_change(subscriber, ConsentState.OPTED_OUT, source=source, who=who,
                         at=at) is not None


@dataclass(frozen=True)
class _ConsentCtx:
    source: ConsentSource
    who: Who


def bulk_upsert(
    tenant: Tenant,
    items: Iterable[Mapping[str, Any]],
    *,
    group: SubscriberGroup | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    chunk_size: int = CHUNK_SIZE,
    source: ConsentSource = ConsentSource.ADMIN,
    who: Who = SYSTEM,
) -> list[UpsertResult]:
    """Create or update subscribers by address; one result per item, in order.

    ``group``: every stored item also becomes a member. ``dry_run``: validate and report
    what would happen, write nothing (the CSV import preview). ``source``/``who`` go into
    the consent history of the subscribers created. An item for an existing subscriber
    changes field values, never the permission; an item whose address is suppressed creates
    nothing (``Outcome.SUPPRESSED``, N6).
    """
    consent = _ConsentCtx(source, who)
    if group is not None and group.tenant_id != tenant.pk:
        raise SubscriberError(_("The group belongs to another tenant."))
    now = now or timezone.now()
    fields = tenant_fields(tenant)
    seen: dict[str, int] = {}
    results: list[UpsertResult] = []
    chunk: list[tuple[int, Mapping[str, Any]]] = []
    for index, item in enumerate(items):
        chunk.append((index, item))
        if len(chunk) >= chunk_size:
            results += _upsert_chunk(tenant, fields, chunk, seen, group, dry_run, now, consent)
            chunk = []
    if chunk:
        results += _upsert_chunk(tenant, fields, chunk, seen, group, dry_run, now, consent)
    return results


def _upsert_chunk(
    tenant: Tenant,
    fields: Mapping[str, SubscriberField],
    chunk: list[tuple[int, Mapping[str, Any]]],
    seen: dict[str, int],
    group: SubscriberGroup | None,
    dry_run: bool,
    now: dt.datetime,
    consent: _ConsentCtx,
) -> list[UpsertResult]:
    results: dict[int, UpsertResult] = {}
    prepared: list[tuple[int, str, dict[str, str], ItemConsent]] = []
    for index, item in chunk:
        try:
            plain, item_consent = split_consent(item)
            values = prepare_item(plain, fields)
        except SubscriberError as exc:
            results[index] = UpsertResult(index, Outcome.INVALID, message=str(exc))
            continue
        norm = normalise_email(values[SubscriberField.EMAIL])
        if norm in seen:
            results[index] = UpsertResult(index, Outcome.INVALID, message=_(
                "The address %(email)s appears more than once (first at item %(first)s).")
                % {"email": norm, "first": seen[norm] + 1})
            continue
        seen[norm] = index
        prepared.append((index, norm, values, item_consent))

    matches: dict[str, list[Subscriber]] = {}
    for sub in Subscriber.objects.live().filter(
        tenant=tenant, email_normalised__in=[p[1] for p in prepared]
    ).only("id", "tenant_id", "email", "email_normalised", "language", "consent",
           "consent_changed_at"):
        matches.setdefault(sub.email_normalised, []).append(sub)
    single = [m[0].pk for m in matches.values() if len(m) == 1]
    current = current_values(single)
    suppressed = suppressed_among(tenant, [p[1] for p in prepared if p[1] not in matches])

    new_subs: list[tuple[int, Subscriber, dict[str, str]]] = []
    new_consent: list[ItemConsent] = []
    updated: list[tuple[int, Subscriber, dict[str, str]]] = []
    consent_changes: list[tuple[int, Subscriber, ItemConsent]] = []
    for index, norm, values, item_consent in prepared:
        found = matches.get(norm, [])
        if len(found) > 1:
            results[index] = UpsertResult(index, Outcome.AMBIGUOUS, message=_(
                "%(count)s subscribers have the address %(email)s; they must be merged first.")
                % {"count": len(found), "email": norm})
            continue
        if found:
            if item_consent.given and item_consent.state != found[0].consent:
                consent_changes.append((index, found[0], item_consent))
            changed = _changes(current.get(found[0].pk, {}), values)
            if changed:
                updated.append((index, found[0], changed))
            else:
                results[index] = UpsertResult(index, Outcome.UNCHANGED, found[0].pk)
            continue
        state = item_consent.state or ConsentState.UNKNOWN
        if norm in suppressed or state == ConsentState.DOUBLE_OPT_IN:
            # N6: only a double opt-in confirmed after the suppression lets it back in.
            decision = guard_create(tenant, norm, state=state, detail=item_consent.detail)
            if not decision.allowed:
                results[index] = UpsertResult(
                    index, Outcome.SUPPRESSED if decision.suppression else Outcome.INVALID,
                    message=decision.message)
                continue
        sub = Subscriber(tenant_id=tenant.pk, created_at=now, updated_at=now, consent=state,
                         consent_changed_at=item_consent.at or now)
        _mirror(sub, values, tenant)
        new_subs.append((index, sub, {k: v for k, v in values.items() if v != ""}))
        new_consent.append(item_consent)

    refused: dict[int, str] = {}
    if not dry_run:
        with transaction.atomic():
            _store(tenant, fields, new_subs, updated, now)
            record_created([s for _i, s, _v in new_subs], source=consent.source,
                           who=consent.who, details=[c.detail for c in new_consent])
            refused = _change_consent(consent_changes, consent)
            if group is not None:
                ids = [r.subscriber_id for r in results.values() if r.subscriber_id]
                ids += [s.pk for _i, s, _v in new_subs + updated]
                GroupMembership.objects.bulk_create(
                    [GroupMembership(group=group, subscriber_id=i, added_at=now) for i in ids],
                    ignore_conflicts=True, batch_size=500)
    for index, sub, values in new_subs:
        results[index] = UpsertResult(index, Outcome.CREATED, sub.pk, changed=tuple(values))
    for index, sub, changed in updated:
        results[index] = UpsertResult(index, Outcome.UPDATED, sub.pk, changed=tuple(changed))
    for index, message in refused.items():
        results[index] = dataclasses.replace(results[index], message=message)
    return [results[index] for index, _item in chunk]


def _change_consent(
    changes: list[tuple[int, Subscriber, ItemConsent]], ctx: _ConsentCtx
) -> dict[int, str]:
    """Permission changes an item asks of an existing subscriber, through the consent rules;
    returns the refusals' messages by item (the field values are stored all the same)."""
    refused = {}
    for index, sub, item_consent in changes:
        if item_consent.state is None:
            continue
        try:
            record_change(sub, item_consent.state, source=ctx.source,
                          detail=item_consent.detail, who=ctx.who, at=item_consent.at)
        except ConsentRefused as exc:
            refused[index] = _("Permission not changed: %(reason)s") % {"reason": str(exc)}
    return refused


def _store(
    tenant: Tenant,
    fields: Mapping[str, SubscriberField],
    new_subs: list[tuple[int, Subscriber, dict[str, str]]],
    updated: list[tuple[int, Subscriber, dict[str, str]]],
    now: dt.datetime,
) -> None:
    Subscriber.objects.bulk_create([s for _i, s, _v in new_subs], batch_size=500)
    rows: list[SubscriberValue] = []
    for _i, sub, values in new_subs + updated:
        rows += _value_rows(sub, values, fields, now)
    # Most updates leave the mirrored columns alone: one UPDATE bumps ``updated_at`` for
    # all of them, and only subscribers whose address or language changed are rewritten
    # (bulk_update's CASE expressions are slow on large batches).
    mirrored = []
    for _i, sub, changed in updated:
        sub.updated_at = now
        if SubscriberField.EMAIL in changed or SubscriberField.LANGUAGE in changed:
            _mirror(sub, changed, tenant)
            mirrored.append(sub)
    if updated:
        Subscriber.objects.filter(pk__in=[s.pk for _i, s, _c in updated]).update(updated_at=now)
    Subscriber.objects.bulk_update(mirrored, ["email", "email_normalised", "language"],
                                   batch_size=100)
    _write_values(rows)
