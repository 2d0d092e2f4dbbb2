"""Read handlers: collections (filter, order, paging, count, expand) and single records."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

from dynamics_emulator.filters import FilterContext, column_for, filter_sql
from dynamics_emulator.http_types import Response, bad_request, no_property
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.query import (
    MAX_PAGE,
    ExpandSpec,
    QueryOptions,
    make_skiptoken,
    parse_orderby,
    read_skiptoken,
)
from dynamics_emulator.schema.model import Attr, Entity
from dynamics_emulator.serialize import Annotations, etag, record, to_json

Where = tuple[str, list[Any]]


def select_attrs(ent: Entity, names: list[str] | None) -> list[Attr] | None:
    if names is None:
        return None
    return [column_for(ent, n) for n in names]


def where_clause(ctx: Ctx, ent: Entity, text: str | None, aliases: dict[str, str],
                 extra: Where | None) -> Where:
    parts, params = [], []
    if extra:
        parts.append(extra[0])
        params.extend(extra[1])
    if text:
        fctx = FilterContext(ctx.org.schema, ent, ctx.clock.now(), ctx.caller.user_id,
                             ctx.caller.business_unit_id)
        sql, fparams = filter_sql(text, fctx, aliases)
        parts.append(sql)
        params.extend(fparams)
    return (" AND ".join(parts) or "1", params)


def order_clause(ent: Entity, orderby: list[tuple[str, bool]]) -> str:
    items = []
    for name, desc in orderby:
        attr = column_for(ent, name)
        items.append(f'"{attr.name}" {"DESC" if desc else "ASC"}')
    items.append(f'"{ent.primary_id}" ASC')  # unique tiebreak keeps pages stable
    return ", ".join(items)


def context_url(ctx: Ctx, ent: Entity, opts: QueryOptions, suffix: str = "") -> str:
    cols = list(opts.select or [])
    cols += [f"{e.nav}({','.join(e.select or [])})" for e in opts.expand]
    inner = f"({','.join(cols)})" if cols else ""
    return f"{ctx.base_url}$metadata#{ent.set_name}{inner}{suffix}"


def page_size(ctx: Ctx) -> int | None:
    raw = ctx.prefer().get("odata.maxpagesize")
    if raw is None:
        return None
    if not raw.isdigit() or int(raw) < 1:
        raise bad_request(f"Invalid value '{raw}' for odata.maxpagesize preference.")
    return min(int(raw), MAX_PAGE)


def fetch_rows(ctx: Ctx, ent: Entity, where: Where, opts: QueryOptions,
               size: int) -> tuple[list[dict[str, Any]], int, bool]:
    """One page plus whether more rows follow. Keyset paging on the key when unordered."""
    sql_where, params = where
    page, last = read_skiptoken(opts.skiptoken) if opts.skiptoken else (1, None)
    offset = 0
    if opts.orderby:
        offset = (page - 1) * size
    elif last:
        sql_where = f'({sql_where}) AND "{ent.primary_id}" > ?'
        params = [*params, last]
    sql = (f'SELECT * FROM "{ent.name}" WHERE {sql_where} ORDER BY '
           f'{order_clause(ent, opts.orderby)} LIMIT ? OFFSET ?')
    rows = ctx.org.store.fetch(sql, [*params, size + 1, offset])
    return rows[:size], page, len(rows) > size


def next_link(ctx: Ctx, path: str, token: str) -> str:
    pairs = [(k, v) for k, v in ctx.request.query() if k != "$skiptoken"]
    pairs.append(("$skiptoken", token))
    query = urlencode(pairs, quote_via=quote, safe="$@,()'=:")
    return f"{ctx.base_url}{path}?{query}"


def collection(ctx: Ctx, ent: Entity, opts: QueryOptions, path: str,
               extra: Where | None = None, context_suffix: str = "") -> Response:
    ctx.require("Read", ent)
    select = select_attrs(ent, opts.select)
    where = where_clause(ctx, ent, opts.filter, opts.aliases, extra)
    size = page_size(ctx)
    limit = min(opts.top, MAX_PAGE) if opts.top is not None else (size or MAX_PAGE)
    rows, page, more = fetch_rows(ctx, ent, where, opts, limit)
    notes = Annotations(ctx.prefer().get("odata.include-annotations"))
    body: dict[str, Any] = {"@odata.context": context_url(ctx, ent, opts, context_suffix)}
    total = 0
    if opts.count:
        total = ctx.org.store.scalar(f'SELECT COUNT(*) FROM "{ent.name}" WHERE {where[0]}',
                                     where[1])
        body["@odata.count"] = min(int(total), MAX_PAGE)
    if notes.wants("Microsoft.Dynamics.CRM.totalrecordcount"):
        # Without $count=true the total is -1 (docs/dataverse-webapi.md §Count).
        body["@Microsoft.Dynamics.CRM.totalrecordcount"] = min(int(total), MAX_PAGE) \
            if opts.count else -1
    if notes.wants("Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"):
        body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] = \
            bool(opts.count and total > MAX_PAGE)
    values = []
    for row in rows:
        out = record(ctx, ent, row, select, notes)
        expand_into(ctx, ent, row, out, opts.expand, notes)
        values.append(out)
    body["value"] = values
    if more and opts.top is None:
        token = make_skiptoken(page + 1, ent.primary_id, rows[0][ent.primary_id],
                               rows[-1][ent.primary_id])
        body["@odata.nextLink"] = next_link(ctx, path, token)
    return with_preferences_applied(Response.json(body), ctx, size, notes)


def with_preferences_applied(resp: Response, ctx: Ctx, size: int | None,
                             notes: Annotations) -> Response:
    """`Preference-Applied`: the page size and annotations a collection read honoured."""
    applied = []
    if size is not None:
        applied.append(f"odata.maxpagesize={size}")
    if notes:
        applied.append(f'odata.include-annotations="{ctx.prefer()["odata.include-annotations"]}"')
    if applied:
        resp.headers.set("Preference-Applied", ",".join(applied))
    return resp


def expand_into(ctx: Ctx, ent: Entity, row: dict[str, Any], out: dict[str, Any],
                specs: list[ExpandSpec], notes: Annotations) -> None:
    if not specs:
        return  # the common case; nav_props() per row is measurable on big pages
    navs = ent.nav_props()
    for spec in specs:
        if spec.nav in navs:
            nav = navs[spec.nav]
            target_name = row.get(f"{nav.attr}_t")
            key = row.get(nav.attr)
            if key is None or target_name not in nav.targets:
                out[spec.nav] = None
                continue
            target = ctx.org.schema.entity(str(target_name))
            child = ctx.org.store.get(target, str(key))
            if child is None:
                out[spec.nav] = None
                continue
            item = record(ctx, target, child, select_attrs(target, spec.select), notes)
            expand_into(ctx, target, child, item, spec.nested, notes)
            out[spec.nav] = item
        elif spec.nav in ent.many:
            rel = ent.many[spec.nav]
            other = ctx.org.schema.entity(rel.other)
            extra = related_where(ent, rel.name, row[ent.primary_id], other)
            where = where_clause(ctx, other, spec.filter, {}, extra)
            order = order_clause(other, parse_orderby(spec.orderby) if spec.orderby else [])
            limit = spec.top or MAX_PAGE
            children = ctx.org.store.fetch(
                f'SELECT * FROM "{other.name}" WHERE {where[0]} ORDER BY {order} LIMIT ?',
                [*where[1], limit])
            sel = select_attrs(other, spec.select)
            out[spec.nav] = [record(ctx, other, c, sel, notes) for c in children]
        else:
            raise no_property(spec.nav, ent.name)


def related_where(ent: Entity, rel_name: str, key: str, other: Entity) -> Where:
    rel = ent.many[rel_name]
    # The row set on the other side of an N:N: ids found in the intersect table.
    sql = (f'"{other.primary_id}" IN (SELECT "{rel.other_col}" FROM "{rel.table}" '
           f'WHERE "{rel.self_col}" = ?)')
    return sql, [key]


def single(ctx: Ctx, ent: Entity, row: dict[str, Any], opts: QueryOptions) -> Response:
    ctx.require("Read", ent)
    notes = Annotations(ctx.prefer().get("odata.include-annotations"))
    tag = etag(row)
    inm = ctx.request.headers.get("If-None-Match")
    # Conditional GET never answers 304 with $expand or annotations
    # (docs/dataverse-webapi.md §Conditional requests).
    if inm and inm == tag and not opts.expand and not notes:
        resp = Response(status=304)
        resp.headers.set("ETag", tag)
        return resp
    out = {"@odata.context": context_url(ctx, ent, opts, "/$entity")}
    out.update(record(ctx, ent, row, select_attrs(ent, opts.select), notes))
    expand_into(ctx, ent, row, out, opts.expand, notes)
    resp = Response.json(out)
    resp.headers.set("ETag", tag)
    if notes:
        resp.headers.set("Preference-Applied",
                         f'odata.include-annotations="{ctx.prefer()["odata.include-annotations"]}"')
    return resp


def single_property(ctx: Ctx, ent: Entity, row: dict[str, Any], key: str, name: str) -> Response:
    ctx.require("Read", ent)
    attr = column_for(ent, name)
    value = row.get(attr.name)
    if value is None:
        return Response.empty(204)
    return Response.json({"@odata.context": f"{ctx.base_url}$metadata#{ent.set_name}({key})/{name}",
                          "value": to_json(attr, value)})
