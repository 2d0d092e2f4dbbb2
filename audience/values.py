"""Field values: what a subscriber field accepts, in its canonical text form.

``clean_value`` decides one value, ``prepare_item`` a whole ``{field key: value}`` item; both
raise ``SubscriberError`` with a message meant for an admin (N3).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from audience.models import FieldType, SubscriberField
from audience.services import STANDARD_FIELDS, ensure_standard_fields
from mailworx_crm.email_address import InvalidEmail, checked_email
from tenants.models import Tenant

_LANGUAGE_RE = re.compile(r"^[a-z]{2,3}(-[a-z0-9]{2,8})?$")
_TRUE = {"true", "1", "yes", "y", "ja", "wahr", "x"}
_FALSE = {"false", "0", "no", "n", "nein", "falsch", ""}


class SubscriberError(ValueError):
    """An item or value that cannot be stored; the message is meant for an admin (N3)."""


def tenant_fields(tenant: Tenant) -> dict[str, SubscriberField]:
    """The tenant's fields by key (standard fields created when missing), options loaded."""
    fields = {
        f.key: f for f in SubscriberField.objects.filter(tenant=tenant).prefetch_related("options")
    }
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
            raise SubscriberError(
                _("“%(value)s” is not a language code such as de or en.") % {"value": text}
            )
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
        raise SubscriberError(
            _("“%(value)s” is not a valid %(type)s for field %(field)s.")
            % {"value": text, "type": ftype.label, "field": field.key}
        ) from None
    if ftype.has_options:
        options = {o.value.lower(): o.value for o in field.options.all()}
        options.update({o.label_en.lower(): o.value for o in field.options.all()})
        options.update({o.label_de.lower(): o.value for o in field.options.all()})
        parts = [p.strip() for p in text.split(",")] if ftype is FieldType.MULTI_SELECT else [text]
        chosen = []
        for part in parts:
            if part.lower() not in options:
                raise SubscriberError(
                    _("“%(value)s” is not an option of field %(field)s.")
                    % {"value": part, "field": field.key}
                )
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
