"""campaigns: campaign activities distributed through the mailworx channel become mailworx
campaigns (S3). Found by polling the CRM on every run (S12, "find by itself"), or for one
activity the CRM told us about (``activity_id``).

Per activity, in an order that never loses one and never takes one twice (N1):

1. read its marketing lists and adopt their members (``campaign_recipients``);
2. in one transaction record the campaign — unique per tenant and activity — with its
   group and members, *before* the CRM hears of it;
3. take the activity over in the CRM: PATCH ``mwx_takenoveron`` + ``mwx_mailworxcampaignid``
   with ``If-Match`` on the row's ETag. A 412 means the row changed: it is read again —
   taken over by us (an earlier attempt's answer was lost) → go on; by someone else → our
   campaign and group are removed; still waiting (a user edited the row) → try again.
   A CRM without row versions (CRM 2013, 2015 before Update 1) takes the PATCH
   unconditionally; the row read back afterwards decides the same way;
4. confirm locally (``crm_taken_over_at``), resolve the activity's issues and mark the CRM
   events about it processed.

A crash between 3 and 4 leaves a campaign that waits for confirmation; every run first
finishes those (re-reading their activity) and then discovers new activities.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext_lazy

from audience.models import Campaign
from crmevents.models import CrmEventKind
from crmevents.services import mark_processed, waiting_ids
from dynamics.errors import NotFound, PreconditionFailed
from mailworx_crm.texts import deferred as _
from mailworx_crm.texts import deferred_ngettext
from syncjobs.engine.campaign_recipients import (
    ACTIVITIES,
    ACTIVITY_ENTITY,
    STEP,
    Refusal,
    activity_key,
    activity_subject,
    prepare_campaign,
    withdraw_campaign,
)
from syncjobs.engine.context import Sync
from syncjobs.engine.issues import OPEN_STATES, max_attempts, record_issue
from syncjobs.models import JobLogLine
from syncjobs.models.sync import IssueState, SyncIssue

MAILWORX_CHANNEL = 100000000
# docs/crm-solution.md §2: what "distributed, not yet taken over" means.
DISTRIBUTED = (f"channeltypecode eq {MAILWORX_CHANNEL} and mwx_distributionrequested eq true "
               "and mwx_takenoveron eq null")
ACTIVITY_COLUMNS = ["activityid", "subject", "_regardingobjectid_value", "channeltypecode",
                    "mwx_distributionrequested", "mwx_takenoveron", "mwx_mailworxcampaignid"]
# A row that changes under every take-over attempt is left for the next run.
TAKE_OVER_ATTEMPTS = 3
EVENT = CrmEventKind.ACTIVITY_DISTRIBUTED

SKIP_BLOCKED = gettext_lazy("campaign activity waits for a retry of its issue")
SKIP_TAKEN = gettext_lazy("campaign activity taken over by someone else")
SKIP_WITHDRAWN = gettext_lazy("campaign activity no longer distributed")
SKIP_DELETED = gettext_lazy("campaign activity deleted in the CRM")
SKIP_BUSY = gettext_lazy("campaign activity changed during every take-over attempt")


def run_campaigns(sync: Sync, *, activity_id: str | None = None) -> None:
    """Take over distributed activities (all, or the one ``activity_id`` names)."""
    wanted = str(uuid.UUID(str(activity_id))) if activity_id else None
    looked_at = timezone.now()
    _finish_waiting(sync, wanted)
    rows = _discover(sync, wanted)
    sync.observe(STEP, "discovered", len(rows))  # "0 discovered" is worth showing too
    sync.add_work(len(rows))
    # An activity told by the CRM or asked for by hand is tried whatever its issue says.
    blocked = set() if wanted else _blocked(sync)
    for row in rows:
        if activity_key(row) in blocked:
            sync.skip(STEP, str(SKIP_BLOCKED))
        else:
            _take_over(sync, row)
        sync.checkpoint(STEP, 1)
    # Events about activities that were not (or no longer) waiting are answered by this
    # look at the CRM; events that arrived after it stay for the next run.
    told = [wanted] if wanted else waiting_ids(sync.tenant, EVENT)
    mark_processed(sync.tenant, EVENT, told, received_before=looked_at)


def _discover(sync: Sync, wanted: str | None) -> list[dict[str, Any]]:
    flt = f"activityid eq {wanted} and {DISTRIBUTED}" if wanted else DISTRIBUTED
    return list(sync.client.query(ACTIVITIES, select=ACTIVITY_COLUMNS, filter=flt,
                                  orderby="createdon asc"))


def _blocked(sync: Sync) -> set[str]:
    """Activities whose issue used up its attempts: skipped by polling until retried."""
    return {str(i) for i in SyncIssue.objects.filter(
        tenant=sync.tenant, step=STEP, entity_type=ACTIVITY_ENTITY, state=IssueState.OPEN,
        attempts__gte=max_attempts(), crm_id__isnull=False).values_list("crm_id", flat=True)}


def _finish_waiting(sync: Sync, wanted: str | None) -> None:
    """Campaigns recorded by an earlier attempt whose take-over was never confirmed."""
    waiting = Campaign.objects.filter(tenant=sync.tenant, crm_campaign_activity_id__isnull=False,
                                      crm_taken_over_at__isnull=True).order_by("pk")
    if wanted:
        waiting = waiting.filter(crm_campaign_activity_id=wanted)
    for campaign in waiting:
        try:
            row = sync.client.get(ACTIVITIES, str(campaign.crm_campaign_activity_id),
                                  select=ACTIVITY_COLUMNS)
        except NotFound:
            _withdraw(sync, campaign, SKIP_DELETED)
            continue
        _claim(sync, campaign, row)
        sync.checkpoint(STEP)


def _take_over(sync: Sync, row: dict[str, Any]) -> None:
    aid = activity_key(row)
    campaign = Campaign.objects.filter(tenant=sync.tenant, crm_campaign_activity_id=aid).first()
    if campaign is None:
        prepared = prepare_campaign(sync, row)
        if isinstance(prepared, Refusal):
            _refuse(sync, row, prepared)
            return
        campaign = prepared
        sync.checkpoint(STEP)
    _claim(sync, campaign, row)


def _state(campaign: Campaign, row: dict[str, Any]) -> str:
    if row.get("mwx_takenoveron"):
        ours = str(row.get("mwx_mailworxcampaignid") or "") == str(campaign.pk)
        return "ours" if ours else "taken"
    if (row.get("channeltypecode") != MAILWORX_CHANNEL
            or not row.get("mwx_distributionrequested")):
        return "withdrawn"
    return "waiting"


def _claim(sync: Sync, campaign: Campaign, row: dict[str, Any]) -> None:
    aid = str(campaign.crm_campaign_activity_id)
    for _attempt in range(TAKE_OVER_ATTEMPTS):
        state = _state(campaign, row)
        if state == "ours":
            _confirm(sync, campaign)
            return
        if state != "waiting":
            _withdraw(sync, campaign, SKIP_TAKEN if state == "taken" else SKIP_WITHDRAWN)
            return
        # Without the row's version the take-over would not be exclusive: read it first.
        etag = row.get("@odata.etag")
        if etag or not sync.client.capabilities.row_versions:
            try:
                sync.client.update(ACTIVITIES, aid, {
                    "mwx_takenoveron": timezone.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "mwx_mailworxcampaignid": str(campaign.pk)}, if_match=str(etag or "*"))
            except PreconditionFailed:
                pass  # the row changed since it was read: read it again and decide anew
            except NotFound:
                _withdraw(sync, campaign, SKIP_DELETED)
                return
            else:
                if etag:
                    _confirm(sync, campaign)
                    return
                # A CRM without row versions (2013, 2015 before Update 1) cannot make the
                # write exclusive: the row read back decides — the last writer's take-over
                # stands, and an earlier one sees "taken" and withdraws.
        try:
            row = sync.client.get(ACTIVITIES, aid, select=ACTIVITY_COLUMNS)
        except NotFound:
            _withdraw(sync, campaign, SKIP_DELETED)
            return
    sync.skip(STEP, str(SKIP_BUSY))
    sync.log(_("The campaign activity “%(subject)s” changed during every attempt to take it "
               "over; the next sync tries again.") % {"subject": campaign.name},
             JobLogLine.Level.WARNING, activity_id=aid)


def _confirm(sync: Sync, campaign: Campaign) -> None:
    aid = str(campaign.crm_campaign_activity_id)
    with transaction.atomic():
        Campaign.objects.filter(pk=campaign.pk).update(crm_taken_over_at=timezone.now())
        SyncIssue.objects.filter(tenant=sync.tenant, step=STEP, crm_id=aid,
                                 state__in=OPEN_STATES).update(state=IssueState.RESOLVED)
        mark_processed(sync.tenant, EVENT, [aid])
    sync.count(STEP, "taken_over")
    sync.count(STEP, "recipients", campaign.recipients)
    sync.log(deferred_ngettext(
        "Campaign “%(name)s” taken over from the CRM with %(n)s recipient.",
        "Campaign “%(name)s” taken over from the CRM with %(n)s recipients.",
        campaign.recipients) % {"name": campaign.name},
             activity_id=aid, campaign_id=campaign.pk, group_id=campaign.group_id)


def _withdraw(sync: Sync, campaign: Campaign, why: Any) -> None:
    aid = str(campaign.crm_campaign_activity_id)
    if campaign.crm_taken_over_at is not None:
        # Confirmed earlier (and perhaps sent, with reactions): a later change in the CRM
        # never deletes a campaign that was ours.
        sync.skip(STEP, str(why))
        mark_processed(sync.tenant, EVENT, [aid])
        return
    withdraw_campaign(campaign)
    mark_processed(sync.tenant, EVENT, [aid])
    sync.skip(STEP, str(why))
    sync.log(_("Campaign “%(name)s” was removed again: %(why)s.")
             % {"name": campaign.name, "why": why}, JobLogLine.Level.WARNING, activity_id=aid)


def _refuse(sync: Sync, row: dict[str, Any], refusal: Refusal) -> None:
    aid = activity_key(row)
    record_issue(sync.tenant, step=STEP, run_id=sync.ctx.run_id, entity_type=ACTIVITY_ENTITY,
                 crm_id=aid, reason=refusal.reason, hint=refusal.hint)
    mark_processed(sync.tenant, EVENT, [aid])
    sync.skip(STEP, refusal.short)
    sync.log(_("The campaign activity “%(subject)s” was not taken over: %(reason)s")
             % {"subject": activity_subject(row), "reason": refusal.reason},
             JobLogLine.Level.WARNING, activity_id=aid)
