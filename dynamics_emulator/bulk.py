"""Bulk messages (CreateMultiple / UpdateMultiple / UpsertMultiple) and the
`sdkmessagefilters` look-up clients use to find out which tables support them.

Online 9.2 only (docs/dataverse-webapi.md §Bulk messages). Standard tables are all-or-nothing:
the whole message runs in one savepoint, so one bad target rolls every target back.
"""

from __future__ import annotations

import re
from typing import Any

from dynamics_emulator import writes
from dynamics_emulator.filter_text import substitute_aliases
from dynamics_emulator.http_types import (
    Response,
    bad_request,
    not_found,
    resource_not_found,
)
from dynamics_emulator.orgs import Ctx, stable_id
from dynamics_emulator.query import parse_options
from dynamics_emulator.routing import parse_key, split_path
from dynamics_emulator.schema.model import Entity

NS = "Microsoft.Dynamics.CRM."
MESSAGES = ("CreateMultiple", "UpdateMultiple", "UpsertMultiple", "DeleteMultiple")
# Tables with bulk support in the emulator. listmember is left out: it only supports
# Create/Delete/RetrieveMultiple (docs/dataverse-webapi.md §Marketing lists), so a sync adds
# members with actions.
# Contact point consent lists CreateMultiple/UpdateMultiple in its table reference.
BULK_TABLES = frozenset({"contact", "account", "lead", "mwx_emailreaction",
                         "msdynmkt_contactpointconsent4"})
# Messages every table has, so the look-up answers them too.
PLAIN_MESSAGES = frozenset({"Create", "Update", "Delete", "Retrieve", "RetrieveMultiple"})


def supports(ctx: Ctx, ent: Entity) -> bool:
    return ctx.org.is_v9 and ent.name in BULK_TABLES


def handle(ctx: Ctx, ent: Entity, name: str) -> Response:
    message = name.removeprefix(NS)
    if message not in MESSAGES or not ctx.org.is_v9 or ctx.request.method != "POST":
        raise resource_not_found(name)
    if message == "DeleteMultiple":
        # Standard tables answer this way (docs/dataverse-webapi.md §Bulk messages); bulk delete is
        # BulkDelete's job.
        raise bad_request("DeleteMultiple has not yet been implemented.")
    if ent.name not in BULK_TABLES:
        raise bad_request(f"The '{message}' message is not supported for entity '{ent.name}'.",
                          "0x80040216")
    body = ctx.request.json()
    targets = body.get("Targets") if isinstance(body, dict) else None
    if not isinstance(targets, list) or not targets:
        raise bad_request("Request message has unresolved parameters. Targets is required.")
    for target in targets:
        _check_type(ent, target)
    with ctx.org.store.transaction():
        if message == "CreateMultiple":
            ids = [writes.create(ctx, ent, _data(t))[ent.primary_id] for t in targets]
            return Response.json({
                "@odata.context": f"{ctx.base_url}$metadata#{NS}CreateMultipleResponse",
                "Ids": ids})
        for target in targets:
            if message == "UpdateMultiple":
                key = target.get(ent.primary_id)
                if not key:
                    raise bad_request(f"The primary key '{ent.primary_id}' is required for each "
                                      f"target of UpdateMultiple.")
                row = ctx.org.store.get(ent, str(key).lower())
                if row is None:
                    raise not_found(ent.name, str(key))
                writes.update(ctx, ent, row, _data(target))
            else:
                _upsert(ctx, ent, target)
    return Response.empty(204)


def _check_type(ent: Entity, target: Any) -> None:
    if not isinstance(target, dict):
        raise bad_request("Each item of Targets must be an entity object.")
    kind = target.get("@odata.type")
    if not kind:
        raise writes.payload_error(ent, "Microsoft.OData.ODataException: The '@odata.type' "
                                        "annotation is required for each item of Targets.")
    if str(kind).lstrip("#") != f"{NS}{ent.name}":
        raise bad_request(f"All Targets must be of type '{NS}{ent.name}'; found '{kind}'.",
                          "0x80048d19")


def _data(target: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in target.items() if not k.startswith("@")}


def _upsert(ctx: Ctx, ent: Entity, target: dict[str, Any]) -> None:
    """A target names its row by primary key, or by `@odata.id` with an alternate key."""
    key: str | None = None
    alt: dict[str, Any] | None = None
    ref = target.get("@odata.id")
    if ref:
        segs = split_path(str(ref).split("/api/data/", 1)[-1].split("/", 1)[-1]
                          if "/api/data/" in str(ref) else str(ref).lstrip("/"))
        if not segs or segs[0].key is None or segs[0].name != ent.set_name:
            raise bad_request(f"Invalid @odata.id '{ref}' for {ent.set_name}.")
        key, alt = parse_key(ent, segs[0].key)
    elif target.get(ent.primary_id):
        key = str(target[ent.primary_id]).lower()
    else:
        raise bad_request("Each target of UpsertMultiple needs a key: the primary key or an "
                          "@odata.id with an alternate key.")
    row = ctx.org.store.get(ent, key) if key else ctx.org.store.find_by_key(ent, alt or {})
    if row is not None:
        writes.update(ctx, ent, row, _data(target))
    else:
        writes.create(ctx, ent, _data(target), key=key, key_values=alt)


_COND = re.compile(r"(sdkmessageid/name|primaryobjecttypecode)\s+eq\s+'([^']*)'", re.I)


def message_filters(ctx: Ctx, path: str) -> Response:
    """`GET sdkmessagefilters?$filter=sdkmessageid/name eq 'X' and primaryobjecttypecode eq 'y'`
    (aliases allowed). Only these two conditions are understood — it is the probe, not a table."""
    if ctx.request.method != "GET" or split_path(path)[0].key is not None:
        raise resource_not_found("sdkmessagefilters")
    opts = parse_options(ctx.request.query())
    text = substitute_aliases(opts.filter or "", opts.aliases)
    conds = {k.lower(): v for k, v in _COND.findall(text)}
    message, table = conds.get("sdkmessageid/name"), conds.get("primaryobjecttypecode")
    tables = [e.name for e in ctx.org.schema.by_name.values()]
    if table is not None:
        tables = [t for t in tables if t == table]
    rows = []
    for name in tables:
        for msg in sorted(PLAIN_MESSAGES | {"CreateMultiple", "UpdateMultiple"}):
            if message not in (None, msg):
                continue
            bulk = msg.endswith("Multiple") and msg != "RetrieveMultiple"
            if bulk and not supports(ctx, ctx.org.schema.entity(name)):
                continue
            rows.append({"@odata.etag": 'W/"1000"',
                         "sdkmessagefilterid": stable_id("sdkmessagefilter", name, msg)})
    select = ",".join(opts.select or [])
    return Response.json({
        "@odata.context": f"{ctx.base_url}$metadata#sdkmessagefilters"
                          f"{f'({select})' if select else ''}",
        "value": rows})

