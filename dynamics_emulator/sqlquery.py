"""The Web API `sql` option (preview): `GET <set>?sql=SELECT …` (docs/dataverse-webapi.md §SQL).

The documented subset (one SELECT; columns with table and column aliases; INNER/LEFT JOIN …
ON a = b; WHERE comparing columns with literals through =, <>, !=, <, >, <=, >=, LIKE, IN,
BETWEEN, IS [NOT] NULL, AND/OR/NOT and parentheses; DISTINCT; ORDER BY columns; GROUP BY
with COUNT/SUM/AVG/MIN/MAX; TOP n) is translated into a FetchXML document and evaluated by
`fetchxml`, which is also how Dataverse pages these results (a FetchXML paging cookie in
`$skiptoken`). Anything outside the subset is refused with 400.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

from dynamics_emulator.http_types import DataverseError
from dynamics_emulator.query import MAX_PAGE
from dynamics_emulator.schema.registry import Schema

_TOKEN = re.compile(r"""\s*(?:
    (?P<str>N?'(?:[^']|'')*')
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<ident>\[[^\]]+\]|[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><>|!=|<=|>=|=|<|>)
  | (?P<punct>[(),.*;])
)""", re.X)
_KEYWORDS = {"SELECT", "DISTINCT", "TOP", "FROM", "AS", "JOIN", "INNER", "LEFT", "OUTER", "ON",
             "WHERE", "AND", "OR", "NOT", "LIKE", "IN", "BETWEEN", "IS", "NULL", "ORDER", "BY",
             "ASC", "DESC", "GROUP", "HAVING", "RIGHT", "FULL", "CROSS", "UNION", "OFFSET",
             "FETCH", "EXISTS", "WITH", "INSERT", "UPDATE", "DELETE", "DECLARE", "ALTER", "DROP",
             "CREATE", "EXEC", "EXECUTE", "MERGE", "TRUNCATE", "CASE"}
_AGG = {"COUNT", "SUM", "AVG", "MIN", "MAX"}
_CMP = {"=": "eq", "<>": "ne", "!=": "ne", "<": "lt", ">": "gt", "<=": "le", ">=": "ge"}


def unsupported(detail: str) -> DataverseError:
    return DataverseError(400, "0x80040203", f"The SQL query is not supported: {detail}")


@dataclass
class Tok:
    kind: str
    text: str

    @property
    def upper(self) -> str:
        return self.text.upper() if self.kind == "ident" else self.text


def tokenize(text: str) -> list[Tok]:
    toks, pos = [], 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise unsupported(f"unexpected character at position {pos}.")
        pos = m.end()
        kind = m.lastgroup or ""
        value = m.group(kind)
        if kind == "ident" and value.startswith("["):
            kind, value = "quoted", value[1:-1]
        toks.append(Tok(kind, value))
    return toks


@dataclass
class Table:
    name: str
    alias: str
    el: ET.Element


@dataclass
class Item:
    table: Table
    column: str | None  # None: COUNT(*)
    alias: str | None
    func: str | None = None


@dataclass
class Parser:
    toks: list[Tok]
    pos: int = 0
    tables: dict[str, Table] = field(default_factory=dict)

    def peek(self, n: int = 0) -> Tok | None:
        i = self.pos + n
        return self.toks[i] if i < len(self.toks) else None

    def at(self, *words: str) -> bool:
        tok = self.peek()
        return tok is not None and tok.upper in words

    def take(self, *words: str) -> Tok:
        tok = self.peek()
        if tok is None or (words and tok.upper not in words):
            found = tok.text if tok else "the end of the query"
            raise unsupported(f"expected {' or '.join(words) or 'more'} but found '{found}'.")
        self.pos += 1
        return tok

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.pos += 1
            return True
        return False

    def name(self) -> str:
        tok = self.take()
        if tok.kind not in ("ident", "quoted") or (tok.kind == "ident" and
                                                   tok.upper in _KEYWORDS):
            raise unsupported(f"expected a name but found '{tok.text}'.")
        return tok.text.lower()

    def alias(self) -> str | None:
        if self.accept("AS"):
            return self.name()
        tok = self.peek()
        if tok is not None and (tok.kind == "quoted" or (tok.kind == "ident" and
                                                          tok.upper not in _KEYWORDS)):
            return self.name()
        return None

    def column_ref(self) -> tuple[Table | None, str]:
        first = self.name()
        if self.accept("."):
            table = self.tables.get(first)
            col = self.name()
            if table is None:
                raise unsupported(f"'{first}' is not a table or alias in the FROM clause.")
            return table, col
        return None, first


def _literal(tok: Tok) -> str:
    if tok.kind == "str":
        body = tok.text[1:] if tok.text.startswith("N") else tok.text
        return body[1:-1].replace("''", "'")
    if tok.kind == "num":
        return tok.text
    raise unsupported(f"'{tok.text}' is not a literal; a column can only be compared with a "
                      "literal value.")


def translate(text: str, schema: Schema) -> ET.Element:
    """SQL text → an equivalent `<fetch>` element."""
    p = Parser(tokenize(text))
    if not p.toks or not p.at("SELECT"):
        raise unsupported("only a single SELECT statement is supported.")
    p.take("SELECT")
    fetch = ET.Element("fetch")
    if p.accept("DISTINCT"):
        fetch.set("distinct", "true")
    if p.accept("TOP"):
        top = p.take()
        if top.kind != "num" or not top.text.isdigit() or int(top.text) > MAX_PAGE:
            raise unsupported(f"TOP must be a whole number from 0 to {MAX_PAGE}.")
        fetch.set("top", top.text)
    if p.at("*") or (p.peek(1) is not None and p.peek(1).text == "." and  # type: ignore[union-attr]
                     p.peek(2) is not None and p.peek(2).text == "*"):  # type: ignore[union-attr]
        raise unsupported("SELECT * isn't supported; name each column.")
    raw_items = _select_items(p)
    p.take("FROM")
    root_name = p.name()
    root = Table(root_name, p.alias() or root_name, ET.SubElement(fetch, "entity",
                                                                 name=root_name))
    p.tables = {root.alias: root, root_name: root}
    while p.at("JOIN", "INNER", "LEFT", "RIGHT", "FULL", "CROSS"):
        _join(p, root)
    if p.at(","):
        raise unsupported("list tables with JOIN … ON, not with commas.")
    where = None
    if p.accept("WHERE"):
        where = _expr(p, root)
    groups: list[tuple[Table | None, str]] = []
    if p.accept("GROUP"):
        p.take("BY")
        groups.append(p.column_ref())
        while p.accept(","):
            groups.append(p.column_ref())
    if p.at("HAVING"):
        raise unsupported("HAVING isn't supported; filter with WHERE.")
    orders: list[tuple[Table | None, str, bool]] = []
    if p.accept("ORDER"):
        p.take("BY")
        while True:
            table, col = p.column_ref()
            desc = p.accept("DESC")
            if not desc:
                p.accept("ASC")
            orders.append((table, col, desc))
            if not p.accept(","):
                break
    if p.at(";"):
        raise unsupported("only one statement is allowed.")
    if p.peek() is not None:
        raise unsupported(f"'{p.peek().text}' isn't supported here.")  # type: ignore[union-attr]
    aggregate = any(f for _, _, _, f in raw_items) or bool(groups)
    if aggregate:
        fetch.set("aggregate", "true")
    group_names = {(t or root).alias + "." + c for t, c in groups}
    for pending, col, alias, func in raw_items:
        table = root
        if isinstance(pending, _Pending):
            if pending.alias not in p.tables:
                raise unsupported(f"'{pending.alias}' is not a table or alias in the FROM "
                                  "clause.")
            table = p.tables[pending.alias]
        el = ET.SubElement(table.el, "attribute",
                           name=col if col != "*" else _primary(schema, table))
        if func:
            el.set("aggregate", {"COUNT": "count" if col == "*" else "countcolumn"}.get(
                func, func.lower()))
            el.set("alias", alias or func.lower())
        elif aggregate:
            if f"{table.alias}.{col}" not in group_names:
                raise unsupported(f"column '{col}' must be in GROUP BY or an aggregate.")
            el.set("groupby", "true")
            el.set("alias", alias or col)
        elif alias:
            el.set("alias", alias)
    if where is not None:
        root.el.append(where)
    for table, col, desc in orders:
        table = table or root
        order = ET.SubElement(table.el, "order", descending="true" if desc else "false")
        if aggregate:
            # Aggregate results are ordered by the alias of an output column.
            named = [a or c for _, c, a, _ in raw_items if (a or c) == col or c == col]
            order.set("alias", named[0] if named else col)
            if table is not root:
                table.el.remove(order)
                root.el.append(order)
        else:
            order.set("attribute", col)
    return fetch


def _primary(schema: Schema, table: Table) -> str:
    ent = schema.by_name.get(table.name)
    return ent.primary_id if ent is not None else f"{table.name}id"


def _select_items(p: Parser) -> list[tuple[Table | None, str, str | None, str | None]]:
    items: list[tuple[Any, str, str | None, str | None]] = []
    while True:
        tok = p.peek()
        if tok is not None and tok.upper in _AGG and p.peek(1) is not None and \
                p.peek(1).text == "(":  # type: ignore[union-attr]
            func = p.take().upper
            p.take("(")
            if p.accept("*"):
                if func != "COUNT":
                    raise unsupported(f"{func}(*) isn't valid.")
                ref: tuple[Any, str] = (None, "*")
            else:
                if p.at("DISTINCT"):
                    raise unsupported("DISTINCT inside an aggregate isn't supported.")
                ref = _deferred(p)
            p.take(")")
            items.append((ref[0], ref[1], p.alias(), func))
        else:
            items.append((*_deferred(p), p.alias(), None))
        if not p.accept(","):
            return items


def _deferred(p: Parser) -> tuple[Any, str]:
    """A column reference whose table alias is resolved after FROM has been read."""
    first = p.name()
    if p.accept("."):
        return _Pending(first), p.name()
    return None, first


@dataclass
class _Pending:
    alias: str


def _join(p: Parser, root: Table) -> None:
    if p.at("RIGHT", "FULL", "CROSS"):
        raise unsupported(f"{p.peek().text.upper()} JOIN isn't supported; use INNER JOIN or "  # type: ignore[union-attr]
                          "LEFT JOIN.")
    kind = "inner"
    if p.accept("LEFT"):
        p.accept("OUTER")
        kind = "outer"
    else:
        p.accept("INNER")
    p.take("JOIN")
    name = p.name()
    alias = p.alias() or name
    if alias in p.tables:
        raise unsupported(f"the alias '{alias}' is used twice.")
    new = Table(name, alias, ET.Element("link-entity"))
    p.tables[alias] = new
    p.take("ON")
    left, lcol = p.column_ref()
    p.take("=")
    right, rcol = p.column_ref()
    if left is None or right is None:
        raise unsupported("qualify the columns of a join condition with their table.")
    if left.alias == alias:
        # written as ON new.col = old.col
        left, lcol, right, rcol = right, rcol, left, lcol
    if right is not new or left is new:
        raise unsupported("a join condition must compare a column of the joined table with a "
                          "column of a table joined before it.")
    new.el.attrib.update({"name": name, "from": rcol, "to": lcol, "alias": alias,
                          "link-type": kind})
    left.el.append(new.el)


def _expr(p: Parser, root: Table) -> ET.Element:
    node = _and(p, root)
    if not p.at("OR"):
        return node
    out = ET.Element("filter", type="or")
    out.append(node)
    while p.accept("OR"):
        out.append(_and(p, root))
    return out


def _and(p: Parser, root: Table) -> ET.Element:
    out = ET.Element("filter", type="and")
    out.append(_factor(p, root))
    while p.accept("AND"):
        out.append(_factor(p, root))
    return out


def _factor(p: Parser, root: Table) -> ET.Element:
    if p.accept("("):
        if p.at("SELECT"):
            raise unsupported("subqueries aren't supported.")
        inner = _expr(p, root)
        p.take(")")
        return inner
    if p.at("NOT"):
        raise unsupported("NOT is supported only as NOT LIKE, NOT IN, NOT BETWEEN and IS NOT "
                          "NULL.")
    if p.at("EXISTS"):
        raise unsupported("EXISTS isn't supported.")
    tok = p.peek()
    if tok is not None and tok.kind in ("str", "num"):
        raise unsupported("a comparison must have a column on its left side.")
    table, col = p.column_ref()
    cond = ET.Element("condition", attribute=col)
    if table is not None and table is not root:
        cond.set("entityname", table.alias)
    if p.accept("IS"):
        cond.set("operator", "not-null" if p.accept("NOT") else "null")
        p.take("NULL")
        return cond
    negate = p.accept("NOT")
    if p.accept("LIKE"):
        cond.set("operator", "not-like" if negate else "like")
        cond.set("value", _literal(p.take()))
    elif p.accept("IN"):
        cond.set("operator", "not-in" if negate else "in")
        p.take("(")
        if p.at("SELECT"):
            raise unsupported("subqueries aren't supported.")
        while True:
            ET.SubElement(cond, "value").text = _literal(p.take())
            if not p.accept(","):
                break
        p.take(")")
    elif p.accept("BETWEEN"):
        cond.set("operator", "not-between" if negate else "between")
        ET.SubElement(cond, "value").text = _literal(p.take())
        p.take("AND")
        ET.SubElement(cond, "value").text = _literal(p.take())
    elif not negate and p.peek() is not None and p.peek().text in _CMP:  # type: ignore[union-attr]
        cond.set("operator", _CMP[p.take().text])
        value = p.peek()
        if value is not None and value.upper == "NULL":
            raise unsupported("compare with NULL using IS NULL or IS NOT NULL.")
        if value is not None and value.kind in ("ident", "quoted"):
            raise unsupported("a column can only be compared with a literal value.")
        cond.set("value", _literal(p.take()))
    else:
        found = p.peek().text if p.peek() else "the end of the query"  # type: ignore[union-attr]
        raise unsupported(f"unexpected '{found}' after column '{col}'.")
    return cond
