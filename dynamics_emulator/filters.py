"""`$filter` → parameterised SQL over the entity tables.

Parsing is odata-query's (`ODataLexer`/`ODataParser`); this module only walks its AST.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from odata_query import ast
from odata_query.exceptions import ODataException
from odata_query.grammar import ODataLexer, ODataParser

from dynamics_emulator.clock import fmt_dt, parse_dt
from dynamics_emulator.filter_text import array_index, extract_arrays, substitute_aliases
from dynamics_emulator.http_types import DataverseError, bad_request, no_property
from dynamics_emulator.schema.model import Attr, Entity
from dynamics_emulator.schema.registry import Schema

_OPS = {ast.Eq: "=", ast.NotEq: "<>", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
_EDM = {"String": "Edm.String", "Memo": "Edm.String", "Integer": "Edm.Int32",
        "Picklist": "Edm.Int32", "State": "Edm.Int32", "Status": "Edm.Int32",
        "BigInt": "Edm.Int64", "Boolean": "Edm.Boolean", "Decimal": "Edm.Decimal",
        "Money": "Edm.Decimal", "DateTime": "Edm.DateTimeOffset", "Lookup": "Edm.Guid",
        "Customer": "Edm.Guid", "Owner": "Edm.Guid", "Uniqueidentifier": "Edm.Guid"}
_NOT_WITH_FUNCTION = "Not operator along with the Custom Named Condition operators is not allowed"


@dataclass
class FilterContext:
    schema: Schema
    entity: Entity
    now: datetime
    user_id: str
    business_unit_id: str
    arrays: list[list[Any]] = field(default_factory=list)


def parse_filter(text: str, aliases: dict[str, str]) -> tuple[ast._Node, list[list[Any]]]:
    prepared, arrays = extract_arrays(substitute_aliases(text, aliases))
    try:
        node = ODataParser().parse(ODataLexer().tokenize(prepared))
    except ODataException as exc:
        token = getattr(exc, "token", None)
        pos = getattr(token, "index", len(text)) if token is not None else len(text)
        raise bad_request(f"Syntax error at position {pos} in '{text}'.") from None
    return node, arrays


def filter_sql(text: str, ctx: FilterContext, aliases: dict[str, str]) -> tuple[str, list[Any]]:
    node, ctx.arrays = parse_filter(text, aliases)
    params: list[Any] = []
    sql = _Visitor(ctx, params, ctx.entity, "").visit(node)
    return sql, params


def column_for(ent: Entity, name: str) -> Attr:
    """Resolve a filter/select/orderby property name (`_x_value` for lookups)."""
    if name.startswith("_") and name.endswith("_value"):
        attr = ent.attr(name[1:-6])
        if attr is not None and attr.is_lookup:
            return attr
    else:
        attr = ent.attr(name)
        if attr is not None and not attr.is_lookup:
            return attr
        if attr is not None and attr.name == ent.primary_id:
            return attr
    raise no_property(name, ent.name)


def to_storage(attr: Attr, value: Any) -> Any:
    """Convert a Python literal to the stored representation for comparisons."""
    if value is None:
        return None
    kind = attr.kind
    if attr.is_lookup or kind == "Uniqueidentifier":
        try:
            return str(uuid.UUID(str(value)))
        except ValueError:
            raise bad_request(f"Guid should contain 32 digits with 4 dashes "
                              f"(xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx). Value: '{value}'") from None
    if kind == "DateTime":
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        if attr.date_behavior == "DateOnly":
            return text[:10]
        if len(text) == 10:
            text += "T00:00:00Z"
        try:
            return fmt_dt(parse_dt(text))
        except ValueError:
            raise bad_request(f"The value '{value}' is not a valid DateTime.") from None
    if kind in ("Boolean",):
        if isinstance(value, str):
            return 1 if value.lower() in ("true", "1") else 0
        return 1 if value else 0
    if kind in ("Integer", "Picklist", "State", "Status", "BigInt"):
        try:
            return int(value)
        except (TypeError, ValueError):
            raise bad_request(f"The value '{value}' is not valid for {_EDM[kind]}.") from None
    if kind in ("Decimal", "Money", "Double"):
        return float(value)
    return str(value)


class _Visitor:
    def __init__(self, ctx: FilterContext, params: list[Any], ent: Entity, alias: str) -> None:
        self.ctx, self.params, self.ent, self.alias = ctx, params, ent, alias

    def col(self, attr: Attr) -> str:
        prefix = f"{self.alias}." if self.alias else ""
        return f'{prefix}"{attr.name}"'

    def visit(self, node: ast._Node) -> str:
        if isinstance(node, ast.BoolOp):
            op = "AND" if isinstance(node.op, ast.And) else "OR"
            return f"({self.visit(node.left)} {op} {self.visit(node.right)})"
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            if isinstance(node.operand, ast.Call) and node.operand.func.namespace:
                raise bad_request(_NOT_WITH_FUNCTION)
            return f"(NOT {self.visit(node.operand)})"
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return self.call(node)
        if isinstance(node, ast.Identifier):
            attr = column_for(self.ent, node.name)
            if attr.kind == "Boolean":
                return f"{self.col(attr)} = 1"
        raise bad_request(f"The $filter expression '{type(node).__name__}' is not supported.")

    def attr_of(self, node: ast._Node) -> Attr | None:
        if isinstance(node, ast.Identifier) and not node.namespace:
            return column_for(self.ent, node.name)
        return None

    def literal(self, node: ast._Node) -> Any:
        if isinstance(node, ast._Literal) and not isinstance(node, ast.List):
            return node.py_val if not isinstance(node, ast.GUID) else node.val
        raise bad_request("Only literal values are supported on the right side of a comparison.")

    def compare(self, node: ast.Compare) -> str:
        if isinstance(node.left, ast.Attribute):
            return self.related(node.left, node)
        left, right = node.left, node.right
        flipped = False
        if self.attr_of(left) is None and isinstance(right, ast.Identifier):
            left, right, flipped = right, left, True
        attr = self.attr_of(left)
        if attr is None:
            raise bad_request("The left side of a comparison must be a property.")
        if isinstance(node.comparator, ast.In):
            assert isinstance(right, ast.List)
            return self.in_list(attr, [v.py_val for v in right.val], negate=False)
        other = self.attr_of(right)
        if other is not None:
            if other.kind != attr.kind:
                raise self.incompatible(attr.kind, other.kind, node)
            return f"{self.col(attr)} {_OPS[type(node.comparator)]} {self.col(other)}"
        value = self.literal(right)
        self.check_type(attr, right, node)
        stored = to_storage(attr, value)
        op = _OPS[type(node.comparator)]
        if flipped:
            op = {"<": ">", ">": "<", "<=": ">=", ">=": "<="}.get(op, op)
        if stored is None:
            if op not in ("=", "<>"):
                raise bad_request("null can only be compared with eq or ne.")
            return f"{self.col(attr)} IS {'NOT ' if op == '<>' else ''}NULL"
        if attr.is_multi:
            stored = str(value)
        self.params.append(stored)
        return f"{self.col(attr)} {op} ?"

    def incompatible(self, left: str, right: str, node: ast.Compare) -> DataverseError:
        kind = type(node.comparator).__name__.replace("NotEq", "NotEqual").replace("Eq", "Equal")
        return bad_request(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{_EDM.get(left, left)}' and '{_EDM.get(right, right)}' for operator kind '{kind}'."
        )

    def check_type(self, attr: Attr, lit: ast._Node, node: ast.Compare) -> None:
        numeric = ("Integer", "Picklist", "State", "Status", "BigInt", "Decimal", "Money")
        if isinstance(lit, ast.String) and attr.kind in numeric:
            raise self.incompatible(attr.kind, "String", node)
        if isinstance(lit, ast.Integer | ast.Float) and attr.kind in ("String", "Memo"):
            raise self.incompatible(attr.kind, "Int32", node)

    def related(self, path: ast.Attribute, node: ast.Compare) -> str:
        """`nav/prop op value` on a single-valued navigation property."""
        if not isinstance(path.owner, ast.Identifier):
            raise bad_request("Only one level of navigation is supported in $filter.")
        nav = self.ent.nav_props().get(path.owner.name)
        if nav is None:
            raise no_property(path.owner.name, self.ent.name)
        target = self.ctx.schema.entity(nav.targets[0])
        inner = _Visitor(self.ctx, self.params, target, "t")
        lookup = self.ent.attrs[nav.attr]
        cond = inner.compare(ast.Compare(node.comparator, ast.Identifier(path.attr), node.right))
        return (f'{self.col(lookup)} IN (SELECT t."{target.primary_id}" '
                f'FROM "{target.name}" t WHERE {cond})')

    def call(self, node: ast.Call) -> str:
        name = node.func.name
        if not node.func.namespace:
            if name not in ("contains", "startswith", "endswith") or len(node.args) != 2:
                raise bad_request(f"The function '{name}' is not supported.")
            attr = self.attr_of(node.args[0])
            if attr is None or attr.kind not in ("String", "Memo", "EntityName"):
                raise bad_request(f"The function '{name}' requires a string property.")
            text = str(self.literal(node.args[1]))
            pattern = {"contains": f"%{text}%", "startswith": f"{text}%",
                       "endswith": f"%{text}"}[name]
            self.params.append(pattern)  # SQL wildcards inside values stay live, as on Dataverse
            return f"{self.col(attr)} LIKE ?"
        if node.func.namespace != ("Microsoft", "Dynamics", "CRM"):
            raise bad_request(f"Unknown function '{node.func.full_name()}'.")
        args: dict[str, Any] = {}
        for arg in node.args:
            if not isinstance(arg, ast.NamedParam):
                raise bad_request(f"Function '{name}' requires named parameters.")
            args[arg.name.name] = self.literal(arg.param)
        prop = args.get("PropertyName")
        if not isinstance(prop, str):
            raise bad_request(f"The PropertyName parameter of '{name}' is missing.")
        # Query functions name columns as FetchXML conditions do: a lookup by its logical
        # name (PropertyName='parentcustomerid'); the _x_value form is accepted as well.
        lookup = self.ent.attr(prop)
        attr = lookup if lookup is not None and lookup.is_lookup else column_for(self.ent, prop)
        return self.crm_function(name, attr, args)

    def values(self, args: dict[str, Any]) -> list[Any]:
        raw = args.get("PropertyValues")
        idx = array_index(raw) if isinstance(raw, str) else None
        if idx is None:
            raise bad_request("PropertyValues must be an array.")
        return list(self.ctx.arrays[idx])

    def in_list(self, attr: Attr, values: list[Any], negate: bool) -> str:
        stored = [to_storage(attr, v) for v in values]
        if not stored:
            return "0" if not negate else "1"
        self.params.extend(stored)
        marks = ", ".join("?" for _ in stored)
        return f"{self.col(attr)} {'NOT ' if negate else ''}IN ({marks})"

    def crm_function(self, name: str, attr: Attr, args: dict[str, Any]) -> str:
        col = self.col(attr)
        now = self.ctx.now
        today = now.replace(hour=0, minute=0, second=0)
        if name in ("In", "NotIn"):
            return self.in_list(attr, self.values(args), negate=name == "NotIn")
        if name in ("Between", "NotBetween"):
            low, high = (to_storage(attr, v) for v in self.values(args)[:2])
            self.params.extend([low, high])
            return f"{col} {'NOT ' if name == 'NotBetween' else ''}BETWEEN ? AND ?"
        if name in ("ContainValues", "DoesNotContainValues"):
            parts = []
            for v in self.values(args):
                self.params.append(f"%,{int(v)},%")
                parts.append(f"(',' || {col} || ',') LIKE ?")
            joined = "(" + " OR ".join(parts or ["0"]) + ")"
            return joined if name == "ContainValues" else f"({col} IS NULL OR NOT {joined})"
        if name in ("EqualUserId", "NotEqualUserId", "EqualBusinessId", "NotEqualBusinessId"):
            ident = self.ctx.user_id if "User" in name else self.ctx.business_unit_id
            self.params.append(ident)
            return f"{col} {'<>' if name.startswith('Not') else '='} ?"
        day_fns = {"On": "=", "OnOrAfter": ">=", "OnOrBefore": "<=", "NotOn": "<>"}
        if name in day_fns:
            self.params.append(str(args.get("PropertyValue"))[:10])
            return f"substr({col}, 1, 10) {day_fns[name]} ?"
        if name in ("Today", "Yesterday", "Tomorrow"):
            shift = {"Today": 0, "Yesterday": -1, "Tomorrow": 1}[name]
            self.params.append(fmt_dt(today + timedelta(days=shift))[:10])
            return f"substr({col}, 1, 10) = ?"
        windows = {"LastXDays": ("days", -1), "LastXHours": ("hours", -1),
                   "NextXDays": ("days", 1), "NextXHours": ("hours", 1)}
        if name in windows:
            unit, sign = windows[name]
            count = int(args.get("PropertyValue") or 0)
            base = today if unit == "days" and sign < 0 else now
            edge = fmt_dt(base + sign * timedelta(**{unit: count}))
            if sign < 0:
                self.params.extend([edge, fmt_dt(now)])
            else:
                self.params.extend([fmt_dt(now), edge])
            return f"{col} BETWEEN ? AND ?"
        if name in ("OlderThanXDays", "OlderThanXHours", "OlderThanXMinutes"):
            unit = name[len("OlderThanX"):].lower()
            cutoff = now - timedelta(**{unit: int(args.get("PropertyValue") or 0)})
            self.params.append(fmt_dt(cutoff))
            return f"{col} < ?"
        raise bad_request(f"Unknown function 'Microsoft.Dynamics.CRM.{name}'.")
