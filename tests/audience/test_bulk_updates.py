"""Bulk variants used by the sync engine behave like the one-at-a-time services."""

from __future__ import annotations

import datetime as dt

import pytest

from audience import subscribers as svc
from audience.bulk_updates import merge_many, update_subscribers
from audience.campaigns import create_campaign
from audience.groups import add_members, create_group
from audience.merge import MergeError
from audience.models import GroupMembership, Reaction, Subscriber, SubscriberStatus
from audience.reactions import record_reactions
from audience.subscribers import SubscriberError, current_values
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

OLD = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
NEW = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)


def test_update_subscribers_writes_only_changes_and_refuses_bad_values(tenant: Tenant) -> None:
    a = svc.create_subscriber(tenant, {"email": "a@example.com", "first_name": "A"}, now=OLD)
    b = svc.create_subscriber(tenant, {"email": "b@example.com", "first_name": "B"}, now=OLD)
    c = svc.create_subscriber(tenant, {"email": "c@example.com"}, now=OLD)
    out = update_subscribers(tenant, {
        a.pk: {"first_name": "Anna", "language": "EN"},
        b.pk: {"first_name": "B"},
        c.pk: {"email": "not an address"}}, now=NEW)
    assert out[a.pk] == ["first_name", "language"]
    assert out[b.pk] == []
    assert isinstance(out[c.pk], SubscriberError)
    values = current_values([a.pk, c.pk])
    assert values[a.pk]["first_name"] == "Anna"
    assert values[c.pk]["email"] == "c@example.com"
    a.refresh_from_db()
    assert a.language == "en"  # mirrored column follows the value


def test_merge_many_matches_merge_subscribers(tenant: Tenant) -> None:
    survivor = svc.create_subscriber(
        tenant, {"email": "anna@example.com", "first_name": "Anna"}, now=OLD)
    first = svc.create_subscriber(
        tenant, {"email": "ANNA@example.com", "first_name": "Anne", "company": "Neu"}, now=NEW)
    second = svc.create_subscriber(tenant, {"email": "Anna@example.com",
                                            "last_name": "Schmidt"}, now=OLD)
    older = svc.create_subscriber(tenant, {"email": "anna@example.com"}, now=OLD)
    svc.unsubscribe(second)
    news, vip = create_group(tenant, "News"), create_group(tenant, "VIP")
    add_members(news, [survivor.pk, first.pk])
    add_members(vip, [first.pk, second.pk])
    campaign = create_campaign(tenant, "Spring", recipients=2)
    record_reactions(tenant, [{"source_event_id": "e1", "kind": "open",
                               "subscriber_id": second.pk, "campaign_id": campaign.pk,
                               "occurred_at": NEW}])
    Subscriber.objects.filter(pk=older.pk).update(merged_into=first)  # an earlier merge

    assert merge_many([(first.pk, survivor.pk), (second.pk, survivor.pk)]) == 2

    survivor.refresh_from_db()
    assert list(Subscriber.objects.live().filter(tenant=tenant)) == [survivor]
    assert set(Subscriber.objects.filter(merged_into=survivor)
               .values_list("pk", flat=True)) == {first.pk, second.pk, older.pk}
    assert set(GroupMembership.objects.filter(subscriber=survivor)
               .values_list("group__name", flat=True)) == {"News", "VIP"}
    assert GroupMembership.objects.filter(subscriber_id__in=[first.pk, second.pk]).count() == 0
    assert Reaction.objects.get().subscriber_id == survivor.pk
    values = current_values([survivor.pk])[survivor.pk]
    assert values["first_name"] == "Anne" and values["company"] == "Neu"
    assert values["last_name"] == "Schmidt"
    assert survivor.status == SubscriberStatus.UNSUBSCRIBED
    with pytest.raises(MergeError):
        merge_many([(first.pk, survivor.pk)])
