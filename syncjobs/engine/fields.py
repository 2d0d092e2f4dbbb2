"""Field mappings as the engine uses them, and value conversion CRM ↔ mailworx (C12-C14).

Values on the mailworx side are the canonical text of ``audience.subscribers.clean_value``;
``synced_values`` hold the same form, so comparisons never depend on the CRM's JSON types.
Decisions:
* option sets go through the OptionMapping; a CRM value without an option is not copied
  (counted as skipped) rather than clearing the field;
* date-only CRM columns are copied as the plain ``YYYY-MM-DD`` text, never through a
  datetime, so no time zone can shift them;
* lookup paths (contact.parentcustomerid → account.name) are read with one ``In`` query
  per related table and flow CRM → mailworx only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from decimal import Decimal, InvalidOperation
from typing import Any

from audience.models import FieldType, SubscriberField
from audience.subscribers import SubscriberError, clean_value
from dynamics.crm_api import CrmApi
from fieldmapping.models import AttributeType, Direction, FieldMapping
from mailworx_crm.email_address import same_address
from mailworx_crm.entity_types import entity_set, primary_key
from syncjobs.engine.entities import BASE_COLUMNS

_INTEGER_TYPES = {AttributeType.INTEGER, AttributeType.BIGINT}


@dataclass
class MappedField:
    key: str  # subscriber field key
    sub_field: SubscriberField
    attribute: str  # CRM column of the synced record (the lookup for a path)
    attribute_type: str
    related_entity: str = ""  # lookup paths: table and column of the related record
    related_attribute: str = ""
    two_way: bool = True
    crm_to_option: dict[int, str] = dc_field(default_factory=dict)
    option_to_crm: dict[str, int] = dc_field(default_factory=dict)

    @property
    def is_lookup_path(self) -> bool:
        return bool(self.related_entity)

    @property
    def column(self) -> str:
        """What to ``$select`` on the synced record."""
        return f"_{self.attribute}_value" if self.is_lookup_path else self.attribute


def load_mappings(unit_id: int | None, entity_type: str) -> list[MappedField]:
    """The usable mappings of a business unit for one entity type (vanished ones skipped)."""
    if unit_id is None:
        return []
    result = []
    qs = (FieldMapping.objects.filter(business_unit_id=unit_id, entity_type=entity_type)
          .select_related("crm_attribute", "related_attribute", "subscriber_field")
          .prefetch_related("option_mappings__subscriber_option", "subscriber_field__options"))
    for m in qs:
        attr, related = m.crm_attribute, m.related_attribute
        if not attr.present or (related is not None and not related.present):
            continue
        source = related or attr
        mf = MappedField(
            key=m.subscriber_field.key, sub_field=m.subscriber_field, attribute=attr.logical_name,
            attribute_type=source.attribute_type,
            related_entity=related.entity if related else "",
            related_attribute=related.logical_name if related else "",
            two_way=(m.direction == Direction.BOTH and related is None
                     and attr.is_valid_for_update),
        )
        for om in sorted(m.option_mappings.all(), key=lambda o: o.crm_value):
            mf.crm_to_option[om.crm_value] = om.subscriber_option.value
            mf.option_to_crm.setdefault(om.subscriber_option.value, om.crm_value)
        result.append(mf)
    return result


def select_columns(entity: str, mapped: Iterable[MappedField]) -> list[str]:
    cols = [primary_key(entity), *BASE_COLUMNS]
    for mf in mapped:
        if mf.column not in cols:
            cols.append(mf.column)
    return cols


UNMAPPED = object()  # a CRM option value with no mailworx option


def to_mailworx(mf: MappedField, raw: Any) -> Any:
    """CRM JSON value → canonical mailworx text ("" = empty); ``UNMAPPED`` if not copyable."""
    if raw is None:
        return ""
    if mf.crm_to_option or mf.sub_field.type_enum is FieldType.SINGLE_SELECT:
        try:
            return mf.crm_to_option.get(int(raw), UNMAPPED)
        except (TypeError, ValueError):
            return UNMAPPED
    if mf.sub_field.type_enum is FieldType.DATE:
        return str(raw)[:10]  # DateOnly: the calendar day as sent, no time zone involved
    try:
        return clean_value(mf.sub_field, raw)
    except SubscriberError:
        return UNMAPPED


def to_crm(mf: MappedField, value: str) -> Any:
    """Canonical mailworx text → the CRM column's JSON value."""
    if value == "":
        return None
    if mf.option_to_crm or mf.sub_field.type_enum is FieldType.SINGLE_SELECT:
        return mf.option_to_crm.get(value)
    ftype = mf.sub_field.type_enum
    if ftype is FieldType.BOOLEAN:
        return value == "true"
    if ftype is FieldType.NUMBER:
        number = Decimal(value)
        return int(number) if mf.attribute_type in _INTEGER_TYPES else float(number)
    return value


def same(mf: MappedField, a: str | None, b: str | None) -> bool:
    """Equal as values of the field (``12.50`` = ``12.5`` for numbers)."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    if mf.sub_field.type_enum is FieldType.NUMBER and a and b:
        try:
            return Decimal(a) == Decimal(b)
        except InvalidOperation:
            return False
    if mf.key == SubscriberField.EMAIL:
        return same_address(a, b)
    return False


def related_values(client: CrmApi, rows: Sequence[dict[str, Any]],
                   mapped: Iterable[MappedField]) -> dict[tuple[str, str], Any]:
    """Values of lookup paths: ``{(row id of the related record, column): value}``.

    One ``In`` query per related table (chunked by the client), whatever the row count.
    """
    wanted: dict[str, set[str]] = {}
    ids: dict[str, set[str]] = {}
    for mf in mapped:
        if not mf.is_lookup_path:
            continue
        wanted.setdefault(mf.related_entity, set()).add(mf.related_attribute)
        for row in rows:
            value = row.get(mf.column)
            if value:
                ids.setdefault(mf.related_entity, set()).add(str(value).lower())
    out: dict[tuple[str, str], Any] = {}
    for entity, columns in wanted.items():
        if not ids.get(entity):
            continue
        pk = primary_key(entity)
        for rel in client.lookup_in(entity_set(entity), pk, sorted(ids[entity]),
                                    [pk, *sorted(columns)]):
            for col in columns:
                out[(str(rel.get(pk, "")).lower(), col)] = rel.get(col)
    return out


def crm_value(mf: MappedField, row: dict[str, Any],
              related: dict[tuple[str, str], Any]) -> Any:
    """The mapped field's mailworx value for a CRM row (``UNMAPPED`` if not copyable)."""
    if mf.is_lookup_path:
        target = row.get(mf.column)
        if not target:
            return ""
        key = (str(target).lower(), mf.related_attribute)
        # A polymorphic lookup pointing at another table has no such value: empty.
        return to_mailworx(mf, related.get(key))
    return to_mailworx(mf, row.get(mf.attribute))
