"""Campaigns with figures absolute and relative (C5); reaction ingest, idempotent (N1)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audience.campaigns import create_campaign
from audience.groups import create_group
from audience.models import Campaign, Reaction, Subscriber
from audience.subscribers import create_subscriber
from tenants.models import Tenant

pytestmark = pytest.mark.django_db
T = "/api/v1/tenants/acme/"


def batch(sub: Subscriber, campaign: Campaign) -> list[dict]:
    base = {"subscriber_id": sub.pk, "campaign_id": campaign.pk,
            "occurred_at": "2026-05-01T10:00:00+02:00"}
    return [
        {**base, "source_event_id": "e1", "kind": "open"},
        {**base, "source_event_id": "e2", "kind": "click", "url": "https://example.com/a"},
        {**base, "source_event_id": "e3", "kind": "bounce", "bounce_type": "hard"},
        {**base, "source_event_id": "e4", "kind": "click"},  # no URL
        {**base, "source_event_id": "e5", "kind": "open", "occurred_at": "2026-05-01T10:00"},
    ]


def test_campaign_create_and_figures(owner_api: APIClient, tenant: Tenant) -> None:
    group = create_group(tenant, "VIP")
    response = owner_api.post(f"{T}campaigns/", {
        "name": "Spring", "subject": "Hello", "group": group.pk, "recipients": 4,
        "sent_at": "2026-05-01T08:00:00Z"}, format="json")
    assert response.status_code == 201, response.content
    campaign = Campaign.objects.get(tenant=tenant)
    assert (campaign.name, campaign.group_id, campaign.recipients) == ("Spring", group.pk, 4)
    sub = create_subscriber(tenant, {"email": "anna@example.com"})
    owner_api.post(f"{T}reactions/ingest/", {"items": batch(sub, campaign)[:2]},
                   format="json")
    figures = owner_api.get(f"{T}campaigns/{campaign.pk}/").json()["figures"]
    assert figures["absolute"] == {"recipients": 4, "opens": 1, "clicks": 1, "bounces": 0,
                                   "unique_openers": 1, "unique_clickers": 1}
    assert figures["relative"] == {"open_rate": "25.0", "click_rate": "25.0",
                                   "bounce_rate": "0.0"}
    listed = owner_api.get(f"{T}campaigns/").json()["results"]
    assert listed[0]["figures"]["absolute"]["opens"] == 1


@pytest.mark.parametrize(("body", "field"), [
    ({}, "name"),
    ({"name": "X", "recipients": -1}, "recipients"),
    ({"name": "X", "sent_at": "yesterday"}, "sent_at"),
    ({"name": "X", "group": 999999}, "group"),
    ({"name": "X", "business_unit": 999999}, "business_unit"),
])
def test_campaign_create_refused(owner_api: APIClient, tenant: Tenant, body: dict,
                                 field: str) -> None:
    response = owner_api.post(f"{T}campaigns/", body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not Campaign.objects.exists()


def test_campaign_of_other_tenant_is_404(owner_api: APIClient, other_tenant: Tenant) -> None:
    campaign = create_campaign(other_tenant, "Theirs")
    assert owner_api.get(f"{T}campaigns/{campaign.pk}/").status_code == 404


def test_ingest_is_idempotent(owner_api: APIClient, tenant: Tenant) -> None:
    sub = create_subscriber(tenant, {"email": "anna@example.com"})
    campaign = create_campaign(tenant, "Spring", recipients=1)
    first = owner_api.post(f"{T}reactions/ingest/", {"items": batch(sub, campaign)},
                           format="json")
    assert first.status_code == 200, first.content
    body = first.json()
    assert [r["outcome"] for r in body["results"]] == [
        "created", "created", "created", "invalid", "invalid"]
    assert "clicked URL" in body["results"][3]["message"]
    assert "time zone" in body["results"][4]["message"]
    rows = set(Reaction.objects.values_list("pk", "source_event_id"))
    assert len(rows) == 3
    sub.refresh_from_db()
    assert sub.status == "bounced"  # the hard bounce
    second = owner_api.post(f"{T}reactions/ingest/", {"items": batch(sub, campaign)},
                            format="json").json()
    assert second["counts"] == {"duplicate": 3, "invalid": 2}
    assert set(Reaction.objects.values_list("pk", "source_event_id")) == rows


def test_ingest_refuses_other_tenants_objects(owner_api: APIClient, tenant: Tenant,
                                              other_tenant: Tenant) -> None:
    sub = create_subscriber(other_tenant, {"email": "x@example.com"})
    campaign = create_campaign(other_tenant, "Theirs")
    body = owner_api.post(f"{T}reactions/ingest/", {"items": batch(sub, campaign)[:1]},
                          format="json").json()
    assert body["results"][0]["outcome"] == "invalid"
    assert not Reaction.objects.exists()


@pytest.mark.parametrize("body", [{}, {"items": []}, {"items": [1, 2]}])
def test_ingest_bad_request(owner_api: APIClient, tenant: Tenant, body: dict) -> None:
    response = owner_api.post(f"{T}reactions/ingest/", body, format="json")
    assert response.status_code == 400 and "items" in response.json()


def test_ingest_is_bounded(owner_api: APIClient, tenant: Tenant) -> None:
    response = owner_api.post(f"{T}reactions/ingest/", {"items": [{}] * 10_001},
                              format="json")
    assert response.status_code == 413
