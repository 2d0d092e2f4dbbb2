"""Subscribers' CRM links in the API (#19): each subscriber shows its CRM records (table,
id, state, the Dynamics address, when last synced); the list filters by linked / not
linked / table; a merged-away subscriber answers 410 with where it went."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from audience.merge import merge_subscribers
from audience.models import Subscriber
from audience.subscribers import create_subscriber
from syncjobs.models import RecordLink
from tenants.models import Tenant
from tests.mapping_fixtures import save_settings

pytestmark = pytest.mark.django_db

URL = "/api/v1/tenants/acme/subscribers/"


def link(subscriber: Subscriber, table: str = "contact", state: str = "active") -> RecordLink:
    return RecordLink.objects.create(tenant=subscriber.tenant, subscriber=subscriber,
                                     entity_type=table, crm_id=uuid.uuid4(), state=state)


@pytest.fixture
def people(tenant: Tenant) -> dict[str, Subscriber]:
    save_settings(tenant)
    made = {name: create_subscriber(tenant, {"email": f"{name}@example.com"})
            for name in ("anna", "ben", "cleo", "dora")}
    link(made["anna"], "contact")
    link(made["ben"], "lead")
    link(made["cleo"], "contact", state="unlinked")  # history only: not linked
    return made


def emails(answer: dict[str, object]) -> set[str]:
    return {row["email"] for row in answer["results"]}  # type: ignore[index, attr-defined]


def test_links_in_the_representation(people: dict[str, Subscriber],
                                     member_api: APIClient) -> None:
    anna = people["anna"]
    crm_link = RecordLink.objects.get(subscriber=anna)
    body = member_api.get(f"{URL}{anna.pk}/").json()
    [shown] = body["crm_links"]
    assert shown["table"] == "contact" and shown["table_label"] == "Contact"
    assert shown["record_id"] == str(crm_link.crm_id) and shown["state"] == "active"
    assert shown["record_url"] == (
        "https://contoso.crm4.dynamics.com/main.aspx?etn=contact"
        f"&id={crm_link.crm_id}&pagetype=entityrecord")
    assert shown["last_synced_at"] and shown["origin"] == "mailworx_group"
    assert member_api.get(f"{URL}{people['dora'].pk}/").json()["crm_links"] == []
    listed = member_api.get(URL, {"email": "anna@example.com"}).json()["results"][0]
    assert listed["crm_links"][0]["record_url"] == shown["record_url"]


def test_filters_linked_not_linked_and_table(people: dict[str, Subscriber],
                                             member_api: APIClient) -> None:
    assert emails(member_api.get(URL, {"linked": "true"}).json()) == {
        "anna@example.com", "ben@example.com"}
    assert emails(member_api.get(URL, {"linked": "false"}).json()) == {
        "cleo@example.com", "dora@example.com"}
    assert emails(member_api.get(URL, {"table": "lead"}).json()) == {"ben@example.com"}
    assert emails(member_api.get(URL, {"linked": "true", "table": "contact"}).json()) == {
        "anna@example.com"}


def test_a_merged_subscriber_says_where_it_went(people: dict[str, Subscriber],
                                                owner_api: APIClient) -> None:
    source, survivor = people["dora"], people["anna"]
    merge_subscribers(source, survivor)
    for method in ("get", "patch", "put", "delete"):
        answer = getattr(owner_api, method)(f"{URL}{source.pk}/", {}, format="json")
        assert answer.status_code == 410, (method, answer.content)
        body = answer.json()
        assert body["merged_into"] == survivor.pk
        assert body["merged_into_url"] == f"{URL}{survivor.pk}/"
    assert Subscriber.objects.filter(pk=source.pk).exists()  # the DELETE changed nothing
    assert owner_api.get(f"{URL}{survivor.pk}/").status_code == 200
    assert owner_api.get(f"{URL}999999/").status_code == 404


def test_outsiders_find_neither_links_nor_tombstones(
        people: dict[str, Subscriber], outsider_api: APIClient) -> None:
    merge_subscribers(people["dora"], people["anna"])
    assert outsider_api.get(URL, {"linked": "true"}).status_code == 404
    assert outsider_api.get(f"{URL}{people['dora'].pk}/").status_code == 404
    assert outsider_api.get(f"{URL}{people['anna'].pk}/").status_code == 404
