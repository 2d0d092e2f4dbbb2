"""FetchXML on the Web API: `GET <entityset>?fetchXml=…` (docs/dataverse-webapi.md §FetchXML).

`fetchxml_compile.py` parses the document and compiles it into one SQLite statement; this
module runs it, pages it (paging cookie, `morerecords`, total record count) and shapes the
rows through `serialize` like OData reads, except that null properties are left out and
link-entity columns are named `<alias>.<attribute>`, as Dataverse does.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from dynamics_emulator.fetchxml_compile import (
    Compiler,
    Node,
    Query,
    invalid_fetch,
    parse,
)
from dynamics_emulator.fetchxml_sql import from_clause, node_attrs, order_clause, select_list
from dynamics_emulator.http_types import DataverseError, Response, bad_request
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.query import MAX_PAGE
from dynamics_emulator.schema.model import Attr, Entity
from dynamics_emulator.serialize import (
    FORMATTED,
    LOGICAL,
    Annotations,
    formatted,
    prop_name,
    record,
    to_json,
)

ATTRIBUTE_NAME = "OData.Community.Display.V1.AttributeName"
COOKIE = "Microsoft.Dynamics.CRM.fetchxmlpagingcookie"
MORE = "Microsoft.Dynamics.CRM.morerecords"
TOTAL = "Microsoft.Dynamics.CRM.totalrecordcount"
TOTAL_EXCEEDED = "Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"
SIMPLE_PAGING_LIMIT = 50000


def _emit(ctx: Ctx, ent: Entity, row: dict[str, Any], attrs: list[Attr], notes: Annotations,
          out: dict[str, Any], prefix: str = "", aliases: dict[str, str] | None = None) -> None:
    """Non-null attribute values under `<prefix><name>` (link-entity and distinct rows)."""
    for attr in attrs:
        value = row.get(attr.name)
        if value is None:
            continue
        alias = (aliases or {}).get(attr.name)
        name = alias or (f"{prefix}{attr.name}" if prefix else prop_name(attr))
        if notes:
            if (alias or prefix) and notes.wants(ATTRIBUTE_NAME):
                out[f"{name}@{ATTRIBUTE_NAME}"] = attr.name
            if notes.wants(FORMATTED):
                text = formatted(ctx, attr, row)
                if text is not None:
                    out[f"{name}@{FORMATTED}"] = text
            if attr.is_lookup and notes.wants(LOGICAL):
                out[f"{name}@{LOGICAL}"] = row.get(f"{attr.name}_t")
        out[name] = to_json(attr, value)


def _sub_row(node: Node, row: dict[str, Any]) -> dict[str, Any]:
    prefix = f"{node.sql}_"
    return {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)}


def _shape(ctx: Ctx, q: Query, row: dict[str, Any], notes: Annotations) -> dict[str, Any]:
    root = q.root
    if q.aggregate:
        out: dict[str, Any] = {}
        for node in [root, *q.links]:
            for col in node.columns:
                value = row.get(col.sql_name)
                if value is None:
                    continue
                if col.groupby:
                    sub = {col.attr.name: value, f"{col.attr.name}_t": row.get(f"{col.sql_name}_t")}
                    _emit(ctx, node.ent, sub, [col.attr], notes, out,
                          aliases={col.attr.name: col.sql_name})
                elif col.aggregate == "avg":
                    out[col.sql_name] = float(value)
                elif col.aggregate in ("count", "countcolumn"):
                    out[col.sql_name] = int(value)
                else:
                    out[col.sql_name] = to_json(col.attr, value)
        return out
    aliases = {c.attr.name: c.alias for c in root.columns if c.alias}
    if q.distinct:
        out = {}
        _emit(ctx, root.ent, _sub_row(root, row), node_attrs(root), notes, out, aliases=aliases)
    else:
        select = None if root.all_attributes or not root.columns else [c.attr for c in root.columns]
        full = record(ctx, root.ent, row, select, notes)
        out = {k: v for k, v in full.items() if not _is_null(full, k)}
        for attr_name, alias in aliases.items():
            attr = root.ent.attrs[attr_name]
            key = prop_name(attr)
            if key in out:
                out[alias] = out.pop(key)
                if notes.wants(ATTRIBUTE_NAME):
                    out[f"{alias}@{ATTRIBUTE_NAME}"] = attr_name
                for note in (FORMATTED, LOGICAL):
                    if f"{key}@{note}" in out:
                        out[f"{alias}@{note}"] = out.pop(f"{key}@{note}")
    for node in q.links:
        attrs = [a for a in node.ent.attrs.values() if a.read] if node.all_attributes and \
            not q.distinct else [c.attr for c in node.columns]
        link_aliases = {c.attr.name: c.alias for c in node.columns if c.alias}
        _emit(ctx, node.ent, _sub_row(node, row), attrs, notes, out, prefix=f"{node.alias}.",
              aliases=link_aliases)
    return out


def _is_null(full: dict[str, Any], key: str) -> bool:
    base = key.split("@", 1)[0]
    return base in full and full[base] is None


def _context(ctx: Ctx, ent: Entity, q: Query) -> str:
    if q.aggregate or q.root.all_attributes or not q.root.columns:
        return f"{ctx.base_url}$metadata#{ent.set_name}"
    names = [prop_name(c.attr) for c in q.root.columns]
    if ent.primary_id not in names and not q.distinct:
        names.append(ent.primary_id)
    return f"{ctx.base_url}$metadata#{ent.set_name}({','.join(names)})"


def paging_cookie(ent: Entity, page: int, rows: list[dict[str, Any]]) -> str:
    """The Web API annotation: `pagenumber` is the next page; the inner cookie, URL-encoded
    twice, names the current page and the first/last keys on it."""
    pk = ent.primary_id
    inner = (f'<cookie page="{page}"><{pk} last="{{{str(rows[-1][pk]).upper()}}}" '
             f'first="{{{str(rows[0][pk]).upper()}}}" /></cookie>')
    encoded = quote(quote(inner, safe=""), safe="")
    return f'<cookie pagenumber="{page + 1}" pagingcookie="{encoded}" istracking="False" />'


@dataclass
class Result:
    body: dict[str, Any]
    rows: list[dict[str, Any]]
    more: bool
    page: int
    cookie_ok: bool


def run(ctx: Ctx, ent: Entity, fetch: ET.Element, notes: Annotations,
        page_size: int | None = None) -> Result:
    """Evaluate a parsed `<fetch>` whose root entity must be `ent`."""
    q = Compiler(ctx, fetch).compile()
    if q.root.ent.name != ent.name:
        raise bad_request("The entity name specified in FetchXml does not match the entity "
                          "name in the EntitySet or EntitySetName.", code="0x80040203")
    select = ", ".join(select_list(q))
    source, params = from_clause(q)
    group = ""
    if q.aggregate:
        keys = [f'"{c.sql_name}"' for n in [q.root, *q.links] for c in n.columns if c.groupby]
        keys += [f'"{c.sql_name}_t"' for n in [q.root, *q.links] for c in n.columns
                 if c.groupby and c.attr.is_lookup]
        group = f" GROUP BY {', '.join(keys)}" if keys else ""
    distinct = "DISTINCT " if q.distinct and not q.aggregate else ""
    sql = f"SELECT {distinct}{select} {source}{group}{order_clause(q)}"
    if q.top is not None:
        size, offset = q.top, 0
    else:
        size = page_size or q.count or MAX_PAGE
        offset = (q.page - 1) * size
        if q.count is not None and q.page * size > SIMPLE_PAGING_LIMIT and \
                not fetch.get("paging-cookie"):
            raise invalid_fetch(f"Simple paging can't go past {SIMPLE_PAGING_LIMIT} records; "
                                "use the paging cookie.")
    rows = ctx.org.store.fetch(f"{sql} LIMIT ? OFFSET ?", [*params, size + 1, offset])
    more = len(rows) > size and q.top is None
    rows = rows[:size]
    body: dict[str, Any] = {"@odata.context": _context(ctx, ent, q)}
    want_count = q.total or ctx.request.query_dict().get("$count", "").lower() == "true"
    if want_count and not q.aggregate:
        total = int(ctx.org.store.scalar(f"SELECT COUNT(*) FROM (SELECT {distinct}{select} "
                                         f"{source})", params))
        body["@odata.count"] = min(total, MAX_PAGE)
        if notes.wants(TOTAL):
            body[f"@{TOTAL}"] = min(total, MAX_PAGE)
        if notes.wants(TOTAL_EXCEEDED):
            body[f"@{TOTAL_EXCEEDED}"] = total > MAX_PAGE
    cookie_ok = bool(rows) and not q.linked_order and not q.aggregate and not q.distinct
    if more and cookie_ok and notes.wants(COOKIE):
        body[f"@{COOKIE}"] = paging_cookie(ent, q.page, rows)
    if notes.wants(MORE):
        body[f"@{MORE}"] = more
    body["value"] = [_shape(ctx, q, row, notes) for row in rows]
    return Result(body, rows, more, q.page, cookie_ok)


def collection(ctx: Ctx, ent: Entity, text: str) -> Response:
    """`GET <entityset>?fetchXml=…`."""
    ctx.require("Read", ent)
    notes = Annotations(ctx.prefer().get("odata.include-annotations"))
    result = run(ctx, ent, parse(text), notes)
    resp = Response.json(result.body)
    if notes:
        resp.headers.set("Preference-Applied",
                         f'odata.include-annotations="{ctx.prefer()["odata.include-annotations"]}"')
    return resp


def read_cookie(cookie: str) -> tuple[int, str]:
    """(page number, inner cookie) from a `fetchxmlpagingcookie` value."""
    try:
        el = ET.fromstring(cookie) if "<!" not in cookie else None  # noqa: S314 (no DTD)
    except ET.ParseError:
        el = None
    if el is None or not (el.get("pagenumber") or "").isdigit():
        raise DataverseError(400, "0x80040203", "Invalid paging cookie.")
    return int(el.get("pagenumber") or 1), unquote(unquote(el.get("pagingcookie") or ""))
