"""Writing many record links at once (the engine touches every link of a batch).

``Model.save()`` per link costs a statement plus the ORM's bookkeeping each, and
``bulk_update`` builds one ``CASE`` per column whose SQL grows with the batch; a single
parametrised ``UPDATE … WHERE id = %s`` run with ``executemany`` is the cheapest way to
write a batch of links with different values, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import connection
from django.db.models import Field
from django.utils import timezone

from syncjobs.sync_models import RecordLink

# What apply and push change on a link.
APPLIED_FIELDS = ("synced_values", "needs_push", "crm_active", "crm_modifiedon",
                  "crm_versionnumber")


def save_links(links: Sequence[RecordLink], fields: Sequence[str]) -> None:
    """Write ``fields`` (and ``updated_at``) of saved links in one statement."""
    if not links:
        return
    now = timezone.now()
    meta = RecordLink._meta
    columns = [cast("Field[Any, Any]", meta.get_field(name)) for name in (*fields, "updated_at")]
    qn = connection.ops.quote_name
    assignments = ", ".join(f"{qn(str(c.column))} = %s" for c in columns)
    # Only quoted identifiers from the model's own metadata go into the text; every value
    # is a parameter.
    sql = (f"UPDATE {qn(meta.db_table)} SET {assignments} "  # noqa: S608
           f"WHERE {qn(str(meta.pk.column))} = %s")
    params = []
    for link in links:
        link.updated_at = now
        params.append([c.get_db_prep_save(getattr(link, c.attname), connection)
                       for c in columns] + [link.pk])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
