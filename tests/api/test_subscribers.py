"""Subscribers over the API: CRUD, search, bulk upsert with per-item results (S9)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audience.groups import create_group
from audience.models import GroupMembership, Subscriber, SubscriberValue
from audience.subscribers import create_subscriber
from tenants.models import Tenant

pytestmark = pytest.mark.django_db
BASE = "/api/v1/tenants/acme/subscribers/"


def test_create_stores_values(owner_api: APIClient, tenant: Tenant) -> None:
    response = owner_api.post(BASE, {"values": {"email": "Anna@Example.com", "first_name":
                                                "Anna", "birthday": "1990-02-03"}},
                              format="json")
    assert response.status_code == 201, response.content
    sub = Subscriber.objects.get(tenant=tenant)
    assert (sub.email_normalised, sub.language) == ("anna@example.com", "de")
    assert response.json()["values"] == {"email": "Anna@Example.com", "first_name": "Anna",
                                         "birthday": "1990-02-03"}


@pytest.mark.parametrize(("values", "message"), [
    ({"email": "not-an-address"}, "is not a valid email address"),
    ({"first_name": "Anna"}, "The email address is missing"),
    ({"email": "a@example.com", "shoe_size": "42"}, "Unknown field(s): shoe_size"),
    ({"email": "a@example.com", "birthday": "soon"}, "is not a valid Date"),
])
def test_create_refuses_bad_values(owner_api: APIClient, tenant: Tenant, values: dict,
                                   message: str) -> None:
    response = owner_api.post(BASE, {"values": values}, format="json")
    assert response.status_code == 400
    assert message in response.json()["values"][0]
    assert not Subscriber.objects.exists()


def test_create_needs_values(owner_api: APIClient, tenant: Tenant) -> None:
    response = owner_api.post(BASE, {"status": "nonsense"}, format="json")
    assert response.status_code == 400
    assert set(response.json()) == {"values", "status"}


def test_list_search_filter_and_pagination(owner_api: APIClient, tenant: Tenant,
                                           other_tenant: Tenant) -> None:
    group = create_group(tenant, "VIP")
    for i in range(5):
        sub = create_subscriber(tenant, {"email": f"user{i}@example.com"})
        if i % 2:
            GroupMembership.objects.create(group=group, subscriber=sub)
    create_subscriber(other_tenant, {"email": "user1@example.com"})
    page = owner_api.get(BASE, {"page_size": 2}).json()
    assert page["count"] == 5 and len(page["results"]) == 2 and page["next"]
    found = owner_api.get(BASE, {"search": "USER3"}).json()["results"]
    assert [s["email"] for s in found] == ["user3@example.com"]
    members = owner_api.get(BASE, {"group": group.pk}).json()["results"]
    assert {s["email"] for s in members} == {"user1@example.com", "user3@example.com"}
    assert owner_api.get(BASE, {"status": "bounced"}).json()["count"] == 0


def test_update_values_and_status(owner_api: APIClient, tenant: Tenant) -> None:
    sub = create_subscriber(tenant, {"email": "anna@example.com", "first_name": "Anna"})
    response = owner_api.patch(f"{BASE}{sub.pk}/", {"values": {"first_name": "Bea"},
                                                    "status": "unsubscribed"}, format="json")
    assert response.status_code == 200, response.content
    sub.refresh_from_db()
    assert sub.status == "unsubscribed"
    assert SubscriberValue.objects.get(subscriber=sub, field__key="first_name").value == "Bea"
    bad = owner_api.patch(f"{BASE}{sub.pk}/", {"values": {"email": ""}}, format="json")
    assert bad.status_code == 400 and "values" in bad.json()


def test_delete(owner_api: APIClient, tenant: Tenant) -> None:
    sub = create_subscriber(tenant, {"email": "anna@example.com"})
    assert owner_api.delete(f"{BASE}{sub.pk}/").status_code == 204
    assert not Subscriber.objects.exists()


def test_other_tenants_subscriber_is_404(owner_api: APIClient, other_tenant: Tenant) -> None:
    sub = create_subscriber(other_tenant, {"email": "anna@example.com"})
    assert owner_api.get(f"{BASE}{sub.pk}/").status_code == 404
    assert owner_api.delete(f"{BASE}{sub.pk}/").status_code == 404
    assert Subscriber.objects.filter(pk=sub.pk).exists()


def test_bulk_upsert_reports_every_item(owner_api: APIClient, tenant: Tenant) -> None:
    create_subscriber(tenant, {"email": "same@example.com", "first_name": "Same"})
    create_subscriber(tenant, {"email": "change@example.com", "first_name": "Old"})
    create_subscriber(tenant, {"email": "twice@example.com"})
    create_subscriber(tenant, {"email": "TWICE@example.com"})
    group = create_group(tenant, "Import")
    items = [
        {"email": "new@example.com", "first_name": "New"},
        {"email": "same@example.com", "first_name": "Same"},
        {"email": "change@example.com", "first_name": "New name"},
        {"email": "twice@example.com", "first_name": "Who?"},
        {"email": "broken@example.com", "birthday": "31.02.1990"},
        {"email": "new@example.com"},
    ]
    response = owner_api.post(f"{BASE}bulk-upsert/", {"items": items, "group": group.pk},
                              format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["outcome"] for r in body["results"]] == [
        "created", "unchanged", "updated", "ambiguous", "invalid", "invalid"]
    assert body["counts"] == {"created": 1, "unchanged": 1, "updated": 1, "ambiguous": 1,
                              "invalid": 2}
    assert "2 subscribers have the address twice@example.com" in body["results"][3]["message"]
    assert "appears more than once" in body["results"][5]["message"]
    assert body["results"][2]["changed"] == ["first_name"]
    # The invalid item was not half-applied; the ambiguous one changed nobody.
    assert not Subscriber.objects.filter(email_normalised="broken@example.com").exists()
    assert not SubscriberValue.objects.filter(value="Who?").exists()
    assert set(GroupMembership.objects.filter(group=group).values_list(
        "subscriber__email", flat=True)) == {"new@example.com", "same@example.com",
                                             "change@example.com"}


def test_bulk_upsert_dry_run_writes_nothing(owner_api: APIClient, tenant: Tenant) -> None:
    response = owner_api.post(f"{BASE}bulk-upsert/", {"items": [{"email": "a@example.com"}],
                                                      "dry_run": True}, format="json")
    assert response.json()["counts"] == {"created": 1}
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(("body", "field"), [
    ({}, "items"),
    ({"items": []}, "items"),
    ({"items": "nope"}, "items"),
    ({"items": [{"email": "a@example.com"}], "group": 999999}, "group"),
])
def test_bulk_upsert_bad_request(owner_api: APIClient, tenant: Tenant, body: dict,
                                 field: str) -> None:
    response = owner_api.post(f"{BASE}bulk-upsert/", body, format="json")
    assert response.status_code == 400
    assert field in response.json()


def test_bulk_upsert_is_bounded(owner_api: APIClient, tenant: Tenant) -> None:
    items = [{"email": f"u{i}@example.com"} for i in range(10_001)]
    response = owner_api.post(f"{BASE}bulk-upsert/", {"items": items}, format="json")
    assert response.status_code == 413
    assert "at most 10000 items" in response.json()["detail"]
    assert not Subscriber.objects.exists()


@pytest.mark.parametrize(("email", "message"), [
    ("anna@example.org\u200b", "invisible or control character (U+200B)"),
    ("\u200banna@example.org", "invisible or control character (U+200B)"),
    ("an\u0007na@example.org", "invisible or control character (U+0007)"),
    ("a" * 65 + "@example.org", "at most 64 characters before the @ and 254 in all"),
    ("b@" + ".".join(["d" * 60] * 5) + ".de", "at most 64 characters before the @ and 254"),
])
def test_addresses_with_hidden_characters_or_too_long_are_refused(
        owner_api: APIClient, tenant: Tenant, email: str, message: str) -> None:
    response = owner_api.post(BASE, {"values": {"email": email}}, format="json")
    assert response.status_code == 400
    assert message in str(response.json())
    assert not Subscriber.objects.filter(tenant=tenant).exists()


def test_an_internationalised_domain_is_one_address_however_it_is_written(
        owner_api: APIClient, tenant: Tenant) -> None:
    first = owner_api.post(f"{BASE}bulk-upsert/", {"items": [
        {"email": "anna@xn--bcher-kva.example", "first_name": "Anna"}]}, format="json")
    assert first.status_code == 200, first.content
    again = owner_api.post(f"{BASE}bulk-upsert/", {"items": [
        {"email": "Anna@BÜCHER.example", "last_name": "Buch"}]}, format="json")
    assert again.status_code == 200, again.content
    sub = Subscriber.objects.get(tenant=tenant)
    assert sub.email_normalised == "anna@bücher.example"
    assert sub.email == "anna@bücher.example"  # stored the one way, as first written
