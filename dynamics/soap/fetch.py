"""The engine's OData query subset as FetchXML, for RetrieveMultiple on CRM 2013/2015.

The engine and the checks name queries the Web API way (an entity set, `$select`,
`$filter`, `$orderby`, an N:N navigation path). This module parses the small, well-defined
part of OData they use — comparisons (`eq ne gt ge lt le`, `null`), `and`/`or`, brackets
and `Microsoft.Dynamics.CRM.In` — and writes the same query as FetchXML. Anything else is
refused with `UnsupportedQuery`, never guessed.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field

from dynamics.soap.values import primary_key_of, table_of_set


class UnsupportedQuery(ValueError):
    """A query outside the subset this translation knows."""


# N:N navigation properties the engine reads through: (target table, intersect table,
# intersect column naming the source record, intersect column naming the target record).
RELATIONSHIPS = {
    "listcontact_association": ("contact", "listmember", "listid", "entityid"),
    "listaccount_association": ("account", "listmember", "listid", "entityid"),
    "listlead_association": ("lead", "listmember", "listid", "entityid"),
    "campaignactivitylist_association": ("list", "campaignactivityitem", "campaignactivityid",
                                         "itemid"),
    "systemuserroles_association": ("role", "systemuserroles", "systemuserid", "roleid"),
}
_PATH = re.compile(r"^([A-Za-z_]+)\(([0-9a-fA-F-]{36})\)/([A-Za-z_]+)$")
_TOKEN = re.compile(r"""\s*(?:(?P<str>'(?:[^']|'')*')|(?P<in>Microsoft\.Dynamics\.CRM\.In\()
    |(?P<lp>\()|(?P<rp>\))|(?P<word>[A-Za-z0-9_./:+-]+))""", re.VERBOSE)
_IN_ARGS = re.compile(r"PropertyName='((?:[^']|'')*)',PropertyValues=(\[.*?\])\)", re.DOTALL)
_OPS = {"eq", "ne", "gt", "ge", "lt", "le"}


@dataclass
class Condition:
    attribute: str
    operator: str
    values: list[str] = field(default_factory=list)


@dataclass
class Filter:
    kind: str  # "and" | "or"
    items: list[Condition | Filter] = field(default_factory=list)


@dataclass
class Query:
    table: str
    columns: list[str] | None
    filter: Filter | None = None
    orders: list[tuple[str, bool]] = field(default_factory=list)  # (column, descending)
    top: int | None = None
    # Through an N:N navigation: (intersect table, source column, target column, source id).
    through: tuple[str, str, str, str] | None = None
    primary_key: str = ""


def column(name: str) -> str:
    """The Web API's lookup value property `_x_value` is the column `x`."""
    if name.startswith("_") and name.endswith("_value"):
        return name[1:-len("_value")]
    return name


def _tokens(text: str) -> list[tuple[str, str]]:
    out, pos = [], 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise UnsupportedQuery(f"cannot read the filter near {text[pos:pos + 30]!r}")
        kind = match.lastgroup or ""
        if kind == "in":
            args = _IN_ARGS.match(text, match.end())
            if not args:
                raise UnsupportedQuery("cannot read an In() filter")
            out.append(("in", json.dumps([args.group(1).replace("''", "'"),
                                          json.loads(args.group(2))])))
            pos = args.end()
            continue
        out.append((kind, match.group(kind)))
        pos = match.end()
    return out


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise UnsupportedQuery("the filter ends too early")
        self.pos += 1
        return token

    def expression(self) -> Filter:
        node = Filter("or", [self.conjunction()])
        while (t := self.peek()) and t == ("word", "or"):
            self.take()
            node.items.append(self.conjunction())
        return node if len(node.items) > 1 else _as_filter(node.items[0])

    def conjunction(self) -> Condition | Filter:
        items = [self.term()]
        while (t := self.peek()) and t == ("word", "and"):
            self.take()
            items.append(self.term())
        return items[0] if len(items) == 1 else Filter("and", items)

    def term(self) -> Condition | Filter:
        kind, text = self.take()
        if kind == "lp":
            inner = self.expression()
            if self.take()[0] != "rp":
                raise UnsupportedQuery("unbalanced brackets in the filter")
            return inner
        if kind == "in":
            attribute, values = json.loads(text)
            return Condition(column(attribute), "in", [str(v) for v in values])
        if kind != "word" or "/" in text:
            raise UnsupportedQuery(f"unsupported filter term {text!r}")
        op = self.take()[1]
        if op not in _OPS:
            raise UnsupportedQuery(f"unsupported operator {op!r}")
        vkind, value = self.take()
        name = column(text)
        if vkind == "str":
            return Condition(name, op, [value[1:-1].replace("''", "'")])
        if value == "null":
            if op not in ("eq", "ne"):
                raise UnsupportedQuery("null compares with eq or ne only")
            return Condition(name, "null" if op == "eq" else "not-null")
        return Condition(name, op, [value])


def _as_filter(node: Condition | Filter) -> Filter:
    return node if isinstance(node, Filter) else Filter("and", [node])


def parse_filter(text: str | None) -> Filter | None:
    if not text:
        return None
    parser = _Parser(text)
    node = parser.expression()
    if parser.peek() is not None:
        raise UnsupportedQuery("unexpected text after the filter")
    return node


def parse_orderby(text: str | None) -> list[tuple[str, bool]]:
    orders = []
    for part in (text or "").split(","):
        words = part.split()
        if words:
            orders.append((column(words[0]), len(words) > 1 and words[1].lower() == "desc"))
    return orders


def build_query(path: str, *, select: Sequence[str] | None, filter: str | None,
                orderby: str | None, top: int | None) -> Query:
    """The Web API query `path?$select&$filter&$orderby&$top` as a `Query`."""
    match = _PATH.match(path)
    if match:
        _source_set, source_id, nav = match.groups()
        if nav not in RELATIONSHIPS:
            raise UnsupportedQuery(f"unsupported navigation {nav!r}")
        table, intersect, source_col, target_col = RELATIONSHIPS[nav]
        through = (intersect, source_col, target_col, source_id.lower())
    elif re.fullmatch(r"[A-Za-z_]+", path):
        table, through = table_of_set(path), None
    else:
        raise UnsupportedQuery(f"unsupported query path {path!r}")
    return Query(table, [column(c) for c in select] if select else None, parse_filter(filter),
                 parse_orderby(orderby), top, through,
                 primary_key=primary_key_of(table))


def _filter_xml(parent: ET.Element, node: Filter) -> None:
    element = ET.SubElement(parent, "filter", type=node.kind)
    for item in node.items:
        if isinstance(item, Filter):
            _filter_xml(element, item)
            continue
        condition = ET.SubElement(element, "condition", attribute=item.attribute,
                                  operator=item.operator)
        if item.operator == "in":
            for value in item.values:
                ET.SubElement(condition, "value").text = value
        elif item.values:
            condition.set("value", item.values[0])


def fetch_xml(query: Query, *, page: int | None = None, count: int | None = None,
              cookie: str | None = None) -> str:
    fetch = ET.Element("fetch", mapping="logical")
    if query.top is not None:
        fetch.set("count", str(query.top))
    elif count is not None:
        fetch.set("count", str(count))
        fetch.set("page", str(page or 1))
        if cookie:
            fetch.set("paging-cookie", cookie)
    entity = ET.SubElement(fetch, "entity", name=query.table)
    if query.columns:
        for column in dict.fromkeys([*query.columns, query.primary_key]):
            ET.SubElement(entity, "attribute", name=column)
    else:
        ET.SubElement(entity, "all-attributes")
    orders = query.orders or ([] if query.top is not None else [(query.primary_key, False)])
    for column, descending in orders:
        ET.SubElement(entity, "order", attribute=column, descending=str(descending).lower())
    if query.filter is not None:
        _filter_xml(entity, query.filter)
    if query.through:
        intersect, source_col, target_col, source_id = query.through
        link = ET.SubElement(entity, "link-entity", {
            "name": intersect, "from": target_col, "to": query.primary_key,
            "intersect": "true", "visible": "false"})
        ET.SubElement(ET.SubElement(link, "filter", type="and"), "condition",
                      attribute=source_col, operator="eq", value=source_id)
    return ET.tostring(fetch, encoding="unicode")
