"""Consent columns of an imported item (CSV import, the API's bulk upsert): the permission,
its original date and its original source, so an import keeps what the sender can prove.

- ``consent``: a permission value (``opted_in``, ``double_opt_in``, ``opted_out`` …) or its
  English or German label; empty: "opted in" when a date is given, else "unknown";
- ``consent_date``: when the permission was given (ISO 8601 date or date and time); for a
  double opt-in, the time it was confirmed;
- ``consent_source``: where it was given, as free text ("Trade fair 2025 form").

These names are reserved (``IMPORT_COLUMNS``): no subscriber field may use them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import override

from audience.consent_models import IMPORT_COLUMNS
from audience.models import ConsentState
from audience.values import SubscriberError

CONSENT_KEYS = IMPORT_COLUMNS
CONSENT, CONSENT_DATE, CONSENT_SOURCE = IMPORT_COLUMNS
MAX_SOURCE = 200


@dataclass(frozen=True)
class ItemConsent:
    state: ConsentState | None = None  # None: the item says nothing about the permission
    at: dt.datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def given(self) -> bool:
        return self.state is not None


def _state(text: str) -> ConsentState:
    wanted = text.strip().lower()
    for state in ConsentState:
        names = {state.value, str(state.label).lower()}
        with override("de"):
            names.add(str(state.label).lower())
        if wanted in names:
            return state
    raise SubscriberError(
        _("“%(value)s” is not a permission; use one of: %(values)s.")
        % {"value": text, "values": ", ".join(ConsentState.values)}
    )


def _date(text: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise SubscriberError(
            _("“%(value)s” is not a date such as 2025-03-01 or 2025-03-01T09:30.") % {"value": text}
        ) from None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    if moment > timezone.now():
        raise SubscriberError(_("The consent date %(value)s is in the future.") % {"value": text})
    return moment


def split_consent(item: Mapping[str, Any]) -> tuple[dict[str, Any], ItemConsent]:
    """The item without its consent columns, and what they say (``SubscriberError`` when a
    value is not understood)."""
    values = {k: v for k, v in item.items() if k not in CONSENT_KEYS}
    raw = {k: str(item.get(k) or "").strip() for k in CONSENT_KEYS}
    if not any(raw.values()):
        return values, ItemConsent()
    at = _date(raw[CONSENT_DATE]) if raw[CONSENT_DATE] else None
    state = _state(raw[CONSENT]) if raw[CONSENT] else None
    if state is None:
        state = ConsentState.OPTED_IN if at else ConsentState.UNKNOWN
    if len(raw[CONSENT_SOURCE]) > MAX_SOURCE:
        raise SubscriberError(
            _("The consent source has more than %(max)s characters.") % {"max": MAX_SOURCE}
        )
    detail: dict[str, Any] = {}
    if raw[CONSENT_SOURCE]:
        detail["original_source"] = raw[CONSENT_SOURCE]
    if at is not None:
        detail["original_date"] = at.isoformat()
        if state == ConsentState.DOUBLE_OPT_IN:
            detail["confirmed_at"] = at.isoformat()
    return values, ItemConsent(state, at, detail)
