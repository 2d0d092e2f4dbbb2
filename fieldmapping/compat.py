"""Which CRM attribute may be mapped to which subscriber field (C12).

The rules, as an admin sees them:

=========================================  ===========================================
CRM attribute type                          subscriber field type
=========================================  ===========================================
String, Memo                                text
Integer, BigInt, Decimal, Double, Money     number
DateTime with behaviour *DateOnly*          date
DateTime *UserLocal* / *TimeZoneIndependent*  date and time
Boolean                                     yes/no
Picklist, State, Status (single choice)     single select, with every CRM value mapped
                                            to one of the field's options (no "ignore":
                                            C12 asks for a value-by-value mapping, and an
                                            unmapped value would silently lose data)
MultiSelectPicklist                         refused: not supported (C12)
Lookup, Customer                            not directly: choose an attribute of the
                                            related record, which must itself fit the
                                            field; such mappings are CRM → mailworx only
Owner, Uniqueidentifier, other              not mappable
=========================================  ===========================================

A choice is *not* mapped to a text field (its label would be a one-way copy that breaks
when labels are translated or renamed); a date-only value is not mapped to a date-and-time
field nor the other way round (date-only values have no time zone; user-local ones do).
Multi-select subscriber fields therefore have no CRM counterpart.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from audience.models import FieldType
from fieldmapping.models import AttributeType, CrmAttribute, DateBehavior

CHOICE_TYPES = frozenset({AttributeType.PICKLIST, AttributeType.STATE, AttributeType.STATUS})

# The one table (the rules above): which CRM attribute types fill which subscriber field
# type. Pages, the API and the checks all read it; date and time is split further by the
# attribute's date behaviour (_date_fits).
COMPATIBLE: dict[FieldType, frozenset[AttributeType]] = {
    FieldType.TEXT: frozenset({AttributeType.STRING, AttributeType.MEMO}),
    FieldType.NUMBER: frozenset({AttributeType.INTEGER, AttributeType.BIGINT,
                                 AttributeType.DECIMAL, AttributeType.DOUBLE,
                                 AttributeType.MONEY}),
    FieldType.DATE: frozenset({AttributeType.DATETIME}),
    FieldType.DATETIME: frozenset({AttributeType.DATETIME}),
    FieldType.BOOLEAN: frozenset({AttributeType.BOOLEAN}),
    FieldType.SINGLE_SELECT: CHOICE_TYPES,
    FieldType.MULTI_SELECT: frozenset(),  # no CRM counterpart is supported (C12)
}
# Shown, marked "not supported", and refused with their own message (C12).
UNSUPPORTED = frozenset({AttributeType.MULTISELECT})
_UNMAPPABLE = {AttributeType.OWNER, AttributeType.UNIQUEIDENTIFIER, AttributeType.OTHER}


def _date_fits(attribute: CrmAttribute, field_type: FieldType) -> bool:
    date_only = attribute.date_behavior == DateBehavior.DATE_ONLY
    if field_type == FieldType.DATE:
        return date_only
    if field_type == FieldType.DATETIME:
        return not date_only
    return True


def target_field_type(attribute: CrmAttribute) -> FieldType | None:
    """The subscriber field type a (non-lookup) attribute maps to, or None."""
    for field_type, kinds in COMPATIBLE.items():
        if attribute.attribute_type in kinds and _date_fits(attribute, field_type):
            return field_type
    return None


def is_supported(attribute: CrmAttribute) -> bool:
    return attribute.attribute_type not in UNSUPPORTED


def offered_for(attribute: CrmAttribute, field_type: FieldType | str | None) -> bool:
    """Whether the attribute list offers ``attribute`` for a field of ``field_type``
    (None: no field chosen yet, every mappable attribute). A lookup is offered for any
    field: the related record's attribute is chosen next, and checked then."""
    if attribute.is_lookup:
        return True
    target = target_field_type(attribute)
    return target is not None and (field_type is None or target == FieldType(field_type))


def incompatibility(attribute: CrmAttribute, field_type: FieldType | str) -> str | None:
    """Why ``attribute`` cannot fill a field of ``field_type``; None when it can.

    ``attribute`` is the attribute whose value is copied (for a lookup path, the related
    record's attribute).
    """
    field_type = FieldType(field_type)
    kind = attribute.attribute_type
    if kind == AttributeType.MULTISELECT:
        return _("Multi-select option sets are not supported: “%(attr)s” allows several "
                 "choices at once. Map a single-select option set or a text attribute "
                 "instead.") % {"attr": attribute.display_name}
    if attribute.is_lookup:
        return _("“%(attr)s” is a lookup: choose which attribute of the related record to "
                 "copy.") % {"attr": attribute.display_name}
    if kind in _UNMAPPABLE:
        return _("“%(attr)s” (%(type)s) cannot be mapped to a subscriber field.") % {
            "attr": attribute.display_name, "type": attribute.type_label}
    expected = target_field_type(attribute)
    if expected == field_type:
        return None
    if kind == AttributeType.DATETIME and field_type in (FieldType.DATE, FieldType.DATETIME):
        if field_type == FieldType.DATE:
            return _("“%(attr)s” holds a date and time; map it to a date-and-time field, "
                     "not to a date field.") % {"attr": attribute.display_name}
        return _("“%(attr)s” holds a date only (no time, no time zone); map it to a date "
                 "field, not to a date-and-time field.") % {"attr": attribute.display_name}
    return _("“%(attr)s” (%(type)s) does not fit a subscriber field of type “%(field)s”; "
             "it fits a field of type “%(expected)s”.") % {
        "attr": attribute.display_name, "type": attribute.type_label,
        "field": field_type.label, "expected": expected.label if expected else "-"}


def is_mappable(attribute: CrmAttribute) -> bool:
    return attribute.is_lookup or target_field_type(attribute) is not None
