"""Attribute values between the engine's Web API shape and the Organization Service's types.

The engine reads and writes rows as the Web API has them: lookups as `_x_value` (reads) and
`x@odata.bind` (writes), option sets as numbers, dates as ISO text. The SOAP contracts type
every value (`xsi:type`): EntityReference, OptionSetValue, Money, dateTime … This module
converts both ways, so the engine never sees which protocol answered.
"""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Mapping
from typing import Any

from zeep import xsd
from zeep.xsd.valueobjects import CompoundValue

from dynamics.soap.service import NS_SERIAL, OrganizationService

# The entity sets the engine names, and their tables; other sets follow the plural rule.
_SETS = {"contacts": "contact", "accounts": "account", "leads": "lead", "lists": "list",
         "campaigns": "campaign", "campaignactivities": "campaignactivity",
         "systemusers": "systemuser", "teams": "team", "businessunits": "businessunit",
         "roles": "role", "tasks": "task", "mwx_emailreactions": "mwx_emailreaction",
         "transactioncurrencies": "transactioncurrency", "listmembers": "listmember"}
_BIND = re.compile(r"^/?([A-Za-z_]+)\(([0-9a-fA-F-]{36})\)$")
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$")
OPTION_TYPES = frozenset({"Picklist", "State", "Status"})


# Activity tables share the primary key `activityid` (the Web API names their records by it).
ACTIVITY_TABLES = frozenset({"campaignactivity", "mwx_emailreaction", "task", "email",
                             "phonecall", "appointment", "letter", "fax"})


def primary_key_of(table: str) -> str:
    return "activityid" if table in ACTIVITY_TABLES else f"{table}id"


def table_of_set(entity_set: str) -> str:
    if entity_set in _SETS:
        return _SETS[entity_set]
    if entity_set.endswith("ies"):
        return entity_set[:-3] + "y"
    return entity_set[:-1] if entity_set.endswith("s") else entity_set


def set_of_table(table: str) -> str:
    for entity_set, name in _SETS.items():
        if name == table:
            return entity_set
    return table[:-1] + "ies" if table.endswith("y") else table + "s"


class Guid(str):
    """A value sent as `ser:guid` (ids in message parameters)."""


class OptionSet(int):
    """A value sent as OptionSetValue."""


class ValueWriter:
    """Python values → zeep values for one service (its type factory)."""

    def __init__(self, service: OrganizationService) -> None:
        self.service = service
        self._guid = service.zeep.get_type(f"{{{NS_SERIAL}}}guid")

    def reference(self, table: str, record_id: str) -> Any:
        return self.service.types.EntityReference(Id=record_id, LogicalName=table)

    def entity(self, table: str, attributes: Mapping[str, Any],
               types: Mapping[str, str] | None = None, record_id: str | None = None) -> Any:
        """An Entity from a Web API-shaped body (`x@odata.bind`, numbers for option sets)."""
        pairs = []
        for key, value in attributes.items():
            name, typed = self.attribute(key, value, (types or {}))
            pairs.append(self.service.generic.KeyValuePairOfstringanyType(key=name, value=typed))
        t = self.service.types
        return t.Entity(Attributes=t.AttributeCollection(KeyValuePairOfstringanyType=pairs),
                        Id=record_id or "00000000-0000-0000-0000-000000000000",
                        LogicalName=table)

    def attribute(self, key: str, value: Any, types: Mapping[str, str]) -> tuple[str, Any]:
        if key.endswith("@odata.bind"):
            nav = key[:-len("@odata.bind")]
            if value is None:
                return _lookup_name(nav), None
            match = _BIND.match(str(value).rsplit("/api/data/", 1)[-1].split("/", 1)[-1]
                                if "/api/data/" in str(value) else str(value))
            if not match:
                raise ValueError(f"cannot bind {key} to {value!r}")
            target = table_of_set(match.group(1))
            return _lookup_name(nav, target), self.reference(target, match.group(2).lower())
        kind = types.get(key, "")
        if value is None:
            return key, None
        if kind in OPTION_TYPES or isinstance(value, OptionSet) or (
                not kind and isinstance(value, int) and not isinstance(value, bool)
                and key.endswith("code")):
            return key, self.service.types.OptionSetValue(Value=int(value))
        if kind == "Money":
            return key, self.service.types.Money(Value=decimal.Decimal(str(value)))
        return key, self.value(value, kind)

    def value(self, value: Any, kind: str = "") -> Any:
        """A plain parameter or attribute value with its xsi:type."""
        if value is None or isinstance(value, CompoundValue):
            return value
        if isinstance(value, Guid) or (kind in ("Uniqueidentifier", "Lookup") and isinstance(
                value, str)):
            return xsd.AnyObject(self._guid, str(value))
        if isinstance(value, bool):
            return xsd.AnyObject(xsd.Boolean(), value)
        if isinstance(value, int):
            return xsd.AnyObject(xsd.Long() if kind == "BigInt" else xsd.Int(), value)
        if isinstance(value, float | decimal.Decimal):
            if kind == "Double":
                return xsd.AnyObject(xsd.Double(), float(value))
            return xsd.AnyObject(xsd.Decimal(), decimal.Decimal(str(value)))
        if isinstance(value, dt.datetime):
            return xsd.AnyObject(xsd.DateTime(), value)
        if isinstance(value, str) and (kind == "DateTime" or (not kind and _ISO.match(value))):
            return xsd.AnyObject(xsd.DateTime(), parse_datetime(value))
        return xsd.AnyObject(xsd.String(), str(value))


def _lookup_name(nav: str, target: str | None = None) -> str:
    """`parentcustomerid_account` → `parentcustomerid`,
    `regardingobjectid_campaign_campaignactivity` → `regardingobjectid`: the navigation
    property of a lookup with several targets names the target (and, for activities'
    regarding, the source table); the attribute does not."""
    if target:
        match = re.match(rf"^(.+?)_{re.escape(target)}(_[a-z0-9_]+)?$", nav)
        if match:
            return match.group(1)
    return nav


def parse_datetime(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def iso(value: dt.datetime) -> str:
    if value.tzinfo is not None:
        value = value.astimezone(dt.UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


# -- reading ---------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """A zeep value as the Web API's JSON would carry it (references are handled by `row`)."""
    if isinstance(value, CompoundValue):
        fields = set(value)
        if "Value" in fields and "AttributeLogicalName" not in fields:
            inner = value["Value"]
            return float(inner) if isinstance(inner, decimal.Decimal) else inner
        if "AttributeLogicalName" in fields:
            return plain(value["Value"])
        if "Id" in fields:
            return str(value["Id"]).lower()
        return None
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, decimal.Decimal):
        return float(value)
    if isinstance(value, list):
        return None  # a type this subset does not model
    return value


def _is_reference(value: Any) -> bool:
    return isinstance(value, CompoundValue) and "LogicalName" in set(value) and \
        "Id" in set(value)


def row(entity: Any) -> dict[str, Any]:
    """An Entity as a Web API row: lookups as `_x_value` (with the lookup's table as the
    Web API annotates it), aliased link columns by their alias, the rest as plain values."""
    out: dict[str, Any] = {}
    table = str(entity.LogicalName or "")
    pairs = getattr(entity.Attributes, "KeyValuePairOfstringanyType", None) or []
    for pair in pairs:
        key, value = str(pair.key), pair.value
        if isinstance(value, CompoundValue) and "AttributeLogicalName" in set(value):
            value = value["Value"]
        if _is_reference(value):
            out[f"_{key}_value"] = str(value["Id"]).lower()
            out[f"_{key}_value@Microsoft.Dynamics.CRM.lookuplogicalname"] = str(
                value["LogicalName"])
        else:
            out[key] = plain(value)
    if entity.Id and f"{table}id" not in out:
        out[f"{table}id"] = str(entity.Id).lower()
    version = getattr(entity, "RowVersion", None)
    if version:  # 7.1 and later: the Web API's ETag of the same row
        out["@odata.etag"] = f'W/"{version}"'
    formatted = getattr(entity.FormattedValues, "KeyValuePairOfstringstring", None) or []
    for pair in formatted:
        key = str(pair.key)
        target = f"_{key}_value" if f"_{key}_value" in out else key
        out[f"{target}@OData.Community.Display.V1.FormattedValue"] = pair.value
    return out
