"""The SQL a compiled FetchXML query runs as: select list, FROM with its joins, ORDER BY
(the compiler in ``fetchxml_compile`` builds the ``Query`` these read)."""

from __future__ import annotations

from typing import Any

from dynamics_emulator.fetchxml_compile import Node, Query
from dynamics_emulator.schema.model import Attr


def select_list(q: Query) -> list[str]:
    cols = []
    n = 0
    nodes = [q.root, *q.links]
    for node in nodes:
        for col in node.columns:
            col.sql_name = (col.alias or "") if q.aggregate else f"c{n}"
            n += 1
    if q.aggregate:
        for node in nodes:
            for col in node.columns:
                ref = f'{node.sql}."{col.attr.name}"'
                fn = col.aggregate
                if col.groupby:
                    cols.append(f'{ref} AS "{col.sql_name}"')
                    if col.attr.is_lookup:
                        cols.append(f'{node.sql}."{col.attr.name}_t" AS "{col.sql_name}_t"')
                elif fn == "count":
                    cols.append(f'COUNT(*) AS "{col.sql_name}"')
                elif fn == "countcolumn":
                    inner = f"DISTINCT {ref}" if col.distinct else ref
                    cols.append(f'COUNT({inner}) AS "{col.sql_name}"')
                else:
                    cols.append(f'{fn.upper()}({ref}) AS "{col.sql_name}"')  # type: ignore[union-attr]
        return cols
    if q.distinct:
        for node in nodes:
            attrs = node_attrs(node) if node is q.root else [c.attr for c in node.columns]
            for attr in attrs:
                cols.append(f'{node.sql}."{attr.name}" AS "{node.sql}_{attr.name}"')
                if attr.is_lookup:
                    cols.append(f'{node.sql}."{attr.name}_t" AS "{node.sql}_{attr.name}_t"')
        return cols
    cols.append("t0.*")
    for node in q.links:
        attrs = [a for a in node.ent.attrs.values() if a.read] if node.all_attributes else \
            [c.attr for c in node.columns]
        for attr in attrs:
            cols.append(f'{node.sql}."{attr.name}" AS "{node.sql}_{attr.name}"')
            if attr.is_lookup:
                cols.append(f'{node.sql}."{attr.name}_t" AS "{node.sql}_{attr.name}_t"')
    return cols


def node_attrs(node: Node) -> list[Attr]:
    if node.all_attributes or not node.columns:
        return [a for a in node.ent.attrs.values() if a.read]
    return [c.attr for c in node.columns]


def from_clause(q: Query) -> tuple[str, list[Any]]:
    sql = f'FROM "{q.root.ent.name}" t0 ' + " ".join(j for j, _ in q.joins)
    where = " AND ".join(q.where) or "1"
    return f"{sql} WHERE {where}", [*(p for _, ps in q.joins for p in ps), *q.where_params]


def order_clause(q: Query) -> str:
    items = list(q.orders)
    if not q.aggregate and not q.distinct:
        items.append(f't0."{q.root.ent.primary_id}" ASC')  # unique tiebreak keeps pages stable
    return f" ORDER BY {', '.join(items)}" if items else ""
