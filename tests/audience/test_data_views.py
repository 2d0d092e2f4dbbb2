"""Audience data pages: owner / member / outsider, other tenants' ids, flat list queries."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audience import subscribers as svc
from audience.campaigns import create_campaign
from audience.groups import add_members, create_group
from audience.models import Campaign, GroupSyncSetting, Subscriber, SubscriberGroup
from audience.reactions import record_reactions
from businessunits.models import BusinessUnit
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def data(tenant: Tenant) -> dict[str, object]:
    sub = svc.create_subscriber(tenant, {"email": "anna.schmidt@example.com",
                                         "first_name": "Anna", "last_name": "Schmidt"})
    group = create_group(tenant, "Newsletter")
    add_members(group, [sub.pk])
    campaign = create_campaign(tenant, "Spring sale", recipients=4)
    record_reactions(tenant, [{"source_event_id": "e1", "kind": "open", "subscriber_id": sub.pk,
                               "campaign_id": campaign.pk,
                               "occurred_at": dt.datetime(2026, 4, 1, tzinfo=dt.UTC)}])
    return {"subscriber": sub, "group": group, "campaign": campaign}


def urls(tenant: Tenant, sub: Subscriber, group: SubscriberGroup, campaign: Campaign
         ) -> list[str]:
    t = tenant.slug
    return [
        reverse("audience_data:subscribers", kwargs={"tenant": t}),
        reverse("audience_data:subscriber", kwargs={"tenant": t, "pk": sub.pk}),
        reverse("audience_data:subscribers_export", kwargs={"tenant": t}),
        reverse("audience_data:groups", kwargs={"tenant": t}),
        reverse("audience_data:group", kwargs={"tenant": t, "pk": group.pk}),
        reverse("audience_data:group_export", kwargs={"tenant": t, "pk": group.pk}),
        reverse("audience_data:campaigns", kwargs={"tenant": t}),
        reverse("audience_data:campaign", kwargs={"tenant": t, "pk": campaign.pk}),
    ]


def test_owner_and_member_read_every_page(
    owner_client: Client, member_client: Client, tenant: Tenant, data: dict, member: object
) -> None:
    for client in (owner_client, member_client):
        for url in urls(tenant, data["subscriber"], data["group"], data["campaign"]):
            response = client.get(url)
            assert response.status_code == 200, url
            body = b"".join(response.streaming_content) if response.streaming \
                else response.content
            assert b"anna.schmidt@example.com" in body or b"Spring sale" in body \
                or b"Newsletter" in body, url
    page = owner_client.get(urls(tenant, data["subscriber"], data["group"], data["campaign"])[7])
    assert b"25.0 %" in page.content  # one unique opener of four recipients (C5)


def test_outsider_gets_404_everywhere(
    outsider_client: Client, tenant: Tenant, data: dict
) -> None:
    for url in urls(tenant, data["subscriber"], data["group"], data["campaign"]):
        assert outsider_client.get(url).status_code == 404, url
    unsubscribe = reverse("audience_data:subscriber_unsubscribe",
                          kwargs={"tenant": tenant.slug, "pk": data["subscriber"].pk})
    assert outsider_client.post(unsubscribe).status_code == 404


def test_another_tenants_ids_are_not_found(
    owner_client: Client, tenant: Tenant, other_tenant: Tenant, owner: object
) -> None:
    sub = svc.create_subscriber(other_tenant, {"email": "secret@globex.example"})
    group = create_group(other_tenant, "Theirs")
    campaign = create_campaign(other_tenant, "Theirs")
    # The tenant's own slug, another tenant's object ids.
    all_urls = urls(tenant, sub, group, campaign)
    for url in [all_urls[i] for i in (1, 4, 5, 7)]:  # the pages that name an object
        assert owner_client.get(url).status_code == 404, url
    for name, kwargs in [
        ("audience_data:subscriber_unsubscribe", {"pk": sub.pk}),
        ("audience_data:group_import", {"pk": group.pk}),
        ("audience_data:group_remove_member", {"pk": group.pk, "subscriber": sub.pk}),
    ]:
        response = owner_client.post(reverse(name, kwargs={"tenant": tenant.slug, **kwargs}))
        assert response.status_code == 404, name
    sub.refresh_from_db()
    assert sub.status == "active"


def test_member_reads_but_cannot_change(
    member_client: Client, tenant: Tenant, data: dict
) -> None:
    t = tenant.slug
    sub, group = data["subscriber"], data["group"]
    assert member_client.post(reverse("audience_data:subscriber_unsubscribe",
                                      kwargs={"tenant": t, "pk": sub.pk})).status_code == 403
    assert member_client.post(reverse("audience_data:group", kwargs={"tenant": t, "pk": group.pk}),
                              {"future_owner": "a@b.example", "entity_type": "contact",
                               "mode": "both"}).status_code == 403
    assert member_client.post(reverse("audience_data:groups", kwargs={"tenant": t}),
                              {"name": "Mine"}).status_code == 403
    assert member_client.get(reverse("audience_data:group_import",
                                     kwargs={"tenant": t, "pk": group.pk})).status_code == 403
    assert member_client.post(reverse("audience_data:group_remove_member", kwargs={
        "tenant": t, "pk": group.pk, "subscriber": sub.pk})).status_code == 403
    sub.refresh_from_db()
    assert sub.status == "active" and sub.memberships.count() == 1
    assert not GroupSyncSetting.objects.exists()
    assert not SubscriberGroup.objects.filter(name="Mine").exists()
    page = member_client.get(reverse("audience_data:group", kwargs={"tenant": t, "pk": group.pk}))
    assert b"Save CRM sync setting" not in page.content


def test_owner_changes_things(owner_client: Client, tenant: Tenant, other_tenant: Tenant,
                              data: dict) -> None:
    t = tenant.slug
    sub, group = data["subscriber"], data["group"]
    foreign = BusinessUnit.objects.create(tenant=other_tenant, name="Theirs",
                                          owner_id=uuid.uuid4(), owner_name="X")
    url = reverse("audience_data:group", kwargs={"tenant": t, "pk": group.pk})
    form = {"enabled": "on", "future_owner": "anna@contoso.com", "entity_type": "lead",
            "mode": "link"}
    response = owner_client.post(url, {**form, "business_unit": foreign.pk})
    assert response.status_code == 200 and not GroupSyncSetting.objects.exists()
    assert owner_client.post(url, form).status_code == 302
    assert GroupSyncSetting.objects.get(group=group).entity_type == "lead"

    owner_client.post(reverse("audience_data:subscriber_unsubscribe",
                              kwargs={"tenant": t, "pk": sub.pk}))
    sub.refresh_from_db()
    assert sub.status == "unsubscribed" and sub.status_changed_at is not None
    owner_client.post(reverse("audience_data:group_remove_member",
                              kwargs={"tenant": t, "pk": group.pk, "subscriber": sub.pk}))
    assert sub.memberships.count() == 0


def test_subscriber_list_query_count_does_not_grow_with_page_size(
    owner_client: Client, tenant: Tenant, django_assert_max_num_queries: object
) -> None:
    group = create_group(tenant, "All")
    results = svc.bulk_upsert(tenant, [
        {"email": f"p{i}@example.com", "first_name": f"P{i}", "last_name": "Muster"}
        for i in range(60)], group=group)
    assert len(results) == 60
    url = reverse("audience_data:subscribers", kwargs={"tenant": tenant.slug})
    counts = []
    for size in (5, 50):
        with CaptureQueriesContext(connection) as ctx:
            response = owner_client.get(url, {"size": size, "group": group.pk, "q": "muster"})
        assert response.content.count(b"Muster") == size
        counts.append(len(ctx.captured_queries))
    assert counts[0] == counts[1]
    with django_assert_max_num_queries(counts[0]):  # type: ignore[operator]
        owner_client.get(url, {"size": 200})
    group_url = reverse("audience_data:group", kwargs={"tenant": tenant.slug, "pk": group.pk})
    with CaptureQueriesContext(connection) as small:
        owner_client.get(group_url, {"size": 5})
    with CaptureQueriesContext(connection) as large:
        owner_client.get(group_url, {"size": 50})
    assert len(small.captured_queries) == len(large.captured_queries)


def test_keyset_pages_cover_everyone_once(owner_client: Client, tenant: Tenant) -> None:
    svc.bulk_upsert(tenant, [{"email": f"k{i}@example.com"} for i in range(7)])
    url = reverse("audience_data:subscribers", kwargs={"tenant": tenant.slug})
    seen: list[int] = []
    params: dict[str, object] = {"size": 3}
    while True:
        response = owner_client.get(url, params)
        seen += [s.pk for s, _name in response.context["rows"]]
        if not response.context["next_cursor"]:
            break
        params["before"] = response.context["next_cursor"]
    assert sorted(seen) == sorted(Subscriber.objects.values_list("pk", flat=True))
    assert len(seen) == 7
