"""Editing a subscriber (#20): an issue says "correct the subscriber's value", and the page
lets an administrator do it. Values are checked by the field types, a changed address
follows the consent rules (N6, N7), nothing is half-saved; owner / member / outsider."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audience.models import (
    FieldType,
    Subscriber,
    SubscriberField,
    SubscriberFieldOption,
    SuppressionReason,
)
from audience.services import ensure_standard_fields
from audience.subscribers import create_subscriber, current_values, unsubscribe
from audience.suppression import suppress, suppression_of
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture
def sub(tenant: Tenant) -> Subscriber:
    ensure_standard_fields(tenant)
    SubscriberField.objects.create(tenant=tenant, key="score", label_en="Score",
                                   label_de="Punkte", field_type=FieldType.NUMBER, position=10)
    SubscriberField.objects.create(tenant=tenant, key="vip", label_en="VIP", label_de="VIP",
                                   field_type=FieldType.BOOLEAN, position=11)
    topics = SubscriberField.objects.create(tenant=tenant, key="topics", label_en="Topics",
                                            label_de="Themen", position=12,
                                            field_type=FieldType.MULTI_SELECT)
    for value in ("news", "events"):
        SubscriberFieldOption.objects.create(field=topics, value=value, label_en=value,
                                             label_de=value)
    return create_subscriber(tenant, {"email": "anna@example.com", "first_name": "X" * 80,
                                      "score": "1"})


def edit_url(tenant: Tenant, sub: Subscriber) -> str:
    return reverse("audience_data:subscriber_edit", kwargs={"tenant": tenant.slug, "pk": sub.pk})


def form_data(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"email": "anna@example.com", "first_name": "Anna",
                            "last_name": "", "company": "", "language": "", "birthday": "",
                            "score": "1", "vip": "", "topics": []}
    data.update(changes)
    return data


def values(sub: Subscriber) -> dict[str, str]:
    return current_values([sub.pk])[sub.pk]


def test_the_form_shows_the_current_values(owner_client: Client, tenant: Tenant,
                                           sub: Subscriber) -> None:
    html = owner_client.get(edit_url(tenant, sub)).content.decode()
    assert 'name="first_name"' in html and "X" * 80 in html
    assert 'name="birthday"' in html and 'type="date"' in html
    assert 'name="topics"' in html and 'value="events"' in html


def test_an_administrator_corrects_values_of_every_type(
        owner_client: Client, tenant: Tenant, sub: Subscriber) -> None:
    response = owner_client.post(edit_url(tenant, sub), form_data(
        score="12,50", vip="true", birthday="1990-04-01", topics=["events", "news"],
        language="de"))
    assert response.status_code == 302
    got = values(sub)
    assert got["first_name"] == "Anna" and got["score"] == "12.50" and got["vip"] == "true"
    assert got["birthday"] == "1990-04-01" and got["topics"] == "events,news"
    assert got["language"] == "de"
    page = owner_client.get(response["Location"]).content.decode()
    assert "The subscriber was saved" in page


def test_bad_input_is_explained_and_nothing_is_saved(
        owner_client: Client, tenant: Tenant, sub: Subscriber) -> None:
    response = owner_client.post(edit_url(tenant, sub), form_data(
        email="new@example.com", score="a dozen", birthday="1990-13-40"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "“a dozen” is not a valid Number for field score." in html
    assert "is not a valid Date only for field birthday." in html
    sub.refresh_from_db()
    assert sub.email == "anna@example.com"
    assert values(sub)["first_name"] == "X" * 80 and values(sub)["score"] == "1"


def test_errors_come_in_the_admins_language(owner_client: Client, tenant: Tenant,
                                            sub: Subscriber) -> None:
    html = owner_client.post(edit_url(tenant, sub), form_data(score="a dozen"),
                             HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "„a dozen“ ist kein gültiger Wert vom Typ Zahl für das Feld score." in html
    assert values(sub)["score"] == "1"


def test_an_email_is_required(owner_client: Client, tenant: Tenant, sub: Subscriber) -> None:
    response = owner_client.post(edit_url(tenant, sub), form_data(email=""))
    assert response.status_code == 200 and 'class="errorlist' in response.content.decode()


def test_a_new_address_keeps_the_permission_and_supersedes_the_old(
        owner_client: Client, tenant: Tenant, sub: Subscriber) -> None:
    response = owner_client.post(edit_url(tenant, sub), form_data(email="anna@new.example"))
    assert response.status_code == 302
    sub.refresh_from_db()
    assert sub.email == "anna@new.example"
    old = suppression_of(tenant, "anna@example.com")
    assert old is not None and old.reason == SuppressionReason.SUPERSEDED


def test_an_address_someone_opted_out_with_is_refused(
        owner_client: Client, tenant: Tenant, sub: Subscriber) -> None:
    suppress(tenant, "gone@example.com", SuppressionReason.OPTED_OUT)
    response = owner_client.post(edit_url(tenant, sub), form_data(email="gone@example.com"))
    assert response.status_code == 200
    assert "gone@example.com opted out and is on the suppression list" in (
        response.content.decode())
    sub.refresh_from_db()
    assert sub.email == "anna@example.com" and values(sub)["first_name"] == "X" * 80


def test_an_unsubscribed_subscriber_may_take_a_suppressed_address(
        owner_client: Client, tenant: Tenant, sub: Subscriber) -> None:
    unsubscribe(sub)
    suppress(tenant, "gone@example.com", SuppressionReason.OPTED_OUT)
    response = owner_client.post(edit_url(tenant, sub), form_data(email="gone@example.com"))
    assert response.status_code == 302  # it stays out either way: no mail is sent to it


def test_members_may_not_edit(member_client: Client, tenant: Tenant, sub: Subscriber) -> None:
    assert member_client.get(edit_url(tenant, sub)).status_code == 403
    assert member_client.post(edit_url(tenant, sub), form_data()).status_code == 403
    assert values(sub)["first_name"] == "X" * 80
    detail = reverse("audience_data:subscriber", kwargs={"tenant": tenant.slug, "pk": sub.pk})
    assert "edit-subscriber" not in member_client.get(detail).content.decode()


def test_outsiders_get_404(outsider_client: Client, tenant: Tenant, sub: Subscriber) -> None:
    assert outsider_client.get(edit_url(tenant, sub)).status_code == 404
    assert outsider_client.post(edit_url(tenant, sub), form_data()).status_code == 404
    assert values(sub)["first_name"] == "X" * 80


def test_a_merged_subscriber_cannot_be_edited(owner_client: Client, tenant: Tenant,
                                              sub: Subscriber) -> None:
    survivor = create_subscriber(tenant, {"email": "anna@example.com"})
    Subscriber.objects.filter(pk=sub.pk).update(merged_into=survivor)
    assert owner_client.post(edit_url(tenant, sub), form_data()).status_code == 404
