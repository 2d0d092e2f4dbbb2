"""A linked CRM record was deleted (N7): the subscriber's permission is revoked as the
tenant configured (``OrgSettings.crm_deletion``) — unsubscribed, or erased — instead of
only closing the link.

A record merged into another one in the CRM is not a deletion: pull and reconcile see its
master (``_masterid_value``) and the link follows the surviving record
(``syncjobs.engine.incoming.follow_merge``); consent is untouched. Only ids the CRM reports
as removed, or no longer returns at all, reach this module.

Called inside the transaction that closes the links; it makes no CRM call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from audience.consent import Who, record_change
from audience.models import ConsentSource, ConsentState
from orgsettings.models import CrmDeletion
from syncjobs.erasure import erase_local
from syncjobs.models import RecordLink

if TYPE_CHECKING:
    from syncjobs.engine.context import Sync


def revoke_deleted(sync: Sync, step: str, links: Sequence[RecordLink]) -> None:
    action = getattr(sync.org, "crm_deletion", CrmDeletion.UNSUBSCRIBE)
    for link in links:
        sub = link.subscriber
        if sub.merged_into_id is not None:
            continue
        if action == CrmDeletion.ERASE:
            erase_local(sub)
            sync.count(step, "erased_deleted")
            continue
        event = record_change(
            sub,
            ConsentState.OPTED_OUT,
            source=ConsentSource.CRM,
            detail={
                "entity": link.entity_type,
                "record_id": str(link.crm_id),
                "record_deleted": True,
                "run_id": sync.ctx.run_id,
            },
            who=Who(actor=f"sync run {sync.ctx.run_id}"),
        )
        if event is not None:
            sync.count(step, "unsubscribed_deleted")
