"""FetchXML compiled to SQL (docs/dataverse-webapi.md §FetchXML): the parsed document
(refusing DTDs and entities: it is caller input) becomes a query model — the root table
`t0`, each `link-entity` a join `t1`, `t2`, … — and one parameterised SQLite statement.
`fetchxml.py` runs it and shapes the rows.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from dynamics_emulator.filters import FilterContext, _Visitor, to_storage
from dynamics_emulator.http_types import DataverseError
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.query import MAX_PAGE
from dynamics_emulator.schema.model import Attr, Entity
from dynamics_emulator.schema.security import intersect_entity

_COMPARE = {"eq": "=", "ne": "<>", "neq": "<>", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}
_LIKE = {"like": ("", "", False), "not-like": ("", "", True),
         "begins-with": ("", "%", False), "not-begin-with": ("", "%", True),
         "ends-with": ("%", "", False), "not-end-with": ("%", "", True)}
# FetchXML operators that have the same meaning as a Microsoft.Dynamics.CRM query function.
_FUNCTIONS = {"on": "On", "on-or-after": "OnOrAfter", "on-or-before": "OnOrBefore",
              "not-on": "NotOn", "today": "Today", "yesterday": "Yesterday",
              "tomorrow": "Tomorrow", "last-x-days": "LastXDays", "next-x-days": "NextXDays",
              "last-x-hours": "LastXHours", "next-x-hours": "NextXHours",
              "olderthan-x-days": "OlderThanXDays", "olderthan-x-hours": "OlderThanXHours",
              "olderthan-x-minutes": "OlderThanXMinutes", "eq-userid": "EqualUserId",
              "ne-userid": "NotEqualUserId", "eq-businessid": "EqualBusinessId",
              "ne-businessid": "NotEqualBusinessId"}
_FIXED_DAYS = {"last-seven-days": ("LastXDays", 7), "next-seven-days": ("NextXDays", 7)}
_AGGREGATES = {"count", "countcolumn", "sum", "avg", "min", "max"}
_LINK_JOIN = {"inner": "JOIN", "outer": "LEFT JOIN"}
_ALIAS = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,99}")
_LINK_SEMI = {"exists": "EXISTS", "in": "EXISTS", "any": "EXISTS", "not-any": "NOT EXISTS"}


# --- errors (docs/dataverse-webapi.md §FetchXML, "Errors") ---------------------------------

def invalid_fetch(detail: str) -> DataverseError:
    return DataverseError(400, "0x80040203", f"Invalid FetchXml: {detail}")


def unknown_entity(name: str) -> DataverseError:
    return DataverseError(400, "0x80041102", f"The entity with a name = '{name}' with "
                                             "namemapping = 'Logical' was not found in the "
                                             "MetadataCache.")


def unknown_attribute(ent: Entity, name: str) -> DataverseError:
    return DataverseError(400, "0x80041103", f"'{ent.schema_name}' entity doesn't contain "
                                             f"attribute with Name = '{name}' and NameMapping = "
                                             "'Logical'.")


def parse(text: str) -> ET.Element:
    """The `<fetch>` element. DTDs and entity declarations are refused before parsing."""
    if "<!" in text:
        raise invalid_fetch("DTDs, entity declarations and CDATA sections are not allowed.")
    try:
        # Safe here: with no DTD there are no entity expansions and no external references.
        root = ET.fromstring(text)  # noqa: S314
    except ET.ParseError as exc:
        raise invalid_fetch(f"The XML is not well-formed ({exc}).") from None
    if root.tag != "fetch":
        raise invalid_fetch(f"The root element must be 'fetch', not '{root.tag}'.")
    return root


def _int(el: ET.Element, name: str) -> int | None:
    raw = el.get(name)
    if raw is None or raw == "":
        return None
    if not raw.strip().isdigit():
        raise invalid_fetch(f"The '{name}' attribute value '{raw}' is not a valid integer.")
    return int(raw)


def _alias(el: ET.Element, name: str = "alias") -> str | None:
    """Aliases end up in SQL and JSON names: letters, digits and underscores only."""
    raw = el.get(name)
    if raw is not None and not _ALIAS.fullmatch(raw):
        raise invalid_fetch(f"The alias '{raw}' is not valid; use letters, digits and '_'.")
    return raw


def _bool(el: ET.Element, name: str) -> bool:
    return (el.get(name) or "").strip().lower() in ("true", "1")


# --- the compiled query ---------------------------------------------------------------------

@dataclass
class Column:
    node: Node
    attr: Attr
    alias: str | None = None
    aggregate: str | None = None
    groupby: bool = False
    distinct: bool = False
    sql_name: str = ""


@dataclass
class Node:
    ent: Entity
    sql: str  # SQL table alias: t0 for the root, t1… for link-entities
    alias: str | None = None  # FetchXML alias (link-entities), prefixes their columns
    all_attributes: bool = False
    columns: list[Column] = field(default_factory=list)


@dataclass
class Query:
    root: Node
    joins: list[tuple[str, list[Any]]] = field(default_factory=list)  # in document order
    where: list[str] = field(default_factory=list)
    where_params: list[Any] = field(default_factory=list)
    orders: list[str] = field(default_factory=list)
    linked_order: bool = False
    nodes: dict[str, Node] = field(default_factory=dict)  # FetchXML alias -> node
    links: list[Node] = field(default_factory=list)
    aggregate: bool = False
    distinct: bool = False
    top: int | None = None
    count: int | None = None
    page: int = 1
    total: bool = False


class Compiler:
    def __init__(self, ctx: Ctx, fetch: ET.Element) -> None:
        self.ctx = ctx
        self.fctx = FilterContext(ctx.org.schema, ctx.org.schema.entity("contact"),
                                  ctx.clock.now(), ctx.caller.user_id,
                                  ctx.caller.business_unit_id)
        self.fetch = fetch
        self._next = 0

    def entity(self, name: str | None, link: bool = False) -> Entity:
        ent = self.ctx.org.schema.by_name.get(name or "")
        if ent is None and link and (inter := intersect_entity(name or "")) is not None:
            return inter  # N:N intersect (systemuserroles, …): readable with its parent
        if ent is None:
            raise unknown_entity(name or "")
        self.ctx.require("Read", ent)
        return ent

    def attr(self, ent: Entity, name: str | None) -> Attr:
        attr = ent.attr(name or "")
        if attr is None:
            raise unknown_attribute(ent, name or "")
        return attr

    def new_node(self, ent: Entity, alias: str | None) -> Node:
        node = Node(ent, f"t{self._next}", alias)
        self._next += 1
        return node

    def compile(self) -> Query:
        fetch = self.fetch
        entities = fetch.findall("entity")
        if len(entities) != 1:
            raise invalid_fetch("A fetch element must contain exactly one entity element.")
        root_el = entities[0]
        q = Query(self.new_node(self.entity(root_el.get("name")), None))
        q.aggregate = _bool(fetch, "aggregate")
        q.distinct = _bool(fetch, "distinct")
        q.top, q.count = _int(fetch, "top"), _int(fetch, "count")
        q.page = _int(fetch, "page") or 1
        q.total = _bool(fetch, "returntotalrecordcount")
        if q.top is not None and (q.count is not None or fetch.get("page") is not None):
            raise invalid_fetch("The 'top' attribute can't be used together with the 'count' "
                                "or 'page' attributes.")
        if q.top is not None and q.total:
            raise invalid_fetch("The 'top' attribute can't be used together with "
                                "'returntotalrecordcount'.")
        if q.top is not None and q.top > MAX_PAGE:
            raise invalid_fetch(f"The 'top' attribute value must be between 0 and {MAX_PAGE}.")
        if q.count is not None and not 0 < q.count <= MAX_PAGE:
            raise invalid_fetch(f"The 'count' attribute value must be between 1 and {MAX_PAGE}.")
        self.body(q, q.root, root_el, q.where, q.where_params)
        return q

    def body(self, q: Query, node: Node, el: ET.Element, where: list[str],
             params: list[Any]) -> None:
        """Attributes, filters, orders and link-entities of an entity or link-entity."""
        for child in el:
            tag = child.tag
            if tag == "attribute":
                self.column(q, node, child)
            elif tag == "all-attributes":
                node.all_attributes = True
            elif tag == "filter":
                where.append(self.filter(q, node, child, params))
            elif tag == "order":
                self.order(q, node, child)
            elif tag == "link-entity":
                self.link(q, node, child)
            else:
                raise invalid_fetch(f"The element '{tag}' is not allowed inside "
                                    f"'{el.tag}'.")

    def column(self, q: Query, node: Node, el: ET.Element) -> None:
        col = Column(node, self.attr(node.ent, el.get("name")), _alias(el),
                     el.get("aggregate"), _bool(el, "groupby"), _bool(el, "distinct"))
        if q.aggregate:
            if col.aggregate is None and not col.groupby:
                raise invalid_fetch("In an aggregate query every attribute needs an "
                                    "'aggregate' or a 'groupby' attribute.")
            if col.aggregate is not None and col.aggregate not in _AGGREGATES:
                raise invalid_fetch(f"The aggregate function '{col.aggregate}' is not valid.")
            if not col.alias:
                raise invalid_fetch("An aggregate attribute needs an alias.")
        elif col.aggregate is not None:
            raise invalid_fetch("The 'aggregate' attribute needs aggregate='true' on fetch.")
        node.columns.append(col)

    def link(self, q: Query, parent: Node, el: ET.Element) -> None:
        ent = self.entity(el.get("name"), link=True)
        link_type = el.get("link-type") or "inner"
        if link_type not in _LINK_JOIN and link_type not in _LINK_SEMI:
            raise invalid_fetch(f"The link-type '{link_type}' is not valid.")
        alias = _alias(el) or f"{ent.name}{len(q.links) + 1}"
        if alias in q.nodes:
            raise invalid_fetch(f"The alias '{alias}' is used more than once.")
        node = self.new_node(ent, alias)
        from_attr = self.attr(ent, el.get("from") or ent.primary_id)
        to_attr = self.attr(parent.ent, el.get("to") or parent.ent.primary_id)
        on = f'{node.sql}."{from_attr.name}" = {parent.sql}."{to_attr.name}"'
        if link_type in _LINK_SEMI:
            # Semi-joins filter the parent rows; their columns can't be returned.
            conds: list[str] = [on]
            params: list[Any] = []
            for child in el:
                if child.tag == "filter":
                    conds.append(self.filter(q, node, child, params))
                elif child.tag != "attribute":
                    raise invalid_fetch(f"'{child.tag}' is not supported inside a link-entity "
                                        f"with link-type '{link_type}'.")
            q.where.append(f'{_LINK_SEMI[link_type]} (SELECT 1 FROM "{ent.name}" {node.sql} '
                           f'WHERE {" AND ".join(conds)})')
            q.where_params.extend(params)
            return
        q.nodes[alias] = node
        q.links.append(node)
        conds, params = [on], []
        index = len(q.joins)
        q.joins.append(("", []))  # nested link-entities join after this one
        self.body(q, node, el, conds, params)
        q.joins[index] = (f'{_LINK_JOIN[link_type]} "{ent.name}" {node.sql} '
                          f'ON {" AND ".join(conds)}', params)

    def order(self, q: Query, node: Node, el: ET.Element) -> None:
        desc = " DESC" if _bool(el, "descending") else " ASC"
        alias = _alias(el)
        if alias:
            if not q.aggregate:
                raise invalid_fetch("An order by alias is only valid in an aggregate query.")
            q.orders.append(f'"{alias}"{desc}')
            return
        attr = self.attr(node.ent, el.get("attribute"))
        if q.aggregate:
            raise invalid_fetch("An aggregate query must order by an alias.")
        if node is not q.root:
            q.linked_order = True
        q.orders.append(f'{node.sql}."{attr.name}"{desc}')

    def filter(self, q: Query, node: Node, el: ET.Element, params: list[Any]) -> str:
        kind = (el.get("type") or "and").lower()
        if kind not in ("and", "or"):
            raise invalid_fetch(f"The filter type '{kind}' is not valid.")
        parts = []
        for child in el:
            if child.tag == "condition":
                parts.append(self.condition(q, node, child, params))
            elif child.tag == "filter":
                parts.append(self.filter(q, node, child, params))
            else:
                raise invalid_fetch(f"The element '{child.tag}' is not allowed inside 'filter'.")
        if not parts:
            return "1"
        return "(" + f" {kind.upper()} ".join(parts) + ")"

    def condition(self, q: Query, node: Node, el: ET.Element, params: list[Any]) -> str:
        target = node
        if el.get("entityname"):
            target = q.nodes.get(el.get("entityname") or "")  # type: ignore[assignment]
            if target is None:
                raise invalid_fetch(f"No link-entity has the alias '{el.get('entityname')}'.")
        attr = self.attr(target.ent, el.get("attribute"))
        op = (el.get("operator") or "").lower()
        col = f'{target.sql}."{attr.name}"'
        value = el.get("value")
        values = [v.text or "" for v in el.findall("value")]
        if op in ("null", "not-null"):
            return f"{col} IS {'NOT ' if op == 'not-null' else ''}NULL"
        if op in _COMPARE:
            stored = self.one(attr, op, value, values)
            if attr.is_multi:
                stored = str(value)
            params.append(stored)
            return f"{col} {_COMPARE[op]} ?"
        if op in _LIKE:
            before, after, negate = _LIKE[op]
            text = value if value is not None else (values[0] if values else None)
            if text is None:
                raise invalid_fetch(f"The '{op}' operator needs a value.")
            params.append(f"{before}{text}{after}")
            return f"{col} {'NOT ' if negate else ''}LIKE ?"
        if op in ("in", "not-in"):
            items = values or ([value] if value is not None else [])
            if not items:
                raise invalid_fetch(f"The '{op}' operator needs at least one value element.")
            params.extend(to_storage(attr, v) for v in items)
            marks = ", ".join("?" for _ in items)
            return f"{col} {'NOT ' if op == 'not-in' else ''}IN ({marks})"
        if op in ("between", "not-between"):
            if len(values) != 2:
                raise invalid_fetch(f"The '{op}' operator needs exactly two value elements.")
            params.extend(to_storage(attr, v) for v in values)
            return f"{col} {'NOT ' if op == 'not-between' else ''}BETWEEN ? AND ?"
        if op in ("contain-values", "not-contain-values"):
            parts = []
            for v in values:
                params.append(f"%,{int(v)},%")
                parts.append(f"(',' || {col} || ',') LIKE ?")
            joined = "(" + " OR ".join(parts or ["0"]) + ")"
            return joined if op == "contain-values" else f"({col} IS NULL OR NOT {joined})"
        if op in _FUNCTIONS or op in _FIXED_DAYS:
            name, fixed = _FIXED_DAYS.get(op, (_FUNCTIONS.get(op, ""), None))
            arg = fixed if fixed is not None else (value if value is not None else
                                                   (values[0] if values else None))
            if name in ("On", "OnOrAfter", "OnOrBefore", "NotOn") and arg is None:
                raise invalid_fetch(f"The '{op}' operator needs a value.")
            visitor = _Visitor(self.fctx, params, target.ent, target.sql)
            return visitor.crm_function(name, attr, {"PropertyValue": arg})
        raise invalid_fetch(f"The condition operator '{el.get('operator')}' is not valid or "
                            "not supported.")

    @staticmethod
    def one(attr: Attr, op: str, value: str | None, values: list[str]) -> Any:
        text = value if value is not None else (values[0] if len(values) == 1 else None)
        if text is None:
            raise invalid_fetch(f"The '{op}' operator needs exactly one value.")
        return to_storage(attr, text)
