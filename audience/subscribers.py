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

import datetime as dt
import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from audience.models import (
    FieldType,
    GroupMembership,
    Subscriber,
    SubscriberField,
    SubscriberGroup,
    SubscriberStatus,
    SubscriberValue,
)
from audience.services import STANDARD_FIELDS, ensure_standard_fields
from mailworx_crm.email_address import (
    InvalidEmail,
    checked_email,
    normalise_email,
    same_address,
)
from tenants.models import Tenant

CHUNK_SIZE = 1000
_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_TRUE = {"true", "1", "yes", "y", "ja", "wahr", "x"}
_FALSE = {"false", "0", "no", "n", "nein", "falsch", ""}

class SubscriberError(ValueError):
    """An item or value that cannot be stored; the message is meant for an admin (N3)."""


class Outcome(enum.StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    AMBIGUOUS = "ambiguous"
    INVALID = "invalid"


@dataclass(frozen=True)
class UpsertResult:
    index: int
    outcome: Outcome
    subscriber_id: int | None = None
    message: str = ""
    changed: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.outcome not in (Outcome.AMBIGUOUS, Outcome.INVALID)


def tenant_fields(tenant: Tenant) -> dict[str, SubscriberField]:
    """The tenant's fields by key (standard fields created when missing), options loaded."""
    fields = {f.key: f for f in SubscriberField.objects.filter(tenant=tenant)
              .prefetch_related("options")}
    if any(spec.key not in fields for spec in STANDARD_FIELDS):
        ensure_standard_fields(tenant)
        return tenant_fields(tenant)
    return fields


def clean_value(field: SubscriberField, raw: Any) -> str:
    """The canonical text form of ``raw`` for ``field``, or ``SubscriberError``."""
    text = "" if raw is None else (raw.isoformat() if isinstance(raw, dt.date) else str(raw))
    text = text.strip()
    if field.key == SubscriberField.EMAIL:
        try:
            return checked_email(text)
        except InvalidEmail as exc:
            raise SubscriberError(str(exc)) from None
    if field.key == SubscriberField.LANGUAGE and not field.type_enum.has_options:
        text = text.lower().replace("_", "-")
        if text and not _LANGUAGE_RE.match(text):
            raise SubscriberError(_("“%(value)s” is not a language code such as de or en.")
                                  % {"value": text})
        return text
    if text == "":
        return ""
    ftype = field.type_enum
    try:
        if ftype is FieldType.NUMBER:
            number = Decimal(text.replace(",", ".") if text.count(",") == 1 else text)
            if not number.is_finite():
                raise InvalidOperation
            return str(number)
        if ftype is FieldType.BOOLEAN:
            if text.lower() in _TRUE:
                return "true"
            if text.lower() in _FALSE:
                return "false"
            raise ValueError
        if ftype is FieldType.DATE:
            return dt.date.fromisoformat(text[:10] if "T" in text else text).isoformat()
        if ftype is FieldType.DATETIME:
            moment = dt.datetime.fromisoformat(text)
            if timezone.is_naive(moment):
                moment = timezone.make_aware(moment)
            return moment.isoformat()
    except (ValueError, InvalidOperation):
        raise SubscriberError(_("“%(value)s” is not a valid %(type)s for field %(field)s.") % {
            "value": text, "type": ftype.label, "field": field.key}) from None
    if ftype.has_options:
        options = {o.value.lower(): o.value for o in field.options.all()}
        options.update({o.label_en.lower(): o.value for o in field.options.all()})
        options.update({o.label_de.lower(): o.value for o in field.options.all()})
        parts = [p.strip() for p in text.split(",")] if ftype is FieldType.MULTI_SELECT else [text]
        chosen = []
        for part in parts:
            if part.lower() not in options:
                raise SubscriberError(_("“%(value)s” is not an option of field %(field)s.")
                                      % {"value": part, "field": field.key})
            chosen.append(options[part.lower()])
        return ",".join(chosen)
    return text


def prepare_item(
    item: Mapping[str, Any], fields: Mapping[str, SubscriberField], *, require_email: bool = True
) -> dict[str, str]:
    """Validate every key and value of ``item``; returns ``{key: canonical value}``."""
    unknown = sorted(k for k in item if k not in fields)
    if unknown:
        raise SubscriberError(_("Unknown field(s): %(keys)s.") % {"keys": ", ".join(unknown)})
    if require_email and not str(item.get(SubscriberField.EMAIL) or "").strip():
        raise SubscriberError(_("The email address is missing."))
    return {key: clean_value(fields[key], raw) for key, raw in item.items()}


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
    tenant: Tenant, values: Mapping[str, Any], *, now: dt.datetime | None = None
) -> Subscriber:
    """A new subscriber — even when the address exists already (duplicates are allowed, S9)."""
    now = now or timezone.now()
    fields = tenant_fields(tenant)
    cleaned = prepare_item(values, fields)
    with transaction.atomic():
        sub = Subscriber(tenant=tenant)
        _mirror(sub, cleaned, tenant)
        sub.save()
        _write_values(_value_rows(sub, {k: v for k, v in cleaned.items() if v != ""},
                                  fields, now))
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
    with transaction.atomic():
        _mirror(subscriber, changed, subscriber.tenant)
        subscriber.save(update_fields=["email", "email_normalised", "language", "updated_at"])
        _write_values(_value_rows(subscriber, changed, fields, now))
    return sorted(changed)


def set_status(
    subscriber: Subscriber, status: SubscriberStatus, *, at: dt.datetime | None = None
) -> bool:
    """Change the status with its timestamp; False when it already was ``status``."""
    if subscriber.status == status:
        return False
    subscriber.status = status
    subscriber.status_changed_at = at or timezone.now()
    subscriber.save(update_fields=["status", "status_changed_at", "updated_at"])
    return True


def unsubscribe(subscriber: Subscriber, *, at: dt.datetime | None = None) -> bool:
    """Unsubscribe (S13). The CRM write-back ("do not allow bulk email") comes with the sync."""
    return set_status(subscriber, SubscriberStatus.UNSUBSCRIBED, at=at)


def bulk_upsert(
    tenant: Tenant,
    items: Iterable[Mapping[str, Any]],
    *,
    group: SubscriberGroup | None = None,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    chunk_size: int = CHUNK_SIZE,
) -> list[UpsertResult]:
    """Create or update subscribers by address; one result per item, in order.

    ``group``: every stored item also becomes a member. ``dry_run``: validate and report
    what would happen, write nothing (the CSV import preview).
    """
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
            results += _upsert_chunk(tenant, fields, chunk, seen, group, dry_run, now)
            chunk = []
    if chunk:
        results += _upsert_chunk(tenant, fields, chunk, seen, group, dry_run, now)
    return results


def _upsert_chunk(
    tenant: Tenant,
    fields: Mapping[str, SubscriberField],
    chunk: list[tuple[int, Mapping[str, Any]]],
    seen: dict[str, int],
    group: SubscriberGroup | None,
    dry_run: bool,
    now: dt.datetime,
) -> list[UpsertResult]:
    results: dict[int, UpsertResult] = {}
    prepared: list[tuple[int, str, dict[str, str]]] = []
    for index, item in chunk:
        try:
            values = prepare_item(item, fields)
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
        prepared.append((index, norm, values))

    matches: dict[str, list[Subscriber]] = {}
    for sub in Subscriber.objects.live().filter(
        tenant=tenant, email_normalised__in=[n for _i, n, _v in prepared]
    ).only("id", "tenant_id", "email", "email_normalised", "language"):
        matches.setdefault(sub.email_normalised, []).append(sub)
    single = [m[0].pk for m in matches.values() if len(m) == 1]
    current = current_values(single)

    new_subs: list[tuple[int, Subscriber, dict[str, str]]] = []
    updated: list[tuple[int, Subscriber, dict[str, str]]] = []
    for index, norm, values in prepared:
        found = matches.get(norm, [])
        if len(found) > 1:
            results[index] = UpsertResult(index, Outcome.AMBIGUOUS, message=_(
                "%(count)s subscribers have the address %(email)s; they must be merged first.")
                % {"count": len(found), "email": norm})
        elif found:
            changed = _changes(current.get(found[0].pk, {}), values)
            if changed:
                updated.append((index, found[0], changed))
            else:
                results[index] = UpsertResult(index, Outcome.UNCHANGED, found[0].pk)
        else:
            sub = Subscriber(tenant_id=tenant.pk, created_at=now, updated_at=now)
            _mirror(sub, values, tenant)
            new_subs.append((index, sub, {k: v for k, v in values.items() if v != ""}))

    if not dry_run:
        with transaction.atomic():
            _store(tenant, fields, new_subs, updated, now)
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
    return [results[index] for index, _item in chunk]


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
