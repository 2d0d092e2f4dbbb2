"""The members of a dynamic marketing list: the results of its FetchXML ``query``, evaluated
through the Web API (a dynamic list has no listmember rows to read).

The query is read with the columns ``adopt_records`` needs (``member_columns``) in place of
its own, one request per page of results. A query that cannot be used — not FetchXML, of
another table than the list's members, or refused by the CRM — raises ``QueryRefused``
with words for the admin (N3); callers make it an issue and leave the members as they were.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from dynamics import fetchxml
from dynamics.errors import PermanentError
from mailworx_crm.crm_errors import cause
from mailworx_crm.entity_types import entity_set
from mailworx_crm.texts import deferred as _
from syncjobs.engine.adopt import member_columns
from syncjobs.engine.context import Sync
from syncjobs.engine.issues import refused_by_crm


class QueryRefused(Exception):
    """The list's query gives no members; ``reason`` and ``hint`` are the issue's words."""

    def __init__(self, reason: str, hint: str, code: str = "") -> None:
        super().__init__(reason)
        self.reason, self.hint, self.code = reason, hint, code


def query_member_pages(sync: Sync, list_name: str, query: str, entity: str,
                       unit_id: int | None) -> Iterator[list[dict[str, Any]]]:
    """The rows the query of dynamic list ``list_name`` finds, a page at a time, in the
    shape of a Web API read of ``member_columns``."""
    columns = member_columns(sync, entity, unit_id)
    try:
        fetch = fetchxml.member_fetch(query, entity, columns, page_size=fetchxml.PAGE_SIZE)
    except fetchxml.InvalidFetch as exc:
        raise QueryRefused(_unusable(exc, list_name, entity), _hint()) from None
    try:
        for page in sync.client.fetch_pages(entity_set(entity), fetch):
            yield [_complete(row, columns) for row in page]
    except PermanentError as exc:
        if not refused_by_crm(exc):
            raise
        raise QueryRefused(
            _("The CRM refused the query of the dynamic marketing list “%(list)s”: %(why)s")
            % {"list": list_name, "why": exc.crm_message or cause(exc)},
            _hint(), exc.code or "") from exc


def _complete(row: dict[str, Any], columns: list[str]) -> dict[str, Any]:
    """FetchXML leaves null columns out of a row; the Web API reads they stand in for name
    every selected column, and adoption tells "empty" from "not read" by the key."""
    for column in columns:
        row.setdefault(column, None)
    return row


def _unusable(exc: fetchxml.InvalidFetch, list_name: str, entity: str) -> str:
    words = {"list": list_name, "entity": entity, "table": exc.detail}
    if exc.kind == "wrong_entity":
        return _("The query of the dynamic marketing list “%(list)s” reads the table "
                 "“%(table)s”, but the list's members are of type %(entity)s.") % words
    if exc.kind == "aggregate":
        return _("The query of the dynamic marketing list “%(list)s” is an aggregate query; "
                 "it finds no member records.") % words
    return _("The dynamic marketing list “%(list)s” has no query the connector can read "
             "(not a FetchXML query of one table).") % words


def _hint() -> str:
    return _("Correct the list's query in the CRM (Manage Members, Use Advanced Find); the "
             "next sync evaluates it again. Its group keeps its members meanwhile.")
