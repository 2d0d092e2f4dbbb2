"""Inserting many rows with one ``executemany``.

``bulk_create`` compiles every field of every object through the ORM, several times the
cost of the insert itself when the engine writes tens of thousands of links or snapshot
rows per run. Here each distinct value of a column is prepared for the database once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from django.db.models.constants import OnConflict


def insert_rows(model: type[models.Model], names: Sequence[str],
                rows: Sequence[Sequence[Any]], *, ignore_conflicts: bool = False) -> None:
    """``INSERT`` ``rows`` (values in the order of the fields ``names``); with
    ``ignore_conflicts`` rows that break a unique constraint are left out, as
    ``bulk_create(ignore_conflicts=True)`` does. Primary keys are not read back."""
    if not rows:
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    qn = connection.ops.quote_name
    on_conflict = OnConflict.IGNORE if ignore_conflicts else None
    columns = ", ".join(qn(str(f.column)) for f in fields)  # type: ignore[union-attr]
    # Only quoted identifiers from the model's own metadata go into the text; every value
    # is a parameter.
    sql = (f"{connection.ops.insert_statement(on_conflict=on_conflict)} "
           f"{qn(meta.db_table)} ({columns}) VALUES ({', '.join(['%s'] * len(fields))}) "
           f"{connection.ops.on_conflict_suffix_sql(fields, on_conflict, [], [])}")
    prepared: list[dict[Any, Any]] = [{} for _f in fields]
    params = []
    for row in rows:
        out = []
        for field, cache, value in zip(fields, prepared, row, strict=True):
            if isinstance(value, dict | list):  # JSON: not hashable, rarely repeated
                out.append(field.get_db_prep_save(value, connection))  # type: ignore[union-attr]
                continue
            if value not in cache:
                cache[value] = field.get_db_prep_save(value, connection)  # type: ignore[union-attr]
            out.append(cache[value])
        params.append(out)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
