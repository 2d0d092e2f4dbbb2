"""backfill: a new or changed field mapping applied to records linked already (S14).

Reads every active linked record once (``In`` batches by id) with all mapped columns and
applies it like a pull, except that a field never synced before takes the CRM's value
(that is why the admin added the mapping). C6 still holds: group-origin links of a
tenant without bidirectional sync receive nothing.
"""

from __future__ import annotations

from mailworx_crm.entity_types import ENTITY_TYPES, entity_set, primary_key
from syncjobs.engine.context import BATCH, Sync
from syncjobs.engine.fields import select_columns
from syncjobs.engine.incoming import apply_rows
from syncjobs.models.sync import LinkState, RecordLink

STEP = "backfill"


def run_backfill(sync: Sync) -> None:
    for entity in ENTITY_TYPES:
        cols = select_columns(entity, sync.all_mappings(entity))
        ids = [str(i) for i in RecordLink.objects.filter(
            tenant=sync.tenant, entity_type=entity, state=LinkState.ACTIVE
        ).order_by("pk").values_list("crm_id", flat=True)]
        sync.add_work(len(ids))
        for start in range(0, len(ids), BATCH):
            chunk = ids[start:start + BATCH]
            rows = list(sync.client.lookup_in(entity_set(entity), primary_key(entity), chunk,
                                              cols))
            apply_rows(sync, STEP, entity, rows, prefer_crm_when_new=True, force=True)
            sync.checkpoint(STEP, len(chunk))
