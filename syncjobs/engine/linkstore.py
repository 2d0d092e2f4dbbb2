"""Writing many record links at once (the engine touches every link of a batch).

``Model.save()`` per link costs a statement plus the ORM's bookkeeping each, and
``bulk_update`` builds one ``CASE`` per column whose SQL grows with the batch; a single
parametrised ``UPDATE … WHERE id = %s`` run with ``executemany`` is the cheapest way to
write a batch of links with different values, on SQLite and PostgreSQL alike. New links
go in the same way (``insert_links``, ``mailworx_crm.bulk_sql``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, cast

from django.db.models import Field
from django.utils import timezone

from mailworx_crm.bulk_sql import insert_rows, update_rows
from syncjobs.models.sync import RecordLink

# What apply and push change on a link.
APPLIED_FIELDS = ("synced_values", "field_sources", "bulk_email_blocked",
                  "subscriber_id_written", "needs_push", "crm_active", "crm_modifiedon",
                  "crm_versionnumber")


def save_links(links: Sequence[RecordLink], fields: Sequence[str]) -> None:
    """Write ``fields`` (and ``updated_at``) of saved links in one statement."""
    if not links:
        return
    now = timezone.now()
    rows = []
    for link in links:
        link.updated_at = now
        rows.append([getattr(link, _field(name).attname) for name in fields] + [link.pk])
    save_link_rows(fields, rows, now=now)


def save_link_rows(fields: Sequence[str], rows: Sequence[Sequence[Any]], *,
                   now: dt.datetime | None = None) -> None:
    """Write ``fields`` (and ``updated_at``) of links given as ``[*values, pk]`` rows.

    For links read as tuples: no model instance is needed to write them.
    """
    if not rows:
        return
    now = now or timezone.now()
    update_rows(RecordLink, [*fields, "updated_at"], [[*row[:-1], now, row[-1]] for row in rows])


def _field(name: str) -> Field[Any, Any]:
    return cast("Field[Any, Any]", RecordLink._meta.get_field(name))


def insert_links(links: Sequence[RecordLink]) -> None:
    """Insert new links with one ``executemany``; their ``pk`` stays unset (no caller
    needs it: links are found again by subscriber or CRM id)."""
    now = timezone.now()
    meta = RecordLink._meta
    fields = [f for f in meta.concrete_fields if f is not meta.pk]
    for link in links:
        link.created_at = link.updated_at = now
    insert_rows(RecordLink, [f.name for f in fields],
                [[getattr(link, f.attname) for f in fields] for link in links])
