"""Functions and actions: WhoAmI, RetrieveVersion, RetrieveUserPrivileges, list actions."""

from __future__ import annotations

from typing import Any

from dynamics_emulator import bulkdelete, lists, sales
from dynamics_emulator.http_types import Response, bad_request, resource_not_found
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.schema.model import Entity

NS = "Microsoft.Dynamics.CRM."
UNBOUND = frozenset({"WhoAmI", "RetrieveVersion", "AddListMembersList", "Merge",
                     "DistributeCampaignActivity", "BulkDelete"})


def _result(ctx: Ctx, type_name: str, data: dict[str, Any]) -> Response:
    return Response.json({"@odata.context": f"{ctx.base_url}$metadata#{NS}{type_name}", **data})


def unbound(ctx: Ctx, name: str) -> Response | None:
    method = ctx.request.method
    fn = name.removesuffix("()")
    if fn == "WhoAmI" and method == "GET":
        return _result(ctx, "WhoAmIResponse", {
            "BusinessUnitId": ctx.caller.business_unit_id, "UserId": ctx.caller.user_id,
            "OrganizationId": ctx.org.org_id})
    if fn == "RetrieveVersion" and method == "GET":
        return _result(ctx, "RetrieveVersionResponse", {"Version": ctx.org.version})
    if fn == "AddListMembersList" and method == "POST":
        lists.add_list_members(ctx, ctx.request.json())
        return Response.empty(204)
    if fn == "Merge" and method == "POST":
        return sales.merge(ctx)
    if fn == "DistributeCampaignActivity" and method == "POST":
        return sales.distribute(ctx)
    if fn == "BulkDelete" and method == "POST":
        return bulkdelete.submit(ctx)
    return None


def user_privileges(ctx: Ctx, user_id: str) -> list[dict[str, Any]]:
    rows = ctx.org.store.fetch(
        "SELECT DISTINCT p.privilegeid, p.name, r.businessunitid FROM role r "
        "JOIN roleprivileges rp ON rp.roleid = r.roleid "
        "JOIN privilege p ON p.privilegeid = rp.privilegeid "
        "WHERE r.roleid IN (SELECT roleid FROM systemuserroles WHERE systemuserid = ?) "
        "ORDER BY p.name", (user_id,))
    # The emulator grants every privilege at organisation depth (see README).
    return [{"Depth": "Global", "PrivilegeId": r["privilegeid"],
             "BusinessUnitId": r["businessunitid"], "PrivilegeName": r["name"]} for r in rows]


def bound(ctx: Ctx, ent: Entity, row: dict[str, Any], name: str) -> Response:
    if not name.startswith(NS):
        raise bad_request("Request message has unresolved parameters.")
    action = name[len(NS):].removesuffix("()")
    method = ctx.request.method
    if ent.name == "systemuser" and action == "RetrieveUserPrivileges" and method == "GET":
        ctx.require("Read", ent)
        return _result(ctx, "RetrieveUserPrivilegesResponse",
                       {"RolePrivileges": user_privileges(ctx, row["systemuserid"])})
    if ent.name == "lead" and action == "QualifyLead" and method == "POST" \
            and ctx.org.supports_representation:
        # QualifyLead arrived with 8.2 (docs/dataverse-webapi.md §Versions).
        return sales.qualify_lead(ctx, row)
    if ent.name == "list" and method == "POST":
        body = ctx.request.json() or {}
        if action == "AddMemberList":
            member = str(body.get("EntityId") or "").lower()
            ident = lists.add_member(ctx, row, member)
            return _result(ctx, "AddMemberListResponse", {"Id": ident})
        if action == "RemoveMemberList" and ctx.org.is_v9:
            # 8.x had no Web API action for it (docs/dataverse-webapi.md §Marketing lists).
            lists.remove_member(ctx, row, str(body.get("EntityId") or "").lower())
            return Response.empty(204)
    raise resource_not_found(name)
