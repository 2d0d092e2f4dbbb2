"""Merging duplicate subscribers (S9): everything on the survivor, a tombstone left behind."""

from __future__ import annotations

import datetime as dt

import pytest

from audience import subscribers as svc
from audience.campaigns import create_campaign
from audience.groups import add_members, create_group
from audience.merge import MergeError, merge_subscribers
from audience.models import (
    GroupMembership,
    Reaction,
    Subscriber,
    SubscriberStatus,
    SubscriberValue,
)
from audience.reactions import record_reactions
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

OLD = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NEW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_merge_moves_everything_to_the_survivor(tenant: Tenant) -> None:
    survivor = svc.create_subscriber(
        tenant, {"email": "anna.schmidt@example.com", "first_name": "Anna"}, now=OLD)
    svc.update_subscriber(survivor, {"company": "Alt GmbH"}, now=OLD)
    source = svc.create_subscriber(
        tenant, {"email": "Anna.Schmidt@example.com", "first_name": "Anne"}, now=OLD)
    svc.update_subscriber(source, {"company": "Neu AG", "last_name": "Schmidt"}, now=NEW)
    svc.update_subscriber(survivor, {"first_name": "Anna-Lena"}, now=NEW)
    svc.unsubscribe(source)

    news, vip, both = (create_group(tenant, n) for n in ("News", "VIP", "Both"))
    add_members(news, [survivor.pk])
    add_members(vip, [source.pk])
    add_members(both, [survivor.pk, source.pk])
    campaign = create_campaign(tenant, "Spring", recipients=2)
    record_reactions(tenant, [
        {"source_event_id": "e1", "kind": "open", "subscriber_id": source.pk,
         "campaign_id": campaign.pk, "occurred_at": NEW},
        {"source_event_id": "e2", "kind": "open", "subscriber_id": survivor.pk,
         "campaign_id": campaign.pk, "occurred_at": NEW},
    ])

    merge_subscribers(source, survivor)

    source.refresh_from_db()
    survivor.refresh_from_db()
    assert source.merged_into_id == survivor.pk
    assert list(Subscriber.objects.live().filter(tenant=tenant)) == [survivor]
    assert set(GroupMembership.objects.filter(subscriber=survivor)
               .values_list("group__name", flat=True)) == {"News", "VIP", "Both"}
    assert not GroupMembership.objects.filter(subscriber=source).exists()
    assert Reaction.objects.filter(subscriber=survivor).count() == 2
    assert not Reaction.objects.filter(subscriber=source).exists()
    values = dict(SubscriberValue.objects.filter(subscriber=survivor)
                  .values_list("field__key", "value"))
    # Per field the newer modification wins: the survivor's newer first name, the source's
    # newer company, the source's only last name.
    assert values["first_name"] == "Anna-Lena"
    assert values["company"] == "Neu AG"
    assert values["last_name"] == "Schmidt"
    assert not SubscriberValue.objects.filter(subscriber=source).exists()
    # An unsubscribe is never undone by a merge (S13).
    assert survivor.status == SubscriberStatus.UNSUBSCRIBED


def test_reactions_for_a_tombstone_land_on_the_survivor(tenant: Tenant) -> None:
    a = svc.create_subscriber(tenant, {"email": "x@example.com"})
    b = svc.create_subscriber(tenant, {"email": "x@example.com"})
    c = svc.create_subscriber(tenant, {"email": "x@example.com"})
    merge_subscribers(b, a)
    merge_subscribers(a, c)  # b's tombstone is re-pointed to c, no chains
    b.refresh_from_db()
    assert b.merged_into_id == c.pk
    campaign = create_campaign(tenant, "C")
    record_reactions(tenant, [{"source_event_id": "late", "kind": "open", "subscriber_id": b.pk,
                               "campaign_id": campaign.pk, "occurred_at": NEW}])
    assert Reaction.objects.get(source_event_id="late").subscriber_id == c.pk


def test_merge_refuses_tombstones_and_other_tenants(tenant: Tenant, other_tenant: Tenant) -> None:
    a = svc.create_subscriber(tenant, {"email": "x@example.com"})
    b = svc.create_subscriber(tenant, {"email": "x@example.com"})
    foreign = svc.create_subscriber(other_tenant, {"email": "x@example.com"})
    with pytest.raises(MergeError):
        merge_subscribers(foreign, a)
    merge_subscribers(b, a)
    with pytest.raises(MergeError):
        merge_subscribers(b, a)
