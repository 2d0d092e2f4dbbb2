"""Change tracking: rows changed and removed since a delta link
(docs/dataverse-webapi.md §Change tracking)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from dynamics.errors import UnexpectedAnswer
from dynamics.records import RecordsApi


@dataclass
class ChangeSet:
    rows: list[dict[str, Any]] = field(default_factory=list)  # created or updated, current values
    removed_ids: list[str] = field(default_factory=list)
    delta_link: str | None = None  # keep it as the cursor for the next call


def _is_removed(row: dict[str, Any]) -> bool:
    return "$deletedEntity" in str(row.get("@odata.context", "")) or row.get("reason") == "deleted"


class ChangesApi(RecordsApi):
    def track_changes(self, entity_set: str, select: Sequence[str],
                      delta_link: str | None = None,
                      page_size: int | None = None) -> ChangeSet:
        """All changes since `delta_link` (or every row on the first call) and the next link.

        Raises `ChangeTrackingNotEnabled` when the table does not track changes: the caller
        then falls back to a `modifiedon` watermark. Raises `ChangeTrackingExpired` when the
        delta link is older than the CRM's retention: the caller then reads everything again
        (call without `delta_link`) and compares, to find rows removed meanwhile.
        `$filter`/`$orderby`/`$top`/`$expand` are not allowed with change tracking, so none
        are offered.
        """
        result = ChangeSet()
        for part in self.change_pages(entity_set, select, delta_link, page_size):
            result.rows += part.rows
            result.removed_ids += part.removed_ids
            result.delta_link = part.delta_link or result.delta_link
        return result

    def change_pages(self, entity_set: str, select: Sequence[str],
                     delta_link: str | None = None,
                     page_size: int | None = None) -> Iterator[ChangeSet]:
        """``track_changes`` one page at a time, so a caller never holds a whole table; the
        last page carries the delta link. Errors of the first request are raised by the
        first ``next()``."""
        # The first request asks for tracking; follow-ups are the server's own links.
        pages = self.query_pages(delta_link or entity_set,
                                 select=None if delta_link else select,
                                 page_size=page_size,
                                 prefer=() if delta_link else ("odata.track-changes",))
        got_delta = False
        for page in pages:
            rows = page.get("value")
            if not isinstance(rows, list):
                raise UnexpectedAnswer("The CRM sent a change list without 'value'.",
                                       request=f"GET {entity_set}", key="collection_without_value")
            part = ChangeSet()
            for row in rows:
                if _is_removed(row):
                    part.removed_ids.append(str(row.get("id", "")).lower())
                else:
                    part.rows.append(row)
            if page.get("@odata.deltaLink"):
                part.delta_link = str(page["@odata.deltaLink"])
                got_delta = True
            yield part
        if not got_delta:
            raise UnexpectedAnswer("The CRM did not return a delta link for change tracking.",
                                   request=f"GET {entity_set}", key="no_delta_link")
