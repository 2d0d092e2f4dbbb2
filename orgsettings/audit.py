"""The tenant's audit trail (N5) from django-simple-history records.

Secrets are never in history (the historical model excludes them); their non-secret
``*_changed_at`` witnesses appear as "client secret: changed".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.db.models import IntegerField, QuerySet, Value
from django.utils.translation import gettext as _

from audience.models import SubscriberField
from businessunits.models import BusinessUnit
from fieldmapping.models import FieldMapping, OptionMapping
from orgsettings.certificates import summary as certificate_summary
from orgsettings.models import AdditionalAppUser, OrgSettings
from tenants.models import Membership, Tenant

AUDITED: list[type[models.Model]] = [
    OrgSettings, BusinessUnit, FieldMapping, OptionMapping, Membership, SubscriberField,
    AdditionalAppUser,
]
NOISE = {"id", "tenant", "org_settings", "created_at", "updated_at", "updated_by"}
SECRET_WITNESSES = {
    "client_secret_changed_at": "client secret",
    "secret_entered_at": "client secret",
    "onprem_password_changed_at": "password",
}


def _sources(tenant: Tenant) -> list[QuerySet[Any]]:
    # Ids from history, so that changes of since-deleted units and mappings stay visible.
    unit_ids = BusinessUnit.history.filter(tenant=tenant).values("id")
    mapping_ids = FieldMapping.history.filter(
        business_unit_id__in=unit_ids).values("id")
    return [
        OrgSettings.history.filter(tenant=tenant),
        BusinessUnit.history.filter(tenant=tenant),
        FieldMapping.history.filter(business_unit_id__in=unit_ids),
        OptionMapping.history.filter(
            field_mapping_id__in=mapping_ids),
        Membership.history.filter(tenant=tenant),
        SubscriberField.history.filter(tenant=tenant),
        AdditionalAppUser.history.filter(
            org_settings_id__in=OrgSettings.objects.filter(tenant=tenant).values("id")),
    ]


def tenant_history(tenant: Tenant) -> QuerySet[Any]:
    """All history rows of the tenant as ``(source, history_id, history_date)``, newest
    first — one UNION query, so the paginator pages in the database."""
    parts = [
        qs.annotate(source=Value(i, output_field=IntegerField()))
        .values_list("source", "history_id", "history_date")
        .order_by()
        for i, qs in enumerate(_sources(tenant))
    ]
    return parts[0].union(*parts[1:], all=True).order_by("-history_date", "-history_id")


@dataclass
class FieldChange:
    label: str
    old: str = ""
    new: str = ""
    secret: bool = False  # only "changed" is shown


@dataclass
class Change:
    when: datetime
    user: Any
    kind: str
    subject: str
    fields: list[FieldChange] = field(default_factory=list)


def _field(model: type[models.Model], name: str) -> models.Field[Any, Any] | None:
    try:
        model_field = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return model_field if isinstance(model_field, models.Field) else None


def _display(model: type[models.Model], name: str, value: Any) -> str:
    if value is None or value == "":
        return "—"
    if name == "ca_bundle":  # never the PEM: what each certificate is
        return certificate_summary(str(value))
    model_field = _field(model, name)
    if model_field is None:
        return str(value)
    if model_field.choices:
        return str(dict(model_field.flatchoices).get(value, value))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    related_model = model_field.related_model
    if model_field.is_relation and isinstance(related_model, type):
        related = related_model._default_manager.filter(pk=value).first()
        return str(related) if related is not None else f"#{value}"
    return str(value)


def _label(model: type[models.Model], name: str) -> str:
    model_field = _field(model, name)
    return str(model_field.verbose_name) if model_field is not None else name


def _subject(model: type[models.Model], record: Any) -> str:
    kind = str(model._meta.verbose_name)
    if model is OrgSettings:
        return kind
    try:
        return f"{kind}: {record.instance}"
    except ObjectDoesNotExist:
        return f"{kind} #{record.id}"


def _attname(model: type[models.Model], name: str) -> str:
    model_field = _field(model, name)
    return model_field.attname if model_field is not None else name


def _field_names(model: type[models.Model], record: Any) -> list[str]:
    return [f.name for f in record.tracked_fields if f.name not in NOISE]


def describe(model: type[models.Model], record: Any) -> Change:
    kinds = {"+": _("created"), "~": _("changed"), "-": _("deleted")}
    change = Change(when=record.history_date, user=record.history_user,
                    kind=kinds.get(record.history_type, record.history_type),
                    subject=_subject(model, record))
    names = _field_names(model, record)
    if record.history_type == "-":
        return change
    prev = record.prev_record if record.history_type == "~" else None
    # Compared by hand rather than with diff_against(): simple-history's diff goes through
    # model_to_dict(), which skips non-editable fields — exactly the derived Web API URL
    # and the secret witnesses the audit must show.
    pairs = []
    for name in names:
        attname = _attname(model, name)
        new = getattr(record, attname, None)
        old = getattr(prev, attname, None) if prev is not None else None
        if (prev is not None and old != new) or (prev is None and new not in (None, "")):
            pairs.append((name, old, new))
    for name, old, new in pairs:
        if name in SECRET_WITNESSES:
            change.fields.append(FieldChange(label=_(SECRET_WITNESSES[name]), secret=True))
        else:
            change.fields.append(FieldChange(
                label=_label(model, name), old=_display(model, name, old) if prev else "",
                new=_display(model, name, new)))
    return change


def describe_page(rows: Sequence[tuple[int, int, datetime]] | Iterable[Any]) -> list[Change]:
    rows = list(rows)
    wanted: dict[int, list[int]] = defaultdict(list)
    for source, history_id, _date in rows:
        wanted[source].append(history_id)
    records: dict[tuple[int, int], Any] = {}
    for source, ids in wanted.items():
        history_manager = AUDITED[source].history  # type: ignore[attr-defined]
        for record in history_manager.filter(history_id__in=ids).select_related("history_user"):
            records[(source, record.history_id)] = record
    return [describe(AUDITED[source], records[(source, hid)]) for source, hid, _d in rows]
