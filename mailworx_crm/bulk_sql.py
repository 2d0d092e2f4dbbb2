"""Writing many rows with one ``executemany``: ``INSERT`` and ``UPDATE … WHERE pk = %s``.

``bulk_create`` compiles every field of every object through the ORM, and ``bulk_update``
builds one ``CASE`` per column whose SQL grows with the batch: several times the cost of
the statement itself when the sync engine writes tens of thousands of rows per run. Here
each distinct value of a column is prepared for the database once.
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
    params = _prepared(fields, rows)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def update_rows(model: type[models.Model], names: Sequence[str],
                rows: Sequence[Sequence[Any]]) -> None:
    """Set the fields ``names`` of the rows given as ``[*values, pk]``."""
    if not rows:
        return
    meta = model._meta
    fields = [meta.get_field(name) for name in names]
    qn = connection.ops.quote_name
    assignments = ", ".join(f"{qn(str(f.column))} = %s" for f in fields)  # type: ignore[union-attr]
    # Only quoted identifiers from the model's own metadata go into the text.
    sql = (f"UPDATE {qn(meta.db_table)} SET {assignments} "  # noqa: S608
           f"WHERE {qn(str(meta.pk.column))} = %s")
    params = _prepared([*fields, meta.pk], rows)
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def _prepared(fields: Sequence[Any], rows: Sequence[Sequence[Any]]) -> list[list[Any]]:
    cache: list[dict[Any, Any]] = [{} for _f in fields]
    adapt = connection.ops.adapt_json_value
    is_json = [isinstance(f, models.JSONField) for f in fields]
    params = []
    for row in rows:
        out = []
        for field, known, value, json in zip(fields, cache, row, is_json, strict=True):
            if json and isinstance(value, dict | list):
                # What JSONField.get_db_prep_save ends in for a dict or list, without its
                # layers (they handle NULL and expressions): links carry two JSON columns.
                out.append(adapt(value, field.encoder))
            elif isinstance(value, dict | list):  # not hashable, rarely repeated
                out.append(field.get_db_prep_save(value, connection))
            else:
                if value not in known:
                    known[value] = field.get_db_prep_save(value, connection)
                out.append(known[value])
        params.append(out)
    return params
