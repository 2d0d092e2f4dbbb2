"""Stored rows → Web API JSON, including the optional annotations."""

from __future__ import annotations

import fnmatch
from datetime import datetime
from typing import Any

from dynamics_emulator.clock import parse_dt
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.schema.model import Attr, Entity
from dynamics_emulator.server_time import charge

FORMATTED = "OData.Community.Display.V1.FormattedValue"
LOGICAL = "Microsoft.Dynamics.CRM.lookuplogicalname"
NAVPROP = "Microsoft.Dynamics.CRM.associatednavigationproperty"


class Annotations:
    def __init__(self, pref: str | None) -> None:
        self.patterns = [p.strip() for p in (pref or "").split(",") if p.strip()]

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def wants(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, p) for p in self.patterns)


def etag(row: dict[str, Any]) -> str:
    return f'W/"{row["versionnumber"]}"'


def prop_name(attr: Attr) -> str:
    return f"_{attr.name}_value" if attr.is_lookup else attr.name


def to_json(attr: Attr, value: Any) -> Any:
    if value is None:
        return None
    if attr.kind == "Boolean":
        return bool(value)
    if attr.kind in ("Integer", "Picklist", "State", "Status", "BigInt"):
        return int(value)
    return value


def _format_dt(text: str, attr: Attr) -> str:
    if attr.date_behavior == "DateOnly":
        d = datetime.fromisoformat(text[:10])
        return f"{d.month}/{d.day}/{d.year}"
    v = parse_dt(text)
    hour = v.hour % 12 or 12
    return f"{v.month}/{v.day}/{v.year} {hour}:{v.minute:02d} {'AM' if v.hour < 12 else 'PM'}"


def formatted(ctx: Ctx, attr: Attr, row: dict[str, Any]) -> str | None:
    value = row.get(attr.name)
    if value is None:
        return None
    if attr.kind == "Boolean":
        return attr.true_label[0] if value else attr.false_label[0]
    if attr.kind in ("Picklist", "State", "Status"):
        opt = attr.option(int(value))
        return opt.en if opt else str(value)
    if attr.is_multi:
        labels = [attr.option(int(v)) for v in str(value).split(",") if v]
        return "; ".join(o.en for o in labels if o)
    if attr.kind == "DateTime":
        return _format_dt(str(value), attr)
    if attr.kind == "Money":
        return f"${float(value):,.2f}"
    if attr.kind in ("Integer", "BigInt"):
        return f"{int(value):,}"
    if attr.kind == "Decimal":
        return f"{float(value):,.2f}"
    if attr.is_lookup:
        target_name = row.get(f"{attr.name}_t")
        if not target_name:
            return None
        target = ctx.org.schema.entity(target_name)
        name = ctx.org.store.scalar(
            f'SELECT "{target.primary_name}" FROM "{target.name}" '
            f'WHERE "{target.primary_id}" = ?', (value,))
        return str(name) if name is not None else None
    return None


def _nav_for(ent: Entity, attr: Attr, target: str | None) -> str:
    for nav in ent.nav_props().values():
        if nav.attr == attr.name and (target is None or target in nav.targets):
            return nav.name
    return attr.name


def record(ctx: Ctx, ent: Entity, row: dict[str, Any], select: list[Attr] | None,
           notes: Annotations) -> dict[str, Any]:
    charge("read")  # a row returned to the client (server_time.py)
    out: dict[str, Any] = {"@odata.etag": etag(row)}
    attrs = select if select is not None else [a for a in ent.attrs.values() if a.read]
    if ent.attrs[ent.primary_id] not in attrs:
        attrs = [*attrs, ent.attrs[ent.primary_id]]  # the key always comes back
    for attr in attrs:
        name = prop_name(attr)
        value = row.get(attr.name)
        if notes and value is not None:
            if notes.wants(FORMATTED):
                text = formatted(ctx, attr, row)
                if text is not None:
                    out[f"{name}@{FORMATTED}"] = text
            if attr.is_lookup:
                target = row.get(f"{attr.name}_t")
                if notes.wants(NAVPROP):
                    out[f"{name}@{NAVPROP}"] = _nav_for(ent, attr, target)
                if notes.wants(LOGICAL):
                    out[f"{name}@{LOGICAL}"] = target
        out[name] = to_json(attr, value)
    if ent.name in ("systemuser", "team"):
        # The principal key (docs/dataverse-webapi.md §Tables and keys).
        out["ownerid"] = row[ent.primary_id]
    return out
