"""The lists step: CRM marketing lists ↔ subscriber groups (S1, S6, S10)."""

from __future__ import annotations

from syncjobs.engine.context import Sync


def run_lists(sync: Sync, *, group_id: int | None = None, list_id: str | None = None,
              mark: bool = False) -> None:
    """Discover marked lists, create the lists of synced groups, sync memberships.

    ``group_id`` limits the step to one group's lists, ``list_id`` to one CRM list;
    ``mark`` marks that list for sync in the CRM first (S1 confirmation).
    """
    # The body lands with the lists step (issue #8); the mode plumbing comes first so
    # that other branches can build on ``mode="lists"`` and the step order.
    sync.count("lists", "lists_seen", 0)
