"""Change tracking: rows changed and removed since a delta link
(docs/dataverse-webapi.md §Change tracking)."""

from __future__ import annotations

from collections.abc import Sequence
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
        # The first request asks for tracking; follow-ups are the server's own links.
        pages = self.query_pages(delta_link or entity_set,
                                 select=None if delta_link else select,
                                 page_size=page_size,
                                 prefer=() if delta_link else ("odata.track-changes",))
        for page in pages:
            rows = page.get("value")
            if not isinstance(rows, list):
                raise UnexpectedAnswer("The CRM sent a change list without 'value'.",
                                    request=f"GET {entity_set}", key="collection_without_value")
            for row in rows:
                if _is_removed(row):
                    result.removed_ids.append(str(row.get("id", "")).lower())
                else:
                    result.rows.append(row)
            if page.get("@odata.deltaLink"):
                result.delta_link = str(page["@odata.deltaLink"])
        if result.delta_link is None:
            raise UnexpectedAnswer("The CRM did not return a delta link for change tracking.",
                                request=f"GET {entity_set}", key="no_delta_link")
        return result
