"""`Execute` messages a sync needs: each takes the request's Parameters and returns the
response's Results (docs/organization-service.md §Messages).

The record work is the Web API's (writes.py, lists.py, webapi.py), so both endpoints
share validation, audit columns, list rules and the change log.
"""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dynamics_emulator import actions, lists, webapi, writes
from dynamics_emulator.http_types import DataverseError, not_found
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.soap import metadata_xml
from dynamics_emulator.soap.contracts import (
    EntityData,
    EntityRef,
    OptionSet,
    Raw,
    child,
    esc,
    read_pairs,
    text_of,
    type_name,
)
from dynamics_emulator.soap.query import retrieve_multiple
from dynamics_emulator.soap.records import (
    INVALID_ARGUMENT,
    entity_of,
    has_row_version,
    row_entity,
    web_body,
)


@dataclass
class Request:
    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    name: str
    values: dict[str, Any] = field(default_factory=dict)
    # The contract's response type, e.g. "b:WhoAmIResponse" (crm) or "a:CreateResponse" (xrm).
    kind: str = ""


Handler = Callable[[Ctx, dict[str, Any]], dict[str, Any]]
# Core messages live in the xrm contracts namespace, the others in the crm one.
XRM_MESSAGES = frozenset({"Create", "Retrieve", "Update", "Delete", "RetrieveMultiple",
                          "Associate", "Disassociate", "ExecuteMultiple", "RetrieveEntity",
                          "RetrieveAllEntities", "RetrieveEntityChanges"})


def read_request(el: ET.Element) -> Request:
    name = text_of(el, "RequestName") or type_name(el).removesuffix("Request")
    return Request(name, read_pairs(child(el, "Parameters")))


def _param(params: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    value = params.get(name)
    if not isinstance(value, kind):
        raise DataverseError(400, INVALID_ARGUMENT,
                             f"Required field '{name}' is missing or has the wrong type.")
    return value


def columns_of(column_set: Any) -> list[str] | None:
    """A ColumnSet element: None for all columns."""
    if not isinstance(column_set, ET.Element) or text_of(column_set, "AllColumns") == "true":
        return None
    return [c.text or "" for c in child(column_set, "Columns") or []]


# --- record operations ---------------------------------------------------------------------
def create(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    target = _param(params, "Target", EntityData)
    ent = entity_of(ctx, target.logical_name)
    if ent.name == "listmember":
        raise DataverseError(400, INVALID_ARGUMENT, "Use AddMemberList to add list members.")
    row = writes.create(ctx, ent, web_body(ctx, ent, target))
    return {"id": uuid.UUID(row[ent.primary_id])}


def retrieve(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    target = _param(params, "Target", EntityRef)
    ent = entity_of(ctx, target.logical_name)
    ctx.require("Read", ent)
    row = ctx.org.store.get(ent, target.id)
    if row is None:
        raise not_found(ent.name, target.id)
    return {"Entity": row_entity(ent, row, columns_of(params.get("ColumnSet")),
                                 row_version=has_row_version(ctx))}


def update(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    target = _param(params, "Target", EntityData)
    ent = entity_of(ctx, target.logical_name)
    key = target.id or str(target.attributes.get(ent.primary_id) or "")
    row = ctx.org.store.get(ent, key) if key else None
    if row is None:
        raise not_found(ent.name, key)
    _check_row_version(ctx, params, target, row)
    body = web_body(ctx, ent, target)
    body.pop(ent.primary_id, None)
    writes.update(ctx, ent, row, body)
    return {}


def _check_row_version(ctx: Ctx, params: dict[str, Any], target: EntityData,
                       row: dict[str, Any]) -> None:
    """UpdateRequest.ConcurrencyBehavior (7.1 and later): IfRowVersionMatches applies the
    update only while the row has the Target's RowVersion; without one it fails at once."""
    behaviour = params.get("ConcurrencyBehavior")
    if behaviour is None:
        return
    if not has_row_version(ctx):  # CRM 2013 / 2015 RTM: the 7.1 contract type is unknown
        raise DataverseError(400, INVALID_ARGUMENT,
                             "The request Update has no parameter ConcurrencyBehavior.")
    name = behaviour.text if isinstance(behaviour, ET.Element) else str(behaviour)
    if (name or "").strip() != "IfRowVersionMatches":
        return
    if not target.row_version:
        raise DataverseError(400, "0x80060883", "The RowVersion property must be provided "
                                                "when the value of ConcurrencyBehavior is "
                                                "IfVersionMatches.")
    if target.row_version != str(row["versionnumber"]):
        raise DataverseError(412, "0x80060882", "The version of the existing record doesn't "
                                                "match the RowVersion property provided.")


def delete(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    target = _param(params, "Target", EntityRef)
    ent = entity_of(ctx, target.logical_name)
    row = ctx.org.store.get(ent, target.id)
    if row is None:
        raise not_found(ent.name, target.id)
    if ent.name == "listmember":
        lists.remove_member(ctx, lists.load_list(ctx, row["listid"]), row["listmemberid"])
    else:
        writes.delete(ctx, ent, row)
    return {}


def retrieve_multiple_message(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return {"EntityCollection": retrieve_multiple(ctx, _param(params, "Query", ET.Element))}


def _relate(ctx: Ctx, params: dict[str, Any], associate: bool) -> dict[str, Any]:
    target = _param(params, "Target", EntityRef)
    relationship = _param(params, "Relationship", ET.Element)
    related = _param(params, "RelatedEntities", list)
    return relate(ctx, target, text_of(relationship, "SchemaName") or "", related, associate)


def relate(ctx: Ctx, target: EntityRef, schema_name: str, related: list[EntityRef],
           associate: bool) -> dict[str, Any]:
    ent = entity_of(ctx, target.logical_name)
    row = ctx.org.store.get(ent, target.id)
    if row is None:
        raise not_found(ent.name, target.id)
    if schema_name not in ent.many:
        raise DataverseError(400, INVALID_ARGUMENT,
                             f"The relationship '{schema_name}' is not valid for '{ent.name}'.")
    for ref in related:
        other = entity_of(ctx, ref.logical_name)
        if associate:
            if ctx.org.store.get(other, ref.id) is None:
                raise not_found(other.name, ref.id)
            webapi._associate(ctx, ent, row, schema_name, other, ref.id)
        else:
            webapi._disassociate(ctx, ent, row, schema_name, ref.id)
    return {}


# --- messages --------------------------------------------------------------------------------
def who_am_i(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return {"UserId": uuid.UUID(ctx.caller.user_id),
            "BusinessUnitId": uuid.UUID(ctx.caller.business_unit_id),
            "OrganizationId": uuid.UUID(ctx.org.org_id)}


def retrieve_version(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    return {"Version": ctx.org.version}


def set_state(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    moniker = _param(params, "EntityMoniker", EntityRef)
    state = _param(params, "State", OptionSet)
    status = _param(params, "Status", OptionSet)
    ent = entity_of(ctx, moniker.logical_name)
    row = ctx.org.store.get(ent, moniker.id)
    if row is None:
        raise not_found(ent.name, moniker.id)
    body: dict[str, Any] = {"statecode": state.value}
    if status.value != -1:  # -1: the state's default status
        body["statuscode"] = status.value
    writes.update(ctx, ent, row, body)
    return {}


def add_list_members(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    lst = lists.load_list(ctx, str(_param(params, "ListId", str)))
    members = _param(params, "MemberIds", list)
    for member in members:
        lists.add_member(ctx, lst, str(member))
    return {}


def add_member(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    lst = lists.load_list(ctx, str(_param(params, "ListId", str)))
    return {"Id": uuid.UUID(lists.add_member(ctx, lst, str(_param(params, "EntityId", str))))}


def remove_member(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    lst = lists.load_list(ctx, str(_param(params, "ListId", str)))
    lists.remove_member(ctx, lst, str(_param(params, "EntityId", str)))
    return {}


def user_privileges(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    user_id = str(_param(params, "UserId", str))
    ctx.require("Read", ctx.org.schema.entity("systemuser"))
    if ctx.org.store.get(ctx.org.schema.entity("systemuser"), user_id) is None:
        raise not_found("systemuser", user_id)
    items = "".join(f"<b:RolePrivilege><b:BusinessUnitId>{p['BusinessUnitId']}</b:BusinessUnitId>"
                    f"<b:Depth>{p['Depth']}</b:Depth><b:PrivilegeId>{p['PrivilegeId']}"
                    f"</b:PrivilegeId><b:PrivilegeName>{esc(p['PrivilegeName'])}"
                    f"</b:PrivilegeName></b:RolePrivilege>"
                    for p in actions.user_privileges(ctx, user_id))
    return {"RolePrivileges": Raw("b:ArrayOfRolePrivilege", items)}


def retrieve_entity(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    name = str(params.get("LogicalName") or "")
    ent = entity_of(ctx, name)
    with_attrs = metadata_xml.wants_attributes(params.get("EntityFilters"))
    return {"EntityMetadata": Raw("g:EntityMetadata", metadata_xml.entity(ent, with_attrs))}


def retrieve_all_entities(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    with_attrs = metadata_xml.wants_attributes(params.get("EntityFilters"))
    items = "".join(f"<g:EntityMetadata>{metadata_xml.entity(e, with_attrs)}</g:EntityMetadata>"
                    for e in ctx.org.schema.by_name.values())
    return {"EntityMetadata": Raw("g:ArrayOfEntityMetadata", items)}


def retrieve_entity_changes(ctx: Ctx, params: dict[str, Any]) -> dict[str, Any]:
    """CRM 2016 has the message; the emulator's 8.x tables have no change tracking
    (docs/organization-service.md §Queries). CRM 2013/2015 lack it (not registered)."""
    if int(ctx.org.version.split(".")[0]) < 8:
        raise DataverseError(400, "0x80040227",
                             "The request RetrieveEntityChanges has not been registered.")
    ent = entity_of(ctx, str(params.get("EntityName") or ""))
    raise DataverseError(400, "0x80072491",
                         f"Entity {ent.name} isn't enabled for change tracking.")


HANDLERS: dict[str, Handler] = {
    "Create": create, "Retrieve": retrieve, "Update": update, "Delete": delete,
    "RetrieveMultiple": retrieve_multiple_message,
    "Associate": lambda ctx, p: _relate(ctx, p, True),
    "Disassociate": lambda ctx, p: _relate(ctx, p, False),
    "WhoAmI": who_am_i, "RetrieveVersion": retrieve_version, "SetState": set_state,
    "AddListMembersList": add_list_members, "AddMemberList": add_member,
    "RemoveMemberList": remove_member, "RetrieveUserPrivileges": user_privileges,
    "RetrieveEntity": retrieve_entity, "RetrieveAllEntities": retrieve_all_entities,
    "RetrieveEntityChanges": retrieve_entity_changes,
}


def run(ctx: Ctx, request: Request) -> Result:
    """One message in one storage transaction (a failure half-way rolls back)."""
    handler = HANDLERS.get(request.name)
    if handler is None:
        raise DataverseError(400, "0x80040227",
                             f"The request {request.name} has not been registered.")
    with ctx.org.store.transaction():
        values = handler(ctx, request.params)
    prefix = "a" if request.name in XRM_MESSAGES else "b"
    return Result(request.name, values, f"{prefix}:{request.name}Response")
