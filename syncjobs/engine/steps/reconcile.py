"""reconcile: every active link compared with the CRM, for tables without change tracking.

Linked ids are read in ``In`` batches: an id the CRM no longer returns was deleted (the
link is closed as ``crm_deleted`` and the subscriber's permission revoked as the tenant
configured, ``syncjobs.crm_deletion``), a merged record is followed to its master with
consent untouched (a merge is not a deletion), and the
active/deactivated state is refreshed. Field values are left to pull (cheap) — this run
costs one request per batch of links, outside the incremental request budget.
"""

from __future__ import annotations

from django.db import transaction

from mailworx_crm.entity_types import ENTITY_TYPES, entity_set, primary_key
from syncjobs.crm_deletion import revoke_deleted
from syncjobs.engine.context import BATCH, Sync
from syncjobs.engine.entities import is_active, merged_master, row_id
from syncjobs.engine.incoming import follow_merge
from syncjobs.models.sync import LinkState, RecordLink

STEP = "reconcile"
COLUMNS = ("statecode", "statuscode", "_masterid_value", "merged")


def run_reconcile(sync: Sync) -> None:
    for entity in ENTITY_TYPES:
        links = list(RecordLink.objects.filter(
            tenant=sync.tenant, entity_type=entity, state=LinkState.ACTIVE
        ).select_related("subscriber").order_by("pk"))
        sync.add_work(len(links))
        for start in range(0, len(links), BATCH):
            chunk = links[start:start + BATCH]
            rows = {row_id(entity, r): r for r in sync.client.lookup_in(
                entity_set(entity), primary_key(entity), [str(link.crm_id) for link in chunk],
                [primary_key(entity), *COLUMNS])}
            with transaction.atomic():
                for link in chunk:
                    _compare(sync, entity, link, rows.get(str(link.crm_id)))
            sync.checkpoint(STEP, len(chunk))


def _compare(sync: Sync, entity: str, link: RecordLink, row: dict[str, object] | None) -> None:
    sync.observe(STEP, "checked")
    if row is None:
        link.state = LinkState.CRM_DELETED
        link.save(update_fields=["state", "updated_at"])
        sync.count(STEP, "unlinked_deleted")
        revoke_deleted(sync, STEP, [link])
        return
    master = merged_master(row)
    if master:
        # Merged, not deleted: the link follows the surviving record, consent untouched.
        follow_merge(sync, STEP, link, master)
        return
    active = is_active(row)
    if active != link.crm_active:
        link.crm_active = active
        link.save(update_fields=["crm_active", "updated_at"])
        sync.count(STEP, "state_changed")
