"""The campaign side of the reaction export: owners, CRM campaigns, campaign figures (C5).

* Owner: the reaction owner of the campaign's business unit — the campaign's own unit,
  else its group's unit, else the tenant's default unit (S5, C11).
* A mailworx campaign that did not come from the CRM gets a CRM campaign first, so its
  activities are visible on a campaign. Its id is chosen and stored before the request
  (``CampaignExport.create_pending``); a retried create meets the campaign it already made
  (412) and counts as done — never a second campaign (N1).
* Figures are written after the activities, only for campaigns whose reactions changed
  (``CampaignExport.figures_due``), all in one ``$batch``.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from audience.campaigns import CampaignFigures, campaign_figures
from audience.models import Campaign, Reaction, ReactionKind
from businessunits.models import BusinessUnit, OwnerType
from dynamics.batch import OperationResult
from mailworx_crm.crm_errors import describe
from mailworx_crm.texts import deferred as _
from mailworx_crm.texts import join
from orgsettings.models import ReactionMode
from syncjobs.engine.context import Sync
from syncjobs.engine.issues import record_issue
from syncjobs.models.sync import CampaignExport

STEP = "reactions"
NAME_MAX = 128  # campaign.name in the CRM
FIGURES_MODE = {ReactionMode.ABSOLUTE: 100000000, ReactionMode.RELATIVE: 100000001}


class Owners:
    """Reaction owners per business unit, looked up once per run."""

    def __init__(self, sync: Sync) -> None:
        self.sync = sync
        self._units: dict[int, BusinessUnit] = {}

    def unit_of(self, campaign: Campaign) -> BusinessUnit | None:
        unit_id = campaign.business_unit_id or self.sync.unit_for_group(campaign.group_id)
        if unit_id is None:
            return None
        if unit_id not in self._units:
            self._units[unit_id] = BusinessUnit.objects.get(pk=unit_id)
        return self._units[unit_id]

    def bind(self, campaign: Campaign) -> str | None:
        """``ownerid@odata.bind`` for records of this campaign (user or team)."""
        unit = self.unit_of(campaign)
        if unit is None:
            return None  # no unit at all: the CRM makes the connector's user the owner
        entity_set = "teams" if unit.owner_type == OwnerType.TEAM else "systemusers"
        return f"/{entity_set}({unit.owner_id})"


def ensure_crm_campaigns(sync: Sync, campaigns: dict[int, Campaign], owners: Owners) -> set[int]:
    """Create the CRM campaigns the batch needs; returns ids of campaigns still without one."""
    missing = [c for c in campaigns.values() if c.crm_campaign_id is None]
    if missing:
        with transaction.atomic():
            for campaign in missing:
                # Chosen and stored before the request: a retry sends the same id (N1).
                campaign.crm_campaign_id = uuid.uuid4()
                Campaign.objects.filter(pk=campaign.pk, crm_campaign_id__isnull=True).update(
                    crm_campaign_id=campaign.crm_campaign_id)
                CampaignExport.objects.update_or_create(
                    campaign=campaign, defaults={"tenant": sync.tenant, "create_pending": True})
    pending_ids = set(CampaignExport.objects.filter(
        campaign_id__in=list(campaigns), create_pending=True).values_list("campaign_id",
                                                                          flat=True))
    if not pending_ids:
        return set()
    todo = [campaigns[pk] for pk in sorted(pending_ids)]
    records = []
    for campaign in todo:
        record: dict[str, Any] = {"campaignid": str(campaign.crm_campaign_id),
                                  "name": campaign.name[:NAME_MAX]}
        owner = owners.bind(campaign)
        if owner:
            record["ownerid@odata.bind"] = owner
        if campaign.sent_at:
            record["actualstart"] = campaign.sent_at.date().isoformat()
        records.append(record)
    results = sync.client.create_multiple("campaigns", "campaign", records,
                                          primary_key="campaignid")
    failed: set[int] = set()
    with transaction.atomic():
        for campaign, result in zip(todo, results, strict=True):
            if result.ok:
                CampaignExport.objects.filter(campaign=campaign).update(create_pending=False)
                sync.count(STEP, "campaigns_created")
            else:
                failed.add(campaign.pk)
                _campaign_issue(sync, campaign, result, _(
                    "The CRM campaign for the mailworx campaign “%(name)s” could not be "
                    "created, so its reactions wait.") % {"name": campaign.name})
    return failed


def mark_figures_due(sync: Sync, campaign_ids: Iterable[int]) -> None:
    """Inside the batch's transaction: these campaigns' figures must be written again."""
    ids = set(campaign_ids)
    if not ids:
        return
    known = set(CampaignExport.objects.filter(campaign_id__in=ids).values_list(
        "campaign_id", flat=True))
    CampaignExport.objects.bulk_create([CampaignExport(tenant=sync.tenant, campaign_id=pk)
                                        for pk in ids - known])
    CampaignExport.objects.filter(campaign_id__in=ids).update(figures_due=True)


def mark_all_figures_due(sync: Sync) -> None:
    """The figures mode changed (C5): every campaign written before gets the new columns."""
    CampaignExport.objects.filter(tenant=sync.tenant, figures_written_at__isnull=False).update(
        figures_due=True)


def write_figures(sync: Sync, kinds: list[str]) -> None:
    """C5: campaign figures of every campaign whose reactions changed, in one $batch."""
    due = list(CampaignExport.objects.filter(tenant=sync.tenant, figures_due=True)
               .select_related("campaign").order_by("campaign_id"))
    due = [e for e in due if e.campaign.crm_campaign_id and not e.create_pending]
    if not due:
        return
    mode = ReactionMode(sync.org.reaction_mode or ReactionMode.ABSOLUTE)
    now = timezone.now()
    records = [figures_payload(e.campaign, mode, kinds, now) for e in due]
    results = sync.client.update_multiple("campaigns", "campaign", records,
                                          primary_key="campaignid")
    with transaction.atomic():
        for export, result in zip(due, results, strict=True):
            # Cleared either way: a refused write is an issue, and new reactions set it again.
            CampaignExport.objects.filter(pk=export.pk).update(
                figures_due=False, figures_written_at=now if result.ok else
                export.figures_written_at)
            if result.ok:
                sync.count(STEP, "figures_written")
            else:
                _campaign_issue(sync, export.campaign, result, _(
                    "The figures of the campaign “%(name)s” could not be written to the "
                    "CRM.") % {"name": export.campaign.name})


def figures_payload(campaign: Campaign, mode: ReactionMode, kinds: list[str],
                    now: dt.datetime) -> dict[str, Any]:
    """Absolute: recipients who opened / clicked / bounced. Relative: open and click rate
    in percent of the campaign's recipients (2 decimals); the other mode's columns empty.
    Kinds that are not exported (C4) stay empty in both modes."""
    figures = campaign_figures(campaign)
    opens, clicks = ReactionKind.OPEN in kinds, ReactionKind.CLICK in kinds
    absolute = mode == ReactionMode.ABSOLUTE
    return {
        "campaignid": str(campaign.crm_campaign_id),
        "mwx_opens": figures.unique_openers if absolute and opens else None,
        "mwx_clicks": figures.unique_clickers if absolute and clicks else None,
        "mwx_bounces": bounced_recipients(campaign) if absolute and ReactionKind.BOUNCE in kinds
        else None,
        "mwx_openrate": rate(figures, figures.unique_openers) if not absolute and opens
        else None,
        "mwx_clickrate": rate(figures, figures.unique_clickers) if not absolute and clicks
        else None,
        "mwx_figuresmode": FIGURES_MODE[mode],
        "mwx_figuresupdatedon": now.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def rate(figures: CampaignFigures, count: int) -> float | None:
    # campaign_figures rounds its rates to one decimal for the UI; the CRM column has two.
    if not figures.recipients:
        return None
    value = (Decimal(count) * 100 / figures.recipients).quantize(Decimal("0.01"),
                                                                 rounding=ROUND_HALF_UP)
    return float(value)


def bounced_recipients(campaign: Campaign) -> int:
    """Distinct recipients who bounced (docs/crm-solution.md §3), not bounce events."""
    return int(Reaction.objects.filter(campaign=campaign).aggregate(
        n=Count("subscriber", distinct=True, filter=Q(kind=ReactionKind.BOUNCE)))["n"])


def _campaign_issue(sync: Sync, campaign: Campaign, result: OperationResult,
                    reason: str) -> None:
    error = result.error
    # Each part is translated when read (C16); describe() adds the CRM's own message.
    stored = join(reason, describe(error)) if error is not None else reason
    record_issue(sync.tenant, step=STEP, run_id=sync.ctx.run_id, entity_type="campaign",
                 crm_id=campaign.crm_campaign_id, code=(error.code or "") if error else "",
                 reason=stored, hint=_("Check the campaign and the connector's privileges in "
                                       "the CRM; the next reaction export tries again."))
    sync.count(STEP, "failed")
