"""Inspection and control outside the Web API: `/_admin/…` (no auth, loopback only).

GET    /_admin/orgs                           organisations, URLs, credentials
POST   /_admin/orgs  {"name": "t07", "like": "contoso", "seed": "empty"}
                                              a new online organisation (extra_orgs.py)
POST   /_admin/reset[?org=NAME]               restore the seed snapshot
GET    /_admin/counters                       request counts by "org METHOD route"
POST   /_admin/counters/reset
POST   /_admin/clock  {"offset_seconds": N}   shift the emulator's clock
GET    /_admin/<org>/<set>[?$filter=…]        dump records (all columns, Web API shape)
POST   /_admin/<org>/<set>                    create as the org's admin user
PATCH  /_admin/<org>/<set>/<id>               change as a CRM user would (later modifiedon)
DELETE /_admin/<org>/<set>/<id>
POST   /_admin/<org>/<set>/<id>/<relationship>  {"id": "<related id>"}
                                              associate records (N:N), as a CRM user would
POST   /_admin/<org>/actions/<Name>  {…}      a CRM user's command (DistributeCampaignActivity)
                                              on any organisation, Web API or SOAP only
Change tracking, service protection and fault injection: see admin_control.py.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from dynamics_emulator import actions, admin_control, extra_orgs, reads, webapi, writes
from dynamics_emulator.clock import fmt_dt, parse_dt
from dynamics_emulator.http_types import DataverseError, Request, Response, not_found
from dynamics_emulator.orgs import Ctx, Org, load_caller, stable_id
from dynamics_emulator.query import parse_options
from dynamics_emulator.schema.model import Entity
from dynamics_emulator.seed import (
    CLIENT_ID,
    CLIENT_SECRET,
    LIMITED_CLIENT_ID,
    LIMITED_CLIENT_SECRET,
    NTLM_USERS,
    SECOND_CLIENT_ID,
    SECOND_CLIENT_SECRET,
    TENANT_ID,
    THIRD_CLIENT_ID,
    THIRD_CLIENT_SECRET,
)
from dynamics_emulator.serialize import Annotations, record

if TYPE_CHECKING:
    from dynamics_emulator.app import Emulator


def describe(emu: Emulator, origin: str) -> dict[str, Any]:
    orgs = []
    for org in emu.orgs.values():
        info: dict[str, Any] = {"name": org.name, "kind": org.kind, "version": org.version,
                                "url": f"{origin}/{org.name}", "organization_id": org.org_id}
        if org.api_versions:
            version = "v9.2" if org.kind == "online" else org.api_versions[-1]
            info["web_api"] = f"{origin}/{org.name}/api/data/{version}/"
        # The Organization Service (SOAP), docs/organization-service.md.
        info["organization_service"] = f"{origin}/{org.name}/XRMServices/2011/Organization.svc/web"
        if org.kind == "online":
            info["auth"] = {"type": "client_credentials", "tenant_id": TENANT_ID,
                            "authority": f"{origin}/{TENANT_ID}",
                            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                            "limited_client_id": LIMITED_CLIENT_ID,
                            "limited_client_secret": LIMITED_CLIENT_SECRET,
                            "second_client_id": SECOND_CLIENT_ID,
                            "second_client_secret": SECOND_CLIENT_SECRET,
                            "third_client_id": THIRD_CLIENT_ID,
                            "third_client_secret": THIRD_CLIENT_SECRET,
                            "scope": f"{origin}/{org.name}/.default"}
        else:
            info["auth"] = {"type": "ntlm", "users": [f"{d}\\{u}:{p}" for d, u, p in NTLM_USERS]}
        orgs.append(info)
    return {"seed": emu.seed, "orgs": orgs}


def _create_org(emu: Emulator, req: Request) -> Response:
    try:
        org = extra_orgs.create(emu, req.json())
    except (extra_orgs.OrgError, ValueError) as err:  # also a body that is not JSON
        return Response.json({"error": str(err)}, 400, odata=False)
    info = next(o for o in describe(emu, req.origin)["orgs"] if o["name"] == org.name)
    return Response.json(info, 201, odata=False)


def _system_ctx(emu: Emulator, org: Org, req: Request) -> Ctx:
    # Admin changes are made by the org's "CRM Admin" user, like an interactive user would.
    admin_id = stable_id(org.name, "user", "admin")
    return Ctx(org, load_caller(org, admin_id), req, "v9.2", emu.clock)


def handle(emu: Emulator, req: Request, parts: list[str]) -> Response:
    parts = [p for p in parts if p]
    method = req.method
    if parts == ["orgs"] and method == "POST":  # before the controls, which parse JSON bodies
        return _create_org(emu, req)
    control = admin_control.handle(emu, req, parts)
    if control is not None:
        return control
    if parts == ["orgs"] and method == "GET":
        return Response.json(describe(emu, req.origin), odata=False)
    if parts == ["reset"] and method == "POST":
        emu.reset(req.query_dict().get("org"))
        return Response.json({"reset": True}, odata=False)
    if parts == ["counters"] and method == "GET":
        return Response.json(dict(emu.counters), odata=False)
    if parts == ["counters", "reset"] and method == "POST":
        emu.counters.clear()
        return Response.json({"reset": True}, odata=False)
    if parts == ["clock"] and method == "POST":
        emu.clock.set_offset(float((req.json() or {}).get("offset_seconds", 0)))
        return Response.json({"offset_seconds": emu.clock.offset_seconds,
                              "now": fmt_dt(emu.clock.now())}, odata=False)
    if len(parts) >= 2 and parts[0] in emu.orgs:
        try:
            return _records(emu, emu.orgs[parts[0]], req, parts[1:])
        except DataverseError as err:
            return err.to_response()
    return Response.json({"error": "unknown admin route"}, 404, odata=False)


def _records(emu: Emulator, org: Org, req: Request, parts: list[str]) -> Response:
    if parts[0] == "actions" and len(parts) == 2 and req.method == "POST":
        with org.store.transaction():
            answer = actions.unbound(_system_ctx(emu, org, req), parts[1])
        if answer is None:
            return Response.json({"error": f"unknown action {parts[1]}"}, 404, odata=False)
        return answer
    ent = org.schema.by_set_name(parts[0])
    if ent is None:
        return Response.json({"error": f"unknown entity set {parts[0]}"}, 404, odata=False)
    ctx = _system_ctx(emu, org, req)
    if len(parts) == 1 and req.method == "GET":
        opts = parse_options(req.query())
        opts.top = opts.top or 100000  # dumps are not paged
        where, params = reads.where_clause(ctx, ent, opts.filter, opts.aliases, None)
        rows = org.store.fetch(f'SELECT * FROM "{ent.name}" WHERE {where}', params)
        return Response.json({"value": [record(ctx, ent, r, None, Annotations(None))
                                        for r in rows]}, odata=False)
    if len(parts) == 1 and req.method == "POST":
        created = writes.create(ctx, ent, req.json())
        return Response.json({"id": created[ent.primary_id]}, 201, odata=False)
    if len(parts) not in (2, 3):
        return Response.json({"error": "unknown admin route"}, 404, odata=False)
    row: dict[str, Any] | None = org.store.get(ent, parts[1].lower())
    if row is None:
        raise not_found(ent.name, parts[1])
    if len(parts) == 3 and req.method == "POST":
        return _associate(ctx, ent, row, parts[2], str((req.json() or {}).get("id") or ""))
    if len(parts) == 3:
        return Response.json({"error": "method not allowed"}, 405, odata=False)
    if req.method == "PATCH":
        fresh: dict[str, Any] | None = writes.update(ctx, ent, row, req.json() or {})
        assert fresh is not None
        if fresh["modifiedon"] <= row["modifiedon"]:
            # A foreign change must look newer than anything the client wrote before.
            later = fmt_dt(parse_dt(row["modifiedon"]) + timedelta(seconds=1))
            org.store.update(ent, row[ent.primary_id], {"modifiedon": later})
        final = org.store.get(ent, row[ent.primary_id]) or fresh
        return Response.json({"modifiedon": final["modifiedon"],
                              "versionnumber": final["versionnumber"]}, odata=False)
    if req.method == "DELETE":
        writes.delete(ctx, ent, row)
        return Response.empty(204)
    return Response.json({"error": "method not allowed"}, 405, odata=False)


def _associate(ctx: Ctx, ent: Entity, row: dict[str, Any], relationship: str,
               other_id: str) -> Response:
    """What the Web API's `POST …/<relationship>/$ref` and SOAP's Associate do."""
    rel = ent.many.get(relationship)
    if rel is None:
        return Response.json({"error": f"unknown relationship {relationship}"}, 404,
                             odata=False)
    other = ctx.org.schema.entity(rel.other)
    if ctx.org.store.get(other, other_id.lower()) is None:
        raise not_found(other.name, other_id)
    with ctx.org.store.transaction():
        webapi._associate(ctx, ent, row, relationship, other, other_id.lower())
    return Response.empty(204)


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False)
