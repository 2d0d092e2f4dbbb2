"""The CRM's word on consent (S13, N6), for every step that applies a CRM row.

- A record that comes to forbid bulk email opts its subscriber out (source CRM, with the
  record and the CRM user who changed it last), which also suppresses the address.
- A record whose "do not allow bulk email" was *cleared* since the last read does not
  re-subscribe by itself: the subscriber becomes "awaiting confirmation", so the mailing
  side can ask for a double opt-in — unless the tenant allows CRM-driven re-subscription
  (``OrgSettings.crm_resubscribe``), a choice recorded in the settings' audit log (N5).

Counters: ``unsubscribed``, ``awaiting_confirmation``, ``resubscribed``.
"""

from __future__ import annotations

from typing import Any

from audience.consent import RESTRICTIVE, Who, record_change
from audience.models import ConsentSource, ConsentState, Subscriber
from syncjobs.engine.context import Sync
from syncjobs.models.sync import RecordLink

CRM_USER = "_modifiedby_value"


def crm_detail(sync: Sync, link: RecordLink, row: dict[str, Any]) -> dict[str, Any]:
    """How the CRM said it: the record, the user who changed it last, when, which run."""
    return {
        "entity": link.entity_type,
        "record_id": str(link.crm_id),
        "crm_user": str(row.get(CRM_USER) or ""),
        "modifiedon": row.get("modifiedon"),
        "run_id": sync.ctx.run_id,
    }


def crm_consent(
    sync: Sync, step: str, link: RecordLink, subscriber: Subscriber, row: dict[str, Any]
) -> None:
    blocked = bool(row.get("donotbulkemail"))
    state = ConsentState(subscriber.consent)
    who = Who(actor=f"sync run {sync.ctx.run_id}")
    # Changes of the flag count, not its standing value: a subscriber who confirmed a new
    # double opt-in is not opted out again by a record that still carries the old flag.
    if blocked and not link.bulk_email_blocked and state.may_receive:
        record_change(
            subscriber,
            ConsentState.OPTED_OUT,
            source=ConsentSource.CRM,
            detail=crm_detail(sync, link, row),
            who=who,
        )
        sync.count(step, "unsubscribed")
    elif (
        not blocked
        and link.bulk_email_blocked
        and state in RESTRICTIVE
        and state != ConsentState.AWAITING_CONFIRMATION
    ):
        event = record_change(
            subscriber,
            ConsentState.OPTED_IN,
            source=ConsentSource.CRM,
            detail=crm_detail(sync, link, row),
            who=who,
            allow_crm_resubscribe=sync.org.crm_resubscribe,
        )
        if event is not None:
            sync.count(
                step,
                "resubscribed" if event.state == ConsentState.OPTED_IN else "awaiting_confirmation",
            )
