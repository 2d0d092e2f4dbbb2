"""Bulk variants of the subscriber services for the sync engine: many subscribers per query.

``update_subscribers`` is ``audience.subscribers.update_subscriber`` for many subscribers at
once (same validation, same per-field modification times, same mirrored columns), so a
sync batch of thousands of CRM rows costs a handful of queries instead of several per row.
``merge_many`` is ``audience.merge.merge_subscribers`` for many independent pairs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from audience.models import Subscriber, SubscriberField
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
            "pk", "tenant_id", "email", "email_normalised", "language")}
        mirrored = []
        rows = []
        for sid, changed in changed_by_sub.items():
            sub = subs[sid]
            rows += _value_rows(sub, changed, fields, now)
            if mirrored_keys & set(changed):
                _mirror(sub, changed, tenant)
                mirrored.append(sub)
        # One UPDATE bumps ``updated_at`` for all; only address/language changes rewrite
        # the mirrored columns (rare: the sync maps names and choices far more often).
        Subscriber.objects.filter(pk__in=list(changed_by_sub)).update(updated_at=now)
        Subscriber.objects.bulk_update(mirrored, ["email", "email_normalised", "language"],
                                       batch_size=200)
        _write_values(rows)
    return out
