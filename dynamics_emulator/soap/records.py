"""Records between the SOAP data contracts and the emulator's storage.

Writes go through `writes.create/update` (the Web API's validation, audit columns, state
rules and change log), so a typed `Entity` is turned into the Web API body those take;
reads turn stored rows into typed attributes by the column's metadata type.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dynamics_emulator.clock import parse_dt
from dynamics_emulator.http_types import DataverseError
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.schema.model import Attr, Entity
from dynamics_emulator.soap.contracts import (
    EntityData,
    EntityRef,
    Money,
    OptionSet,
    fmt_datetime,
)

INVALID_ARGUMENT = "0x80040203"
# .NET type names the real fault message quotes for a wrongly typed attribute value.
_DOTNET = {str: "System.String", int: "System.Int32", bool: "System.Boolean",
           Decimal: "System.Decimal", float: "System.Double", datetime: "System.DateTime",
           EntityRef: "Microsoft.Xrm.Sdk.EntityReference",
           OptionSet: "Microsoft.Xrm.Sdk.OptionSetValue", Money: "Microsoft.Xrm.Sdk.Money"}
_ACCEPTS: dict[str, tuple[type, ...]] = {
    "String": (str,), "Memo": (str,), "EntityName": (str,), "Integer": (int,),
    "BigInt": (int,), "Decimal": (Decimal,), "Double": (float,), "Money": (Money,),
    "Boolean": (bool,), "DateTime": (datetime,), "Picklist": (OptionSet,),
    "State": (OptionSet,), "Status": (OptionSet,), "Uniqueidentifier": (str,),
    "Lookup": (EntityRef,), "Customer": (EntityRef,), "Owner": (EntityRef,),
    "Virtual": (list,),
}


def entity_of(ctx: Ctx, logical_name: str) -> Entity:
    ent = ctx.org.schema.by_name.get(logical_name)
    if ent is None:
        raise DataverseError(400, "0x80040217" if logical_name else INVALID_ARGUMENT,
                             f"The entity with a name = '{logical_name}' was not found in the "
                             f"MetadataCache.")
    return ent


def typed_value(attr: Attr, value: Any, row: dict[str, Any] | None = None) -> Any:
    """Stored value → the contract type a CRM 2013–2016 server returns for the column."""
    if value is None:
        return None
    kind = attr.kind
    if attr.is_lookup:
        target = (row or {}).get(f"{attr.name}_t") or (attr.targets[0] if attr.targets else "")
        return EntityRef(str(target), str(value))
    if kind in ("Picklist", "State", "Status"):
        return OptionSet(int(value))
    if kind == "Virtual":
        return [OptionSet(int(v)) for v in str(value).split(",") if v]
    if kind == "Money":
        return Money(Decimal(str(value)))
    if kind == "Decimal":
        return Decimal(str(value))
    if kind == "Double":
        return float(value)
    if kind in ("Integer", "BigInt"):
        return int(value)
    if kind == "Boolean":
        return bool(value)
    if kind == "DateTime":
        text = str(value)
        return parse_dt(text if len(text) > 10 else text + "T00:00:00Z")
    if kind == "Uniqueidentifier":
        return uuid.UUID(str(value))
    return str(value)


def has_row_version(ctx: Ctx) -> bool:
    """Optimistic concurrency (Entity.RowVersion, UpdateRequest.ConcurrencyBehavior) came
    with CRM 2015 Update 1 (7.1); CRM 2013 and 2015 RTM have neither."""
    major, minor, *_rest = (int(p) for p in ctx.org.version.split("."))
    return (major, minor) >= (7, 1)


def row_entity(ent: Entity, row: dict[str, Any], columns: list[str] | None, *,
               row_version: bool = False) -> EntityData:
    """A stored row as an `Entity`: non-null readable columns (all, or the ColumnSet's, to
    which the platform adds the primary key), and its RowVersion where the server has
    one (`has_row_version`)."""
    attrs = [a for a in ent.attrs.values() if a.read] if columns is None else \
        [column(ent, c) for c in dict.fromkeys([*columns, ent.primary_id])]
    data = EntityData(ent.name, str(row[ent.primary_id]))
    if row_version and row.get("versionnumber") is not None:
        data.row_version = str(row["versionnumber"])
    for attr in attrs:
        value = typed_value(attr, row.get(attr.name), row)
        if value is not None:
            data.attributes[attr.name] = value
            label = _label(attr, row.get(attr.name))
            if label is not None:
                data.formatted[attr.name] = label
    return data


def _label(attr: Attr, value: Any) -> str | None:
    if attr.kind in ("Picklist", "State", "Status") and value is not None:
        opt = attr.option(int(value))
        return opt.en if opt else None
    if attr.kind == "Boolean" and value is not None:
        return attr.true_label[0] if value else attr.false_label[0]
    return None


def column(ent: Entity, name: str) -> Attr:
    attr = ent.attr(name)
    if attr is None:
        raise DataverseError(400, INVALID_ARGUMENT,
                             f"'{ent.schema_name}' entity doesn't contain attribute with Name = "
                             f"'{name}'.")
    return attr


def web_body(ctx: Ctx, ent: Entity, data: EntityData) -> dict[str, Any]:
    """The Web API body `writes.create/update` take for a typed `Entity`."""
    body: dict[str, Any] = {}
    navs = ent.nav_props()
    for name, value in data.attributes.items():
        attr = column(ent, name)
        if value is not None and not isinstance(value, _ACCEPTS.get(attr.kind, (object,))):
            raise DataverseError(400, INVALID_ARGUMENT, "Incorrect attribute value type "
                                 f"{_DOTNET.get(type(value), type(value).__name__)}")
        if attr.is_lookup:
            ref = value if isinstance(value, EntityRef) else None
            nav = _nav_for(navs, attr, ref.logical_name if ref is not None else None)
            body[f"{nav}@odata.bind"] = None if ref is None else _bind(ctx, ref)
            continue
        body[name] = _json_value(attr, value)
    if data.id:
        body[ent.primary_id] = data.id
    return body


def _nav_for(navs: dict[str, Any], attr: Attr, target: str | None) -> str:
    candidates = [n for n in navs.values() if n.attr == attr.name]
    for nav in candidates:
        if target is None or target in nav.targets:
            return str(nav.name)
    raise DataverseError(400, INVALID_ARGUMENT,
                         f"The entity '{target}' is not a valid target for '{attr.name}'.")


def _bind(ctx: Ctx, ref: EntityRef) -> str:
    target = entity_of(ctx, ref.logical_name)
    return f"/{target.set_name}({ref.id})"


def _json_value(attr: Attr, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, OptionSet):
        return value.value
    if isinstance(value, Money):
        return float(value.value)
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        if attr.date_behavior == "DateOnly":
            return value.astimezone(UTC).strftime("%Y-%m-%d")
        return fmt_datetime(value)
    if isinstance(value, list):
        return ",".join(str(o.value) for o in value)
    return value
