"""Marketing list membership: AddMemberList, AddListMembersList, RemoveMemberList, $ref."""

from __future__ import annotations

import uuid
from typing import Any

from dynamics_emulator.clock import fmt_dt
from dynamics_emulator.http_types import DataverseError, bad_request, not_found
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.schema.marketing import MEMBER_TYPES
from dynamics_emulator.schema.model import Entity
from dynamics_emulator.server_time import charge


def _list_entity(ctx: Ctx) -> Entity:
    return ctx.org.schema.entity("list")


def load_list(ctx: Ctx, list_id: str) -> dict[str, Any]:
    row = ctx.org.store.get(_list_entity(ctx), list_id)
    if row is None:
        raise not_found("list", list_id)
    return row


def _check_open(lst: dict[str, Any]) -> None:
    if lst["type"]:
        raise DataverseError(400, "0x80040203",
                             "Members cannot be added to or removed from a dynamic list.")
    if lst["lockstatus"]:
        raise DataverseError(400, "0x8004F0A1",
                             "The list is locked. Members cannot be added to or removed from a "
                             "locked list.")
    if lst["statecode"] == 1:
        raise DataverseError(400, "0x80040203",
                             "The list is inactive. Inactive lists are read-only.")


def add_member(ctx: Ctx, lst: dict[str, Any], entity_id: str,
               entity_name: str | None = None) -> str:
    ctx.require("AppendTo", _list_entity(ctx))
    _check_open(lst)
    expected = MEMBER_TYPES[int(lst["createdfromcode"])]
    store = ctx.org.store
    member_ent = ctx.org.schema.entity(expected)
    if entity_name is not None and entity_name != expected:
        raise _mismatch(entity_name, expected)
    if store.get(member_ent, entity_id) is None:
        for other in MEMBER_TYPES.values():
            if other != expected and store.get(ctx.org.schema.entity(other), entity_id):
                raise _mismatch(other, expected)
        raise not_found(expected, entity_id)
    with store.transaction():
        existing = store.scalar("SELECT listmemberid FROM listmember WHERE listid = ? AND "
                                "entityid = ?", (lst["listid"], entity_id))
        if existing:
            return str(existing)  # adding a member twice is tolerated, as in the UI/SDK
        ident = str(uuid.uuid4())
        now = fmt_dt(ctx.clock.now())
        store.insert(ctx.org.schema.entity("listmember"), {
            "listmemberid": ident, "listid": lst["listid"], "listid_t": "list",
            "entityid": entity_id, "entityid_t": expected, "entitytype": expected,
            "createdon": now, "modifiedon": now, "versionnumber": store.next_version(),
            "createdby": ctx.caller.user_id, "createdby_t": "systemuser",
            "modifiedby": ctx.caller.user_id, "modifiedby_t": "systemuser",
        })
        touch_list(ctx, lst["listid"], 1)
    charge("list_member")
    return ident


def _mismatch(actual: str, expected: str) -> DataverseError:
    return DataverseError(
        400, "0x80040203",
        f"The member type '{actual}' does not match the member type of the marketing list "
        f"('{expected}'). All members of a list must be of the list's member type.")


def remove_member(ctx: Ctx, lst: dict[str, Any], member_id: str) -> None:
    ctx.require("AppendTo", _list_entity(ctx))
    _check_open(lst)
    store = ctx.org.store
    with store.transaction():
        # EntityId may name the member record or the listmember row (sources disagree).
        members = store.fetch("SELECT listmemberid FROM listmember WHERE listid = ? AND "
                              "(entityid = ? OR listmemberid = ?)",
                              (lst["listid"], member_id, member_id))
        if not members:
            raise DataverseError(400, "0x80048458",
                                 "Specified Item not a member of the specified List.")
        # Through store.delete, so the change log records the removal (change tracking).
        for member in members:
            store.delete(ctx.org.schema.entity("listmember"), member["listmemberid"])
        touch_list(ctx, lst["listid"], -len(members))
    charge("list_member", len(members))


def touch_list(ctx: Ctx, list_id: str, delta: int) -> None:
    """Membership changed: the list's membercount and versionnumber move (logged)."""
    store = ctx.org.store
    row = store.get(ctx.org.schema.entity("list"), list_id)
    if row is not None:
        store.update(ctx.org.schema.entity("list"), list_id, {
            "membercount": (row["membercount"] or 0) + delta,
            "versionnumber": store.next_version()})


def add_list_members(ctx: Ctx, body: Any) -> None:
    """Unbound AddListMembersList: {"List":{listid}, "Members":[{contactid|accountid|leadid}]}."""
    if not isinstance(body, dict) or not isinstance(body.get("List"), dict):
        raise bad_request("Request message has unresolved parameters.")
    list_id = str(body["List"].get("listid") or "")
    lst = load_list(ctx, list_id)
    with ctx.org.store.transaction():
        for member in body.get("Members") or []:
            kind = str(member.get("@odata.type", "")).rsplit(".", 1)[-1] or None
            key = next((member[k] for k in ("contactid", "accountid", "leadid") if k in member),
                       None)
            if key is None:
                raise bad_request("EdmEntityObject passed should have the key property value set.")
            add_member(ctx, lst, str(key).lower(), kind)
