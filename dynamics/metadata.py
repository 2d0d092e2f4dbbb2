"""Attribute metadata of a table, with option sets and German/English labels (C10).

Type-specific properties (MaxLength, Targets, DateTimeBehavior, OptionSet) can only be
read through a cast to the derived metadata type, so one request per type is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from dynamics.errors import BadRequest, NotFound
from dynamics.odata import string_literal
from dynamics.records import RecordsApi

LANGUAGES = (1031, 1033)  # German, English


@dataclass
class OptionInfo:
    value: int
    labels: dict[int, str]  # language code -> label


@dataclass
class AttributeInfo:
    logical_name: str
    attribute_type: str  # AttributeType, e.g. "String", "Picklist", "Lookup", "Virtual"
    type_name: str  # AttributeTypeName.Value, e.g. "MultiSelectPicklistType"
    labels: dict[int, str] = field(default_factory=dict)
    valid_for_update: bool = False
    valid_for_create: bool = False
    required_level: str = "None"
    max_length: int | None = None
    targets: list[str] = field(default_factory=list)  # lookup target tables
    date_time_behavior: str | None = None  # UserLocal, DateOnly, TimeZoneIndependent
    date_time_format: str | None = None
    options: list[OptionInfo] = field(default_factory=list)

    @property
    def is_multi_select(self) -> bool:
        return self.type_name == "MultiSelectPicklistType" or \
            self.attribute_type == "MultiSelectPicklist"

    @property
    def is_option_set(self) -> bool:
        return self.attribute_type in ("Picklist", "State", "Status") or self.is_multi_select


def labels_of(label: Any) -> dict[int, str]:
    """German and English text from a `Label` object (LocalizedLabels)."""
    out: dict[int, str] = {}
    if not isinstance(label, dict):
        return out
    for item in label.get("LocalizedLabels") or []:
        if isinstance(item, dict) and item.get("LanguageCode") in LANGUAGES:
            out[int(item["LanguageCode"])] = str(item.get("Label") or "")
    return out


def _managed(value: Any) -> Any:
    return value.get("Value") if isinstance(value, dict) else value


_CASTS: dict[str, tuple[str, str | None]] = {
    "StringAttributeMetadata": ("MaxLength", None),
    "MemoAttributeMetadata": ("MaxLength", None),
    "LookupAttributeMetadata": ("Targets", None),
    "DateTimeAttributeMetadata": ("DateTimeBehavior,Format", None),
    "PicklistAttributeMetadata": ("LogicalName", "OptionSet"),
    "MultiSelectPicklistAttributeMetadata": ("LogicalName", "OptionSet"),
    "StateAttributeMetadata": ("LogicalName", "OptionSet"),
    "StatusAttributeMetadata": ("LogicalName", "OptionSet"),
}


class MetadataApi(RecordsApi):
    def entity_definition(self, logical_name: str) -> dict[str, Any]:
        data = self.transport.get_json(
            f"EntityDefinitions(LogicalName={string_literal(logical_name)})",
            {"$select": "LogicalName,EntitySetName,PrimaryIdAttribute,PrimaryNameAttribute,"
                        "ChangeTrackingEnabled,DisplayName,ObjectTypeCode"})
        return data if isinstance(data, dict) else {}

    def entity_attributes(self, logical_name: str) -> list[AttributeInfo]:
        base = f"EntityDefinitions(LogicalName={string_literal(logical_name)})/Attributes"
        rows = self._values(base, {
            "$select": "LogicalName,AttributeType,AttributeTypeName,DisplayName,"
                       "IsValidForUpdate,IsValidForCreate,RequiredLevel,AttributeOf"})
        attrs: dict[str, AttributeInfo] = {}
        for row in rows:
            if row.get("AttributeOf"):
                continue  # helper columns such as `<lookup>name` belong to another attribute
            name = str(row.get("LogicalName"))
            attrs[name] = AttributeInfo(
                logical_name=name,
                attribute_type=str(row.get("AttributeType") or ""),
                type_name=str(_managed(row.get("AttributeTypeName")) or ""),
                labels=labels_of(row.get("DisplayName")),
                valid_for_update=bool(row.get("IsValidForUpdate")),
                valid_for_create=bool(row.get("IsValidForCreate")),
                required_level=str(_managed(row.get("RequiredLevel")) or "None"))
        for cast, (select, expand) in _CASTS.items():
            params = {"$select": select if "LogicalName" in select else f"LogicalName,{select}"}
            if expand:
                params["$expand"] = expand
            try:
                typed = self._values(f"{base}/Microsoft.Dynamics.CRM.{cast}", params)
            except (BadRequest, NotFound):
                continue  # an older server without this type (e.g. multi-select on 8.x)
            for row in typed:
                attr = attrs.get(str(row.get("LogicalName")))
                if attr is not None:
                    _apply_cast(attr, row)
        return list(attrs.values())

    def _values(self, path: str, params: Mapping[str, str | int]) -> list[dict[str, Any]]:
        data = self.transport.get_json(path, params)
        rows = data.get("value") if isinstance(data, dict) else None
        return [r for r in rows or [] if isinstance(r, dict)]


def _apply_cast(attr: AttributeInfo, row: dict[str, Any]) -> None:
    if row.get("MaxLength") is not None:
        attr.max_length = int(row["MaxLength"])
    if isinstance(row.get("Targets"), list):
        attr.targets = [str(t) for t in row["Targets"]]
    if row.get("DateTimeBehavior") is not None:
        attr.date_time_behavior = str(_managed(row["DateTimeBehavior"]))
        attr.date_time_format = str(row.get("Format") or "") or None
    option_set = row.get("OptionSet")
    if isinstance(option_set, dict):
        attr.options = [OptionInfo(int(o["Value"]), labels_of(o.get("Label")))
                        for o in option_set.get("Options") or []
                        if isinstance(o, dict) and o.get("Value") is not None]
