"""Create, update/upsert and delete: body validation, lookups by `@odata.bind`, state rules."""

from __future__ import annotations

import re
import uuid
from typing import Any

from dynamics_emulator.clock import fmt_dt, parse_dt
from dynamics_emulator.http_types import DataverseError, bad_request, not_found
from dynamics_emulator.lists import touch_list
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.schema.model import Attr, Entity
from dynamics_emulator.server_time import charge

_BIND = re.compile(r"^(?:.*/api/data/v[0-9.]+/|/)?([A-Za-z0-9_]+)\(([^)]*)\)$")
_PAYLOAD = ("Error identified in Payload provided by the user for Entity :'{set}', For more "
            "information on this error please follow this help link "
            "https://go.microsoft.com/fwlink/?linkid=2195293  ----> InnerException : {inner}")


def payload_error(ent: Entity, inner: str) -> DataverseError:
    return bad_request(_PAYLOAD.format(set=ent.set_name, inner=inner), "0x80048d19")


def resolve_bind(ctx: Ctx, value: str) -> tuple[Entity, str]:
    m = _BIND.match(value.strip())
    target = ctx.org.schema.by_set_name(m.group(1)) if m else None
    if not m or target is None:
        raise bad_request(f"Invalid URI in @odata.bind: '{value}'.")
    key = m.group(2).strip("{}").lower()
    try:
        key = str(uuid.UUID(key))
    except ValueError:
        raise bad_request(f"Invalid URI in @odata.bind: '{value}'.") from None
    if ctx.org.store.get(target, key) is None:
        raise not_found(target.name, key)
    return target, key


def convert(ent: Entity, attr: Attr, value: Any) -> Any:
    """JSON value → stored value, with the real validation errors."""
    if value is None:
        return None
    kind = attr.kind

    def wrong() -> DataverseError:
        return payload_error(ent, f"Microsoft.OData.ODataException: Cannot convert the literal "
                                  f"'{value}' to the expected type '{attr.type_name}'.")

    if kind in ("String", "Memo"):
        if not isinstance(value, str):
            raise wrong()
        if attr.max_length is not None and len(value) > attr.max_length:
            raise bad_request(
                f"A validation error occurred.  The length of the '{attr.name}' attribute of the "
                f"'{ent.name}' entity exceeded the maximum allowed length of '{attr.max_length}'.",
                "0x80044331")
        return value
    if kind == "Boolean":
        if not isinstance(value, bool):
            raise wrong()
        return int(value)
    if kind in ("Integer", "BigInt", "Picklist", "State", "Status"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong()
        if kind == "Picklist" and attr.option(value) is None:
            raise bad_request(
                f"A validation error occurred. The value {value} of '{attr.name}' on record of "
                f"type '{ent.name}' is outside the valid range. Accepted Values: "
                f"{','.join(str(o.value) for o in attr.options)}", "0x8004431A")
        return value
    if kind in ("Decimal", "Money", "Double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong()
        return float(value)
    if kind == "Virtual":
        items = [p for p in str(value).split(",") if p.strip()]
        for p in items:
            if not p.strip().lstrip("-").isdigit() or attr.option(int(p)) is None:
                raise bad_request(f"A validation error occurred. The value {p} of '{attr.name}' "
                                  f"on record of type '{ent.name}' is outside the valid range.",
                                  "0x8004431A")
        return ",".join(str(int(p)) for p in items)
    if kind == "DateTime":
        if not isinstance(value, str):
            raise wrong()
        try:
            if attr.date_behavior == "DateOnly":
                return parse_dt(value[:10] + "T00:00:00Z").strftime("%Y-%m-%d")
            return fmt_dt(parse_dt(value))
        except ValueError:
            raise wrong() from None
    if kind == "Uniqueidentifier":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise wrong() from None
    raise wrong()


def apply_body(ctx: Ctx, ent: Entity, body: Any, creating: bool) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    changes: dict[str, Any] = {}
    navs = ent.nav_props()
    for key, value in body.items():
        if key.startswith("@"):
            continue  # @odata.type / @odata.etag carry no data
        if key.endswith("@odata.bind"):
            nav = navs.get(key[: -len("@odata.bind")])
            if nav is None:
                raise payload_error(ent, f"Microsoft.OData.ODataException: An undeclared property "
                                         f"'{key[:-11]}' which only has property annotations in "
                                         f"the payload but no property value was found in the "
                                         f"payload.")
            if value is None:
                changes[nav.attr] = changes[f"{nav.attr}_t"] = None
                continue
            target, ident = resolve_bind(ctx, str(value))
            if target.name not in nav.targets:
                raise bad_request(f"The entity '{target.name}' is not a valid target for "
                                  f"'{nav.name}' on '{ent.name}'.")
            changes[nav.attr], changes[f"{nav.attr}_t"] = ident, target.name
            continue
        if "@" in key:
            continue
        if key.startswith("_") and key.endswith("_value"):
            raise bad_request("CRM do not support direct update of Entity Reference properties, "
                              "Use Navigation properties instead.", "0x80048d19")
        attr = ent.attr(key)
        if attr is None and key in navs and value is None:
            changes[navs[key].attr] = changes[f"{navs[key].attr}_t"] = None
            continue
        if attr is None or attr.is_lookup:
            raise payload_error(ent, f"Microsoft.OData.ODataException: The property '{key}' does "
                                     f"not exist on type 'Microsoft.Dynamics.CRM.{ent.name}'. Make "
                                     f"sure to only use property names that are defined by the "
                                     f"type or mark the type as open type.")
        if attr.name == ent.primary_id and not creating:
            continue  # the URL names the record; the body key is ignored on update
        if (creating and not attr.create) or (not creating and not attr.update):
            action = "create" if creating else "update"
            raise bad_request(f"The '{attr.name}' attribute of the '{ent.name}' entity is not "
                              f"valid for {action}.", "0x80040203")
        changes[attr.name] = convert(ent, attr, value)
    return changes


def check_state(ent: Entity, changes: dict[str, Any], current: dict[str, Any] | None,
                key: str) -> None:
    state_attr, status_attr = ent.attr("statecode"), ent.attr("statuscode")
    if state_attr is None or status_attr is None:
        return
    if "statecode" not in changes and "statuscode" not in changes and current is not None:
        return
    state = changes.get("statecode", current["statecode"] if current else 0)
    state_opt = state_attr.option(int(state)) if state is not None else None
    if state_opt is None:
        raise bad_request(f"{state} is not a valid state code on {ent.name} with Id {key}.",
                          "0x8004431A")
    status = changes.get("statuscode")
    if status is None:
        status = state_opt.default_status if ("statecode" in changes or current is None) \
            else current["statuscode"]
    status_opt = status_attr.option(int(status)) if status is not None else None
    if status_opt is None or status_opt.state != state:
        raise bad_request(f"{status} is not a valid status code for state code "
                          f"{ent.schema_name}State.{state_opt.en} on {ent.name} with Id {key}.",
                          "0x80040278")
    changes["statecode"], changes["statuscode"] = state, status


def stamp(ctx: Ctx, ent: Entity, changes: dict[str, Any], row: dict[str, Any] | None) -> None:
    """Audit columns, version and composed names, as the platform sets them."""
    now = fmt_dt(ctx.clock.now())
    changes["modifiedon"] = now
    changes["modifiedby"], changes["modifiedby_t"] = ctx.caller.user_id, "systemuser"
    changes["versionnumber"] = ctx.org.store.next_version()
    if "fullname" in ent.attrs and ("firstname" in changes or "lastname" in changes):
        first = changes.get("firstname", row.get("firstname") if row else None)
        last = changes.get("lastname", row.get("lastname") if row else None)
        changes["fullname"] = " ".join(p for p in (first, last) if p)


def create(ctx: Ctx, ent: Entity, body: Any, key: str | None = None,
           key_values: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx.require("Create", ent)
    changes = apply_body(ctx, ent, body, creating=True)
    for col, val in (key_values or {}).items():
        changes.setdefault(col, val)  # body key values win (docs/dataverse-webapi.md §Upsert)
    ident = changes.get(ent.primary_id) or key or str(uuid.uuid4())
    changes[ent.primary_id] = ident
    store = ctx.org.store
    with store.transaction():
        if store.get(ent, ident) is not None:
            # Real 412 body (SQL "Cannot insert duplicate key" is only in the error details).
            raise DataverseError(412, "0x80040237",
                                 "A record with matching key values already exists.")
        for key_name, cols in ent.keys.items():
            values = {c: changes.get(c) for c in cols}
            if all(v is not None for v in values.values()) and store.find_by_key(ent, values):
                raise DataverseError(
                    412, "0x80060892",
                    f"Entity Key {key_name} violated. A record with the same value for "
                    f"{', '.join(cols)} already exists. A duplicate record cannot be created.")
        check_state(ent, changes, None, ident)
        defaults(ctx, ent, changes)
        stamp(ctx, ent, changes, None)
        changes["createdon"] = changes.pop("overriddencreatedon", None) or changes["modifiedon"]
        changes["createdby"], changes["createdby_t"] = ctx.caller.user_id, "systemuser"
        store.insert(ent, {k: v for k, v in changes.items() if k != "overriddencreatedon"})
    charge("activity" if ent.is_activity else "create")
    row = store.get(ent, ident)
    assert row is not None
    return row


def defaults(ctx: Ctx, ent: Entity, changes: dict[str, Any]) -> None:
    if "ownerid" in ent.attrs and not changes.get("ownerid"):
        changes["ownerid"], changes["ownerid_t"] = ctx.caller.user_id, "systemuser"
    if "owningbusinessunit" in ent.attrs:
        changes["owningbusinessunit"] = ctx.caller.business_unit_id
        changes["owningbusinessunit_t"] = "businessunit"
    for attr in ent.attrs.values():
        if attr.kind == "Boolean" and changes.get(attr.name) is None:
            changes[attr.name] = 0
    if ent.is_activity:
        changes["activitytypecode"] = ent.name
    if ent.name == "list":
        changes["membercount"] = 0


def update(ctx: Ctx, ent: Entity, row: dict[str, Any], body: Any) -> dict[str, Any]:
    ctx.require("Write", ent)
    key = row[ent.primary_id]
    changes = apply_body(ctx, ent, body, creating=False)
    for cols in ent.keys.values():
        for col in cols:
            changes.pop(col, None) if body.get(col) == row.get(col) else None
    if "ownerid" in changes:
        ctx.require("Assign", ent)
    check_state(ent, changes, row, key)
    stamp(ctx, ent, changes, row)
    ctx.org.store.update(ent, key, changes)
    charge("activity" if ent.is_activity else "update")
    fresh = ctx.org.store.get(ent, key)
    assert fresh is not None
    return fresh


def delete(ctx: Ctx, ent: Entity, row: dict[str, Any]) -> None:
    ctx.require("Delete", ent)
    key = row[ent.primary_id]
    store = ctx.org.store
    with store.transaction():
        store.delete(ent, key)
        charge("delete")
        if ent.name in ("contact", "account", "lead"):
            # Cascade through the store so change tracking sees the removed members.
            member_ent = ctx.org.schema.entity("listmember")
            for m in store.fetch("SELECT listmemberid, listid FROM listmember "
                                 "WHERE entityid = ?", (key,)):
                store.delete(member_ent, m["listmemberid"])
                touch_list(ctx, m["listid"], -1)
        if ent.name == "list":
            for m in store.fetch("SELECT listmemberid FROM listmember WHERE listid = ?", (key,)):
                store.delete(ctx.org.schema.entity("listmember"), m["listmemberid"])
