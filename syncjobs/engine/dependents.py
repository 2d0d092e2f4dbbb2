"""Lookup values follow the record they come from.

A mapped lookup path (a contact's company = its parent account's name, C7) is read when the
contact is read. Change tracking reports the contact only when the contact changes, so an
account renamed later would leave the old name on every subscriber whose contact points at
it — and whether a subscriber ends with the old or the new name would depend on when the
contact happened to be read last (an interrupted run reads at other moments than an
uninterrupted one: N1 asks both to end alike). So when the pull reads changed records of a
table, the linked records of other tables whose mapped lookups point at them are read too
and applied again: the lookup values then follow the related record, at a cost that grows
with the change (one ``In`` query per lookup and batch), not with the database.

A first read of a table (the start of its change tracking) reads every row: nothing is
refreshed then, as nothing changed since the values were read.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mailworx_crm.entity_types import ENTITY_TYPES, entity_set
from syncjobs.engine.context import BATCH, Sync
from syncjobs.engine.entities import row_id
from syncjobs.engine.fields import select_columns
from syncjobs.engine.incoming import apply_rows
from syncjobs.models.sync import LinkState, RecordLink


def refresh_dependents(sync: Sync, step: str, entity: str,
                       rows: Sequence[dict[str, Any]]) -> None:
    """Apply again the linked records whose mapped lookups point at ``rows``."""
    ids = sorted({row_id(entity, row) for row in rows})
    if not ids:
        return
    for dependent in ENTITY_TYPES:
        mapped = sync.all_mappings(dependent)
        lookups = sorted({mf.attribute for mf in mapped if mf.related_entity == entity})
        if not lookups:
            continue
        found: dict[str, dict[str, Any]] = {}
        columns = select_columns(dependent, mapped)
        for attribute in lookups:
            for row in sync.client.lookup_in(entity_set(dependent), attribute, ids, columns):
                found[row_id(dependent, row)] = row
        linked = _linked(sync, dependent, list(found))
        refreshed = [row for crm_id, row in found.items() if crm_id in linked]
        for start in range(0, len(refreshed), BATCH):
            apply_rows(sync, step, dependent, refreshed[start:start + BATCH], force=True)
        sync.count(step, "lookups_refreshed", len(refreshed))


def _linked(sync: Sync, entity: str, crm_ids: list[str]) -> set[str]:
    """The ids among ``crm_ids`` an active link holds: a record nobody linked is left alone."""
    out: set[str] = set()
    for start in range(0, len(crm_ids), 500):
        out.update(str(i) for i in RecordLink.objects.filter(
            tenant=sync.tenant, entity_type=entity, state=LinkState.ACTIVE,
            crm_id__in=crm_ids[start:start + 500]).values_list("crm_id", flat=True))
    return out
