"""Web API dispatch for one authenticated request: `dispatch(ctx, path) -> Response`.

Pure function of (context, path); `$batch` (part 2) can call it for inner requests.
"""

from __future__ import annotations

from typing import Any

from dynamics_emulator import (
    actions,
    batch,
    bulk,
    bulkdelete,
    fetchxml,
    lists,
    metadata,
    reads,
    sqlquery_route,
    tracking,
    writes,
)
from dynamics_emulator.http_types import (
    DataverseError,
    Response,
    bad_request,
    not_found,
    resource_not_found,
)
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.query import MAX_PAGE, parse_options
from dynamics_emulator.routing import Segment, parse_key, split_path
from dynamics_emulator.schema.model import Entity
from dynamics_emulator.serialize import Annotations, etag, record


def route_name(path: str) -> str:
    """Route template for request accounting: ids replaced, entity sets kept."""
    segs = split_path(path)
    return "/".join(s.name + ("(…)" if s.key is not None else "") for s in segs) or "/"


def dispatch(ctx: Ctx, path: str) -> Response:
    try:
        if path.rstrip("/") == "$batch":
            # Not one transaction: only changesets are atomic (batch.py).
            return batch.handle(ctx, dispatch)
        if ctx.request.method == "GET":
            return _dispatch(ctx, path)
        # Each write request is atomic and serialised: a failure half-way rolls back.
        with ctx.org.store.transaction():
            return _dispatch(ctx, path)
    except DataverseError as err:
        return err.to_response()


def _method_not_allowed(method: str) -> DataverseError:
    return DataverseError(405, "0x80060888",
                          f"The requested resource does not support http method '{method}'.")


def _dispatch(ctx: Ctx, path: str) -> Response:
    segs = split_path(path)
    if not segs:
        return service_document(ctx)
    head = segs[0]
    if head.name == "EntityDefinitions":
        return metadata.handle(ctx, segs)
    if len(segs) == 1 and head.key in (None, ""):
        result = actions.unbound(ctx, head.name + ("()" if head.key == "" else ""))
        if result is not None:
            return result
        if head.name in actions.UNBOUND:
            # Known operation, wrong method: the documented 404 with an empty code.
            url = f"{ctx.base_url}{path}"
            raise DataverseError(404, "", f"No HTTP resource was found that matches the "
                                          f"request URI '{url}'.")
    if head.name == "sdkmessagefilters":
        return bulk.message_filters(ctx, path)
    ent = ctx.org.schema.by_set_name(head.name)
    if ent is None:
        raise resource_not_found(head.name)
    if ent.name in bulkdelete.JOB_TABLES and ctx.request.method == "GET":
        with ctx.org.store.transaction():
            bulkdelete.run_due(ctx)  # waiting bulk delete jobs whose start time has come
    if head.key is None:
        return _collection(ctx, ent, segs, path)
    key, alt = parse_key(ent, head.key)
    row = find(ctx, ent, key, alt)
    if len(segs) == 1:
        return _record(ctx, ent, head, row, key, alt)
    if row is None:
        raise not_found(ent.name, key or head.key)
    return _below_record(ctx, ent, row, segs[1:], path)


def service_document(ctx: Ctx) -> Response:
    sets = [{"name": e.set_name, "kind": "EntitySet", "url": e.set_name}
            for e in ctx.org.schema.by_name.values()]
    return Response.json({"@odata.context": f"{ctx.base_url}$metadata", "value": sets})


def find(ctx: Ctx, ent: Entity, key: str | None, alt: dict[str, Any] | None
         ) -> dict[str, Any] | None:
    if key is not None:
        return ctx.org.store.get(ent, key)
    assert alt is not None
    return ctx.org.store.find_by_key(ent, alt)


def _collection(ctx: Ctx, ent: Entity, segs: list[Segment], path: str) -> Response:
    method = ctx.request.method
    if len(segs) == 2 and segs[1].name == "$count" and method == "GET":
        token = ctx.request.query_dict().get("$deltatoken")
        if token is not None:
            return tracking.count(ctx, ent, token)
        ctx.require("Read", ent)
        opts = parse_options(ctx.request.query())  # $filter applies to /$count (OData)
        where = reads.where_clause(ctx, ent, opts.filter, opts.aliases, None)
        total = ctx.org.store.scalar(f'SELECT COUNT(*) FROM "{ent.name}" WHERE {where[0]}',
                                     where[1])
        resp = Response.text(str(min(int(total), MAX_PAGE)))
        resp.headers.set("OData-Version", "4.0")
        return resp
    if len(segs) == 2 and segs[1].name.startswith(bulk.NS):
        return bulk.handle(ctx, ent, segs[1].name)
    if len(segs) > 1:
        raise resource_not_found(segs[1].name)
    if method == "GET":
        query = ctx.request.query_dict()
        if "fetchXml" in query:
            return fetchxml.collection(ctx, ent, query["fetchXml"])
        if "sql" in query and ctx.org.kind == "online":
            # Online only: on-premise servers have no such option and ignore it.
            return sqlquery_route.collection(ctx, ent, query["sql"], path)
        if tracking.wanted(ctx) and ctx.org.kind != "legacy":
            return tracking.collection(ctx, ent, path)
        return reads.collection(ctx, ent, parse_options(ctx.request.query()), path)
    if method == "POST":
        return _create(ctx, ent)
    raise _method_not_allowed(method)


def _entity_id(ctx: Ctx, ent: Entity, key_text: str) -> str:
    return f"{ctx.base_url}{ent.set_name}({key_text})"


def _representation(ctx: Ctx, ent: Entity, row: dict[str, Any], status: int) -> Response:
    opts = parse_options(ctx.request.query())
    notes = Annotations(ctx.prefer().get("odata.include-annotations"))
    body = {"@odata.context": reads.context_url(ctx, ent, opts, "/$entity")}
    body.update(record(ctx, ent, row, reads.select_attrs(ent, opts.select), notes))
    if status == 201:
        reads.expand_into(ctx, ent, row, body, opts.expand, notes)
    resp = Response.json(body, status)
    resp.headers.set("Preference-Applied", "return=representation")
    resp.headers.set("ETag", etag(row))
    return resp


def _wants_representation(ctx: Ctx) -> bool:
    # return=representation arrived with 8.2; older servers ignore the preference.
    return "return" in ctx.prefer() and ctx.prefer()["return"] == "representation" \
        and ctx.org.supports_representation


def _create(ctx: Ctx, ent: Entity) -> Response:
    body = ctx.request.json()
    if ent.name == "listmember":
        return _create_listmember(ctx, body)
    row = writes.create(ctx, ent, body)
    if _wants_representation(ctx):
        return _representation(ctx, ent, row, 201)
    resp = Response.empty(204)
    resp.headers.set("OData-EntityId", _entity_id(ctx, ent, row[ent.primary_id]))
    return resp


def _create_listmember(ctx: Ctx, body: Any) -> Response:
    body = body or {}
    list_ref = str(body.get("listid@odata.bind") or "")
    member_ref = str(body.get("entityid@odata.bind") or "")
    lst_ent, list_id = writes.resolve_bind(ctx, list_ref)
    mem_ent, member_id = writes.resolve_bind(ctx, member_ref)
    if lst_ent.name != "list":
        raise bad_request("listid@odata.bind must reference a list.")
    ident = lists.add_member(ctx, lists.load_list(ctx, list_id), member_id, mem_ent.name)
    resp = Response.empty(204)
    resp.headers.set("OData-EntityId", f"{ctx.base_url}listmembers({ident})")
    return resp


def _record(ctx: Ctx, ent: Entity, head: Segment, row: dict[str, Any] | None,
            key: str | None, alt: dict[str, Any] | None) -> Response:
    method = ctx.request.method
    shown = key or (head.key or "")
    if method == "GET":
        if row is None:
            raise not_found(ent.name, shown)
        return reads.single(ctx, ent, row, parse_options(ctx.request.query()))
    if method == "PATCH":
        return _patch(ctx, ent, row, key, alt, head.key or "")
    if method == "DELETE":
        if row is None:
            raise not_found(ent.name, shown)
        _check_if_match(ctx, row)
        if ent.name == "listmember":
            lists.remove_member(ctx, lists.load_list(ctx, row["listid"]), row["listmemberid"])
        else:
            writes.delete(ctx, ent, row)
        return Response.empty(204)
    raise _method_not_allowed(method)


def _check_if_match(ctx: Ctx, row: dict[str, Any]) -> None:
    if_match = ctx.request.headers.get("If-Match")
    if if_match and if_match != "*" and if_match != etag(row):
        raise DataverseError(412, "0x80060882", "The version of the existing record doesn't "
                                                "match the RowVersion property provided.")


def _patch(ctx: Ctx, ent: Entity, row: dict[str, Any] | None, key: str | None,
           alt: dict[str, Any] | None, key_text: str) -> Response:
    headers = ctx.request.headers
    if headers.get("If-None-Match") == "*" and row is not None:
        raise DataverseError(412, "0x80040237", "A record with matching key values already exists.")
    if headers.get("If-Match"):
        if row is None:
            raise not_found(ent.name, key or key_text)
        _check_if_match(ctx, row)
    body = ctx.request.json() or {}
    if row is not None:
        fresh, status = writes.update(ctx, ent, row, body), 200
    else:
        fresh, status = writes.create(ctx, ent, body, key=key, key_values=alt), 201
    if _wants_representation(ctx):
        return _representation(ctx, ent, fresh, status)
    resp = Response.empty(204)
    resp.headers.set("OData-EntityId", _entity_id(ctx, ent, key_text))
    return resp


def _below_record(ctx: Ctx, ent: Entity, row: dict[str, Any], segs: list[Segment],
                  path: str) -> Response:
    seg = segs[0]
    method = ctx.request.method
    key = row[ent.primary_id]
    if seg.name.startswith("Microsoft.Dynamics.CRM.") or seg.key == "":
        return actions.bound(ctx, ent, row, seg.name + ("()" if seg.key == "" else ""))
    if seg.name in ent.many:
        return _many(ctx, ent, row, segs, path)
    navs = ent.nav_props()
    if seg.name in navs and len(segs) == 2 and segs[1].name == "$ref":
        return _lookup_ref(ctx, ent, row, seg.name)
    if len(segs) == 1 and method == "GET":
        return reads.single_property(ctx, ent, row, key, seg.name)
    if len(segs) == 1 and method in ("PUT", "DELETE"):
        value = (ctx.request.json() or {}).get("value") if method == "PUT" else None
        attr = ent.attr(seg.name)
        if attr is None or attr.is_lookup:
            raise resource_not_found(seg.name)
        writes.update(ctx, ent, row, {seg.name: value})
        return Response.empty(204)
    raise resource_not_found(seg.name)


def _many(ctx: Ctx, ent: Entity, row: dict[str, Any], segs: list[Segment], path: str
          ) -> Response:
    rel = ent.many[segs[0].name]
    other = ctx.org.schema.entity(rel.other)
    method = ctx.request.method
    is_ref = segs[-1].name == "$ref"
    if not is_ref and len(segs) == 1 and method == "GET":
        extra = reads.related_where(ent, rel.name, row[ent.primary_id], other)
        return reads.collection(ctx, other, parse_options(ctx.request.query()), path, extra)
    if not is_ref:
        raise _method_not_allowed(method)
    if method == "POST" and len(segs) == 2:
        ref = str((ctx.request.json() or {}).get("@odata.id") or "")
        target, other_id = writes.resolve_bind(ctx, ref)
        return _associate(ctx, ent, row, rel.name, target, other_id)
    if method == "DELETE":
        other_key = segs[0].key
        if other_key is None:
            other_key = writes.resolve_bind(ctx, ctx.request.query_dict().get("$id", ""))[1]
        return _disassociate(ctx, ent, row, rel.name, other_key.lower())
    raise _method_not_allowed(method)


def _associate(ctx: Ctx, ent: Entity, row: dict[str, Any], rel_name: str, target: Entity,
               other_id: str) -> Response:
    rel = ent.many[rel_name]
    if rel.table == "listmember":
        lst, member = (row, other_id) if ent.name == "list" else (
            lists.load_list(ctx, other_id), row[ent.primary_id])
        lists.add_member(ctx, lst, member, target.name if ent.name == "list" else ent.name)
        return Response.empty(204)
    ctx.require("Write", ent)
    ctx.org.store.execute(f'INSERT OR IGNORE INTO "{rel.table}" ("{rel.self_col}", '
                          f'"{rel.other_col}") VALUES (?, ?)', (row[ent.primary_id], other_id))
    return Response.empty(204)


def _disassociate(ctx: Ctx, ent: Entity, row: dict[str, Any], rel_name: str,
                  other_id: str) -> Response:
    rel = ent.many[rel_name]
    if rel.table == "listmember":
        lst, member = (row, other_id) if ent.name == "list" else (
            lists.load_list(ctx, other_id), row[ent.primary_id])
        lists.remove_member(ctx, lst, member)
        return Response.empty(204)
    ctx.require("Write", ent)
    ctx.org.store.execute(f'DELETE FROM "{rel.table}" WHERE "{rel.self_col}" = ? AND '
                          f'"{rel.other_col}" = ?', (row[ent.primary_id], other_id))
    return Response.empty(204)


def _lookup_ref(ctx: Ctx, ent: Entity, row: dict[str, Any], nav: str) -> Response:
    """PUT …/<nav>/$ref sets a lookup, DELETE clears it (docs/dataverse-webapi.md §Lookups)."""
    method = ctx.request.method
    if method == "PUT":
        ref = str((ctx.request.json() or {}).get("@odata.id") or "")
        writes.update(ctx, ent, row, {f"{nav}@odata.bind": ref})
    elif method == "DELETE":
        writes.update(ctx, ent, row, {f"{nav}@odata.bind": None})
    else:
        raise _method_not_allowed(method)
    return Response.empty(204)
