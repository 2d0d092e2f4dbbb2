"""Reaction ingest: idempotent by source event id (N1), validated per item."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from audience import subscribers as svc
from audience.campaigns import campaign_figures, create_campaign
from audience.models import Reaction, SubscriberStatus
from audience.reactions import ReactionOutcome, record_reactions
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 5, 4, 10, 0, tzinfo=dt.UTC)


def test_same_batch_twice_stores_the_same_rows(tenant: Tenant, other_tenant: Tenant) -> None:
    anna = svc.create_subscriber(tenant, {"email": "anna.schmidt@example.com"})
    ben = svc.create_subscriber(tenant, {"email": "ben.meier@example.com"})
    campaign = create_campaign(tenant, "May", recipients=4)
    foreign = svc.create_subscriber(other_tenant, {"email": "z@example.com"})

    def ev(eid: str, kind: str, sub: int, **extra: Any) -> dict[str, Any]:
        return {"source_event_id": eid, "kind": kind, "subscriber_id": sub,
                "campaign_id": campaign.pk, "occurred_at": AT, **extra}

    batch = [
        ev("o1", "open", anna.pk), ev("o2", "open", anna.pk), ev("o3", "open", ben.pk),
        ev("c1", "click", anna.pk, url="https://example.com/a"),
        ev("b1", "bounce", ben.pk, bounce_type="hard"),
        ev("o1", "open", anna.pk),                       # repeated inside the batch
        ev("x1", "click", anna.pk),                      # click without URL
        ev("x2", "bounce", anna.pk),                     # bounce without type
        ev("x3", "open", anna.pk, bounce_type="soft"),   # bounce type on an open
        ev("x4", "open", foreign.pk),                    # another tenant's subscriber
    ]
    first = record_reactions(tenant, batch)
    assert [r.outcome for r in first] == [ReactionOutcome.CREATED] * 5 + [
        ReactionOutcome.DUPLICATE] + [ReactionOutcome.INVALID] * 4
    rows = list(Reaction.objects.order_by("id").values_list("source_event_id", "subscriber_id"))

    second = record_reactions(tenant, batch)
    assert [r.outcome for r in second[:6]] == [ReactionOutcome.DUPLICATE] * 6
    assert list(Reaction.objects.order_by("id")
                .values_list("source_event_id", "subscriber_id")) == rows
    assert len(rows) == 5

    ben.refresh_from_db()
    assert ben.status == SubscriberStatus.BOUNCED
    figures = campaign_figures(campaign)
    assert (figures.opens, figures.unique_openers, figures.clicks, figures.bounces) == (3, 2, 1, 1)
    assert figures.open_rate == 50 and figures.click_rate == 25


@pytest.mark.parametrize("subscriber_id", [-5, 0, 2**70])
def test_ids_no_row_can_have_are_invalid_items_not_errors(tenant: Tenant,
                                                          subscriber_id: int) -> None:
    campaign = create_campaign(tenant, "May", recipients=1)
    (result,) = record_reactions(tenant, [{
        "source_event_id": "big", "kind": "open", "subscriber_id": subscriber_id,
        "campaign_id": campaign.pk, "occurred_at": AT}])
    assert result.outcome == ReactionOutcome.INVALID and "not a valid id" in result.message
