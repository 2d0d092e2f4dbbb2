"""Change tracking: `Prefer: odata.track-changes` → `@odata.deltaLink`; delta reads.

The delta token is `<row version>!<UTC MM/dd/yyyy HH:mm:ss>` like the documented
example (clients treat it as opaque). Changes come from the store's `changelog`: every
id with an entry newer than the token's version is either still there (new/updated,
current values of the selected columns) or gone (`$deletedEntity`, "deleted").

Choices where Microsoft documents nothing (docs/dataverse-webapi.md §Change tracking;
README): the "not enabled" error and the restriction errors are HTTP 400; an expired
token (older than the org's retention, 7 days by default, measured on the emulator
clock) is HTTP 400 with the SDK's ExpiredVersionStamp code 0x80044352. Delta pages are
not paged. 8.x orgs have no table with ChangeTrackingEnabled, so both requests answer
0x80072491 there.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote, unquote

from dynamics_emulator import reads
from dynamics_emulator.http_types import DataverseError, Response, bad_request
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.query import parse_options
from dynamics_emulator.schema.model import Entity
from dynamics_emulator.serialize import Annotations, record

PREFER = "odata.track-changes"
_FORBIDDEN = ("$filter", "$orderby", "$expand", "$top")
_TOKEN = re.compile(r"^(\d+)!(\d\d)/(\d\d)/(\d{4}) (\d\d):(\d\d):(\d\d)$")
_CARRY = re.compile(r'trackingversion(?:=|%3D)(?:"|%22)(\d+)(?:"|%22)')


def wanted(ctx: Ctx) -> bool:
    return PREFER in ctx.prefer() or any(k == "$deltatoken" for k, _ in ctx.request.query())


def _check(ctx: Ctx, ent: Entity) -> None:
    if not ent.change_tracking:
        raise DataverseError(400, "0x80072491",
                             f"Entity {ent.name} isn't enabled for change tracking.")
    for key, _ in ctx.request.query():
        if key in _FORBIDDEN:
            raise bad_request(f'The "{key}" query parameter isn\'t supported when Change '
                              f"Tracking is enabled.")


def current_version(ctx: Ctx) -> int:
    return int(ctx.org.store.scalar("SELECT value FROM meta WHERE key = 'version'"))


def make_token(ctx: Ctx, version: int) -> str:
    return f"{version}!{ctx.clock.now().strftime('%m/%d/%Y %H:%M:%S')}"


def read_token(ctx: Ctx, raw: str) -> int:
    m = _TOKEN.match(unquote(raw).strip())
    if m is None:
        raise bad_request(f"The delta token '{raw}' is not valid.", "0x80044352")
    month, day, year, hour, minute, sec = (int(g) for g in m.groups()[1:])
    issued = datetime(year, month, day, hour, minute, sec, tzinfo=UTC)
    if ctx.clock.now() - issued > timedelta(days=ctx.org.change_retention_days):
        raise DataverseError(400, "0x80044352", "Version stamp associated with the client has "
                                                "expired. Please perform a full sync.")
    return int(m.group(1))


def _link(ctx: Ctx, ent: Entity, token: str) -> str:
    select = [v for k, v in ctx.request.query() if k == "$select"]
    query = f"$select={select[0]}&" if select else ""
    return f"{ctx.base_url}{ent.set_name}?{query}$deltatoken={quote(token, safe='')}"


def collection(ctx: Ctx, ent: Entity, path: str) -> Response:
    ctx.require("Read", ent)
    _check(ctx, ent)
    pairs = ctx.request.query()
    token = next((v for k, v in pairs if k == "$deltatoken"), None)
    if token is not None:
        return _delta(ctx, ent, read_token(ctx, token))
    # The first page fixes the version the delta link starts from; later pages carry it
    # in the (opaque) paging cookie so changes made while paging are not lost.
    skip = next((v for k, v in pairs if k == "$skiptoken"), "")
    carried = _CARRY.search(skip)
    start = int(carried.group(1)) if carried else current_version(ctx)
    resp = reads.collection(ctx, ent, parse_options(pairs), path)
    body: dict[str, Any] = json.loads(resp.body)
    if "@odata.nextLink" in body:
        body["@odata.nextLink"] = body["@odata.nextLink"].replace(
            "istracking=%22False%22", f"istracking=%22True%22%20trackingversion=%22{start}%22")
    else:
        body["@odata.deltaLink"] = _link(ctx, ent, make_token(ctx, start))
    out = Response.json(body)
    applied = [p for p in (resp.headers.get("Preference-Applied") or "").split(",") if p]
    out.headers.set("Preference-Applied", ",".join([PREFER, *applied]))
    return out


def changes(ctx: Ctx, ent: Entity, since: int) -> tuple[list[dict[str, Any]], list[str]]:
    """(rows changed since the version, ordered by version; ids deleted since then)."""
    entries = ctx.org.store.fetch(
        "SELECT id, MAX(version) AS v FROM changelog WHERE entity = ? AND version > ? "
        "GROUP BY id ORDER BY v", (ent.name, since))
    changed, deleted = [], []
    for entry in entries:
        row = ctx.org.store.get(ent, entry["id"])
        if row is None:
            deleted.append(entry["id"])
        else:
            changed.append(row)
    return changed, deleted


def _delta(ctx: Ctx, ent: Entity, since: int) -> Response:
    now_version = current_version(ctx)
    opts = parse_options([(k, v) for k, v in ctx.request.query() if k != "$deltatoken"])
    rows, deleted = changes(ctx, ent, since)
    notes = Annotations(ctx.prefer().get("odata.include-annotations"))
    select = reads.select_attrs(ent, opts.select)
    values: list[dict[str, Any]] = [record(ctx, ent, r, select, notes) for r in rows]
    gone = f"{ctx.base_url}$metadata#{ent.set_name}/$deletedEntity"
    values += [{"@odata.context": gone, "id": ident, "reason": "deleted"} for ident in deleted]
    return Response.json({"@odata.context": reads.context_url(ctx, ent, opts, "/$delta"),
                          "value": values,
                          "@odata.deltaLink": _link(ctx, ent, make_token(ctx, now_version))})


def count(ctx: Ctx, ent: Entity, token: str) -> Response:
    ctx.require("Read", ent)
    _check(ctx, ent)
    rows, deleted = changes(ctx, ent, read_token(ctx, token))
    return Response.text(str(len(rows) + len(deleted)))
