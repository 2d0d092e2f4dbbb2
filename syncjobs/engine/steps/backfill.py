"""backfill: a new or changed field mapping applied to records linked already (S14).

Reads every active linked record once (``In`` batches by id) with all mapped columns and
applies it like a pull, except that a field never synced before takes the CRM's value
(that is why the admin added the mapping). C6 still holds: group-origin links of a
tenant without bidirectional sync receive nothing.

A mapping saved after records were linked leaves them behind until a backfill ran: the
incremental pull only reads records the CRM changed. :func:`backfill_pending` counts them;
pages offer "Backfill now", and incremental and full syncs run this step first while any
are pending, so no sync silently leaves a newly mapped field (a name) empty.
"""

from __future__ import annotations

from django.db.models import Max

from fieldmapping.models import FieldMapping
from mailworx_crm.entity_types import ENTITY_TYPES, entity_set, primary_key
from syncjobs.engine.context import BATCH, Sync
from syncjobs.engine.fields import select_columns
from syncjobs.engine.incoming import apply_rows
from syncjobs.models.sync import LinkState, RecordLink, SyncStatus
from tenants.models import Tenant

STEP = "backfill"


def backfill_pending(tenant: Tenant) -> int:
    """How many linked records were linked before the latest field-mapping change and not
    backfilled since (S14); 0 when none is."""
    changed = (FieldMapping.objects.filter(business_unit__tenant=tenant)
               .aggregate(last=Max("updated_at"))["last"])
    if changed is None:
        return 0
    applied = (SyncStatus.objects.filter(tenant=tenant)
               .values_list("mappings_applied_at", flat=True).first())
    if applied is not None and applied >= changed:
        return 0
    return RecordLink.objects.filter(tenant=tenant, state=LinkState.ACTIVE,
                                     created_at__lt=changed).count()


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
