"""Campaigns and their reaction figures, absolute and relative to recipients (C5)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.db.models import Count, Q, QuerySet

from audience.models import Campaign, ReactionKind, SubscriberGroup
from businessunits.models import BusinessUnit
from tenants.models import Tenant

FIGURES = {
    "opens": Count("reactions", filter=Q(reactions__kind=ReactionKind.OPEN)),
    "clicks": Count("reactions", filter=Q(reactions__kind=ReactionKind.CLICK)),
    "bounces": Count("reactions", filter=Q(reactions__kind=ReactionKind.BOUNCE)),
    "unique_openers": Count("reactions__subscriber", distinct=True,
                            filter=Q(reactions__kind=ReactionKind.OPEN)),
    "unique_clickers": Count("reactions__subscriber", distinct=True,
                             filter=Q(reactions__kind=ReactionKind.CLICK)),
}


@dataclass(frozen=True)
class CampaignFigures:
    recipients: int
    opens: int
    clicks: int
    bounces: int
    unique_openers: int
    unique_clickers: int

    def _rate(self, count: int) -> Decimal | None:
        if not self.recipients:
            return None
        return (Decimal(count) * 100 / self.recipients).quantize(Decimal("0.1"))

    @property
    def open_rate(self) -> Decimal | None:
        """Unique openers per 100 recipients."""
        return self._rate(self.unique_openers)

    @property
    def click_rate(self) -> Decimal | None:
        return self._rate(self.unique_clickers)

    @property
    def bounce_rate(self) -> Decimal | None:
        return self._rate(self.bounces)


def create_campaign(
    tenant: Tenant,
    name: str,
    *,
    subject: str = "",
    group: SubscriberGroup | None = None,
    business_unit: BusinessUnit | None = None,
    sent_at: dt.datetime | None = None,
    recipients: int = 0,
    crm_campaign_id: str | None = None,
    crm_campaign_activity_id: str | None = None,
) -> Campaign:
    """``crm_*``: the CRM campaign and campaign activity a campaign was made from (S3)."""
    for obj in (group, business_unit):
        if obj is not None and obj.tenant_id != tenant.pk:
            raise ValueError("group and business unit must belong to the campaign's tenant")
    return Campaign.objects.create(tenant=tenant, name=name, subject=subject, group=group,
                                   business_unit=business_unit, sent_at=sent_at,
                                   recipients=recipients, crm_campaign_id=crm_campaign_id,
                                   crm_campaign_activity_id=crm_campaign_activity_id)


def with_figures(campaigns: QuerySet[Campaign]) -> QuerySet[Campaign]:
    """Annotate every campaign with the counts of ``FIGURES`` in the same query."""
    return campaigns.annotate(**FIGURES)


def campaign_figures(campaign: Campaign) -> CampaignFigures:
    row = Campaign.objects.filter(pk=campaign.pk).aggregate(**FIGURES)
    return CampaignFigures(recipients=campaign.recipients, **row)


def figures_of(annotated: Campaign) -> CampaignFigures:
    """Figures of a campaign that came through ``with_figures``."""
    return CampaignFigures(recipients=annotated.recipients,
                           **{k: getattr(annotated, k) for k in FIGURES})
