"""RetrieveMultiple: `QueryExpression` and `FetchExpression` through the emulator's FetchXML
evaluation (fetchxml.py), so both endpoints answer a query the same way.

A QueryExpression is translated into the equivalent `<fetch>` (the platform documents the
two as equivalent query languages); paging uses `PageInfo` (Count, PageNumber,
PagingCookie) and answers `MoreRecords` and the paging cookie of the page
(docs/organization-service.md §Queries).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import datetime
from decimal import Decimal
from typing import Any

from dynamics_emulator import fetchxml
from dynamics_emulator.fetchxml_compile import Compiler, Node, Query, invalid_fetch
from dynamics_emulator.fetchxml_compile import parse as parse_fetch
from dynamics_emulator.fetchxml_sql import select_list
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.serialize import Annotations
from dynamics_emulator.soap.contracts import (
    Aliased,
    Collection,
    EntityData,
    EntityRef,
    Money,
    OptionSet,
    child,
    fmt_datetime,
    local,
    read_value,
    text_of,
    type_name,
)
from dynamics_emulator.soap.records import entity_of, has_row_version, row_entity, typed_value

# ConditionOperator names → FetchXML operators.
OPERATORS = {
    "Equal": "eq", "NotEqual": "ne", "GreaterThan": "gt", "GreaterEqual": "ge",
    "LessThan": "lt", "LessEqual": "le", "Like": "like", "NotLike": "not-like", "In": "in",
    "NotIn": "not-in", "Null": "null", "NotNull": "not-null", "BeginsWith": "begins-with",
    "DoesNotBeginWith": "not-begin-with", "EndsWith": "ends-with",
    "DoesNotEndWith": "not-end-with", "Between": "between", "NotBetween": "not-between",
    "On": "on", "OnOrAfter": "on-or-after", "OnOrBefore": "on-or-before",
    "LastXDays": "last-x-days", "NextXDays": "next-x-days", "LastXHours": "last-x-hours",
    "NextXHours": "next-x-hours", "EqualUserId": "eq-userid", "NotEqualUserId": "ne-userid",
    "EqualBusinessId": "eq-businessid", "NotEqualBusinessId": "ne-businessid",
    "ContainValues": "contain-values", "DoesNotContainValues": "not-contain-values",
}
JOINS = {"Inner": "inner", "LeftOuter": "outer", "Natural": "inner", "Exists": "exists"}


def _literal(value: Any) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return fmt_datetime(value)
    if isinstance(value, OptionSet | Money):
        return str(value.value)
    if isinstance(value, EntityRef):
        return value.id
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def _columns(parent: ET.Element, column_set: ET.Element | None) -> None:
    if column_set is None or text_of(column_set, "AllColumns") == "true":
        ET.SubElement(parent, "all-attributes")
        return
    for item in child(column_set, "Columns") or []:
        ET.SubElement(parent, "attribute", name=item.text or "")


def _filter(parent: ET.Element, expr: ET.Element | None) -> None:
    if expr is None:
        return
    el = ET.SubElement(parent, "filter",
                       type=(text_of(expr, "FilterOperator") or "And").lower())
    for cond in child(expr, "Conditions") or []:
        op_name = text_of(cond, "Operator") or "Equal"
        op = OPERATORS.get(op_name)
        if op is None:
            raise invalid_fetch(f"The condition operator '{op_name}' is not supported.")
        c = ET.SubElement(el, "condition", attribute=text_of(cond, "AttributeName") or "",
                          operator=op)
        alias = text_of(cond, "EntityName")
        if alias:
            c.set("entityname", alias)
        values = [_literal(read_value(v)) for v in child(cond, "Values") or []]
        if op in ("in", "not-in", "between", "not-between", "contain-values",
                  "not-contain-values"):
            for v in values:
                ET.SubElement(c, "value").text = v
        elif values:
            c.set("value", values[0])
    for sub in child(expr, "Filters") or []:
        _filter(el, sub)


def _orders(parent: ET.Element, orders: ET.Element | None) -> None:
    for order in orders if orders is not None else []:
        ET.SubElement(parent, "order", attribute=text_of(order, "AttributeName") or "",
                      descending="true" if text_of(order, "OrderType") == "Descending"
                      else "false")


def _links(parent: ET.Element, links: ET.Element | None, counter: list[int]) -> None:
    for link in links if links is not None else []:
        to_entity = text_of(link, "LinkToEntityName") or ""
        counter[0] += 1
        el = ET.SubElement(parent, "link-entity", {
            "name": to_entity, "from": text_of(link, "LinkToAttributeName") or "",
            "to": text_of(link, "LinkFromAttributeName") or "",
            "alias": text_of(link, "EntityAlias") or f"{to_entity}{counter[0]}",
            "link-type": JOINS.get(text_of(link, "JoinOperator") or "Inner", "inner")})
        columns = child(link, "Columns")
        if columns is not None and (text_of(columns, "AllColumns") == "true"
                                    or len(child(columns, "Columns") or [])):
            _columns(el, columns)
        _filter(el, child(link, "LinkCriteria"))
        _orders(el, child(link, "Orders"))
        _links(el, child(link, "LinkEntities"), counter)


def query_to_fetch(query: ET.Element) -> ET.Element:
    """A `QueryExpression` as the equivalent `<fetch>` element."""
    fetch = ET.Element("fetch", mapping="logical")
    if text_of(query, "Distinct") == "true":
        fetch.set("distinct", "true")
    top = text_of(query, "TopCount")
    page_info = child(query, "PageInfo")
    if top:
        fetch.set("top", top)
    elif page_info is not None:
        count = text_of(page_info, "Count")
        if count and int(count) > 0:
            fetch.set("count", count)
            fetch.set("page", text_of(page_info, "PageNumber") or "1")
            cookie = text_of(page_info, "PagingCookie")
            if cookie:
                fetch.set("paging-cookie", cookie)
        if text_of(page_info, "ReturnTotalRecordCount") == "true":
            fetch.set("returntotalrecordcount", "true")
    entity = ET.SubElement(fetch, "entity", name=text_of(query, "EntityName") or "")
    _columns(entity, child(query, "ColumnSet"))
    _filter(entity, child(query, "Criteria"))
    _orders(entity, child(query, "Orders"))
    _links(entity, child(query, "LinkEntities"), [0])
    return fetch


def retrieve_multiple(ctx: Ctx, query: ET.Element) -> Collection:
    kind = type_name(query) or local(query.tag)
    if kind == "FetchExpression":
        fetch = parse_fetch(text_of(query, "Query") or "")
    elif kind == "QueryExpression":
        fetch = query_to_fetch(query)
    else:
        raise invalid_fetch(f"The query type '{kind}' is not supported.")
    return run_fetch(ctx, fetch)


def run_fetch(ctx: Ctx, fetch: ET.Element) -> Collection:
    # Links through intersect tables (a user's roles, an activity's lists) are the
    # compiler's own (fetchxml_compile), as for the Web API's FetchXML.
    entity_el = fetch.find("entity")
    ent = entity_of(ctx, entity_el.get("name") or "" if entity_el is not None else "")
    result = fetchxml.run(ctx, ent, fetch, Annotations(None))
    # Compiled again for the node layout (table aliases and column names are deterministic).
    q = Compiler(ctx, fetch).compile()
    select_list(q)
    versions = has_row_version(ctx)
    entities = [_entity(q, row, versions) for row in result.rows]
    cookie = None
    if result.more and result.cookie_ok and result.rows:
        pk = ent.primary_id
        last, first = (str(result.rows[i][pk]).upper() for i in (-1, 0))
        cookie = (f'<cookie page="{result.page}"><{pk} last="{{{last}}}" first="{{{first}}}" />'
                  f"</cookie>")
    total = int(result.body.get("@odata.count", -1))
    return Collection(ent.name, entities, result.more, cookie, total)


def _sub_row(node: Node, row: dict[str, Any]) -> dict[str, Any]:
    prefix = f"{node.sql}_"
    return {k[len(prefix):]: v for k, v in row.items() if k.startswith(prefix)}


def _entity(q: Query, row: dict[str, Any], versions: bool) -> EntityData:
    root = q.root
    if q.aggregate:
        data = EntityData(root.ent.name, None)
        for node in [root, *q.links]:
            for col in node.columns:
                value = row.get(col.sql_name)
                if col.aggregate in ("count", "countcolumn"):
                    value = int(value or 0)
                elif col.aggregate == "avg" and value is not None:
                    value = Decimal(str(value))
                else:
                    value = typed_value(col.attr, value, {f"{col.attr.name}_t":
                                                          row.get(f"{col.sql_name}_t")})
                data.attributes[col.sql_name] = Aliased(col.attr.name, node.ent.name, value)
        return data
    own = _sub_row(root, row) if q.distinct else row
    columns = None if root.all_attributes or not root.columns else \
        [c.attr.name for c in root.columns]
    if q.distinct and root.ent.primary_id not in own:
        own = {**own, root.ent.primary_id: None}
    data = row_entity(root.ent, own, columns, row_version=versions and not q.distinct)
    if q.distinct and own.get(root.ent.primary_id) is None:
        data.id = None
    for col in root.columns:
        if col.alias and col.attr.name in data.attributes:
            data.attributes[col.alias] = Aliased(col.attr.name, root.ent.name,
                                                 data.attributes.pop(col.attr.name))
    for node in q.links:
        sub = _sub_row(node, row)
        attrs = [a for a in node.ent.attrs.values() if a.read] if node.all_attributes else \
            [c.attr for c in node.columns]
        aliases = {c.attr.name: c.alias for c in node.columns if c.alias}
        for attr in attrs:
            value = typed_value(attr, sub.get(attr.name), sub)
            if value is not None:
                name = aliases.get(attr.name) or f"{node.alias}.{attr.name}"
                data.attributes[name] = Aliased(attr.name, node.ent.name, value)
    return data
