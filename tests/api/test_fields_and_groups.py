"""Subscriber fields (+ options), groups, membership and group CRM sync settings (S5)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audience.groups import create_group
from audience.models import (
    GroupMembership,
    GroupSyncSetting,
    SubscriberField,
    SubscriberFieldOption,
    SubscriberGroup,
)
from audience.subscribers import create_subscriber
from businessunits.models import BusinessUnit
from tenants.models import Tenant
from tests.mapping_fixtures import make_unit, save_settings

pytestmark = pytest.mark.django_db
T = "/api/v1/tenants/acme/"


def test_fields_list_includes_standard_fields(owner_api: APIClient, tenant: Tenant) -> None:
    keys = [f["key"] for f in owner_api.get(f"{T}subscriber-fields/").json()["results"]]
    assert {"email", "first_name", "language"} <= set(keys)


def test_field_create_update_delete(owner_api: APIClient, tenant: Tenant) -> None:
    response = owner_api.post(f"{T}subscriber-fields/", {
        "key": "hobby", "label_en": "Hobby", "label_de": "Hobby",
        "field_type": "single_select"}, format="json")
    assert response.status_code == 201, response.content
    field = SubscriberField.objects.get(tenant=tenant, key="hobby")
    url = f"{T}subscriber-fields/{field.pk}/"
    assert owner_api.patch(url, {"label_de": "Freizeit"}, format="json").status_code == 200
    field.refresh_from_db()
    assert (field.label_en, field.label_de) == ("Hobby", "Freizeit")
    assert owner_api.delete(url).status_code == 204
    assert not SubscriberField.objects.filter(key="hobby").exists()


@pytest.mark.parametrize(("body", "field"), [
    ({"key": "email", "label_en": "E", "label_de": "E", "field_type": "text"}, "key"),
    ({"key": "Not a slug!", "label_en": "E", "label_de": "E", "field_type": "text"}, "key"),
    ({"key": "x", "label_en": "E", "label_de": "E", "field_type": "colour"}, "field_type"),
    ({"key": "x", "field_type": "text"}, "label_en"),
])
def test_field_create_refused(owner_api: APIClient, tenant: Tenant, body: dict,
                              field: str) -> None:
    owner_api.get(f"{T}subscriber-fields/")  # standard fields exist
    response = owner_api.post(f"{T}subscriber-fields/", body, format="json")
    assert response.status_code == 400 and field in response.json()


def test_standard_field_cannot_be_deleted(owner_api: APIClient, tenant: Tenant) -> None:
    owner_api.get(f"{T}subscriber-fields/")
    email = SubscriberField.objects.get(tenant=tenant, key="email")
    response = owner_api.delete(f"{T}subscriber-fields/{email.pk}/")
    assert response.status_code == 400
    assert "standard field" in response.json()["non_field_errors"][0]


def test_options_add_rename_remove(owner_api: APIClient, tenant: Tenant) -> None:
    field = SubscriberField.objects.create(tenant=tenant, key="hobby", label_en="Hobby",
                                           label_de="Hobby", field_type="single_select")
    url = f"{T}subscriber-fields/{field.pk}/options/"
    created = owner_api.post(url, {"value": "chess", "label_en": "Chess", "label_de":
                                   "Schach"}, format="json")
    assert created.status_code == 201, created.content
    again = owner_api.post(url, {"value": "chess", "label_en": "C", "label_de": "S"},
                           format="json")
    assert again.status_code == 400 and "already exists" in again.json()["value"][0]
    assert [o["value"] for o in owner_api.get(url).json()] == ["chess"]
    assert owner_api.patch(f"{url}chess/", {"label_en": "Chess game"},
                           format="json").status_code == 200
    assert SubscriberFieldOption.objects.get(value="chess").label_en == "Chess game"
    assert owner_api.delete(f"{url}chess/").status_code == 204
    assert not SubscriberFieldOption.objects.filter(value="chess").exists()


def test_options_only_for_select_fields(owner_api: APIClient, tenant: Tenant) -> None:
    field = SubscriberField.objects.create(tenant=tenant, key="nick", label_en="Nick",
                                           label_de="Nick", field_type="text")
    response = owner_api.post(f"{T}subscriber-fields/{field.pk}/options/", {
        "value": "a", "label_en": "A", "label_de": "A"}, format="json")
    assert response.status_code == 400 and "Only single- and multi-select" in str(
        response.json())


def test_group_create_rename_delete(owner_api: APIClient, tenant: Tenant) -> None:
    response = owner_api.post(f"{T}groups/", {"name": "VIP", "description": "best"},
                              format="json")
    assert response.status_code == 201, response.content
    group = SubscriberGroup.objects.get(tenant=tenant)
    assert response.json()["member_count"] == 0
    dup = owner_api.post(f"{T}groups/", {"name": "VIP"}, format="json")
    assert dup.status_code == 400 and "exists already" in dup.json()["name"][0]
    assert owner_api.post(f"{T}groups/", {}, format="json").json().keys() == {"name"}
    create_group(tenant, "Other")
    clash = owner_api.patch(f"{T}groups/{group.pk}/", {"name": "Other"}, format="json")
    assert clash.status_code == 400 and "name" in clash.json()
    assert owner_api.patch(f"{T}groups/{group.pk}/", {"name": "VIPs"},
                           format="json").status_code == 200
    assert SubscriberGroup.objects.filter(name="VIPs").exists()
    assert owner_api.delete(f"{T}groups/{group.pk}/").status_code == 204
    assert not SubscriberGroup.objects.filter(name="VIPs").exists()


def test_members_add_list_remove(owner_api: APIClient, tenant: Tenant,
                                 other_tenant: Tenant) -> None:
    group = create_group(tenant, "VIP")
    anna = create_subscriber(tenant, {"email": "anna@example.com"})
    foreign = create_subscriber(other_tenant, {"email": "x@example.com"})
    url = f"{T}groups/{group.pk}/members/"
    response = owner_api.post(url, {"subscriber_ids": [anna.pk, foreign.pk]}, format="json")
    assert response.json() == {"added": 1, "unknown": [foreign.pk]}
    assert owner_api.post(url, {"subscriber_ids": [anna.pk]}, format="json").json()[
        "added"] == 0
    assert [s["email"] for s in owner_api.get(url).json()["results"]] == ["anna@example.com"]
    assert owner_api.post(url, {"subscriber_ids": []}, format="json").status_code == 400
    assert owner_api.delete(f"{url}{anna.pk}/").status_code == 204
    assert not GroupMembership.objects.exists()
    assert owner_api.delete(f"{url}{anna.pk}/").status_code == 404
    assert owner_api.delete(f"{url}{foreign.pk}/").status_code == 404


def test_sync_setting_put_get_delete(owner_api: APIClient, tenant: Tenant) -> None:
    save_settings(tenant)  # Online: the owner is an email address
    unit = make_unit(tenant)
    group = create_group(tenant, "VIP")
    url = f"{T}groups/{group.pk}/sync-setting/"
    assert owner_api.get(url).status_code == 404
    response = owner_api.put(url, {"future_owner": "anna@contoso.com", "entity_type": "lead",
                                   "mode": "link", "business_unit": unit.pk}, format="json")
    assert response.status_code == 200, response.content
    setting = GroupSyncSetting.objects.get(group=group)
    assert (setting.future_owner, setting.entity_type, setting.mode,
            setting.business_unit_id) == ("anna@contoso.com", "lead", "link", unit.pk)
    assert owner_api.get(url).json()["mode"] == "link"
    assert owner_api.delete(url).status_code == 204
    assert not GroupSyncSetting.objects.exists()


def test_sync_setting_validation(owner_api: APIClient, tenant: Tenant,
                                 other_tenant: Tenant) -> None:
    save_settings(tenant)
    foreign_unit = make_unit(other_tenant, name="Theirs")
    group = create_group(tenant, "VIP")
    url = f"{T}groups/{group.pk}/sync-setting/"
    owner = owner_api.put(url, {"future_owner": "CONTOSO\\anna"}, format="json")
    assert owner.status_code == 400 and "CRM is Online" in owner.json()["future_owner"][0]
    unit = owner_api.put(url, {"business_unit": foreign_unit.pk}, format="json")
    assert unit.status_code == 400 and "business_unit" in unit.json()
    mode = owner_api.put(url, {"mode": "sometimes", "entity_type": "pet"}, format="json")
    assert mode.status_code == 400 and set(mode.json()) == {"mode", "entity_type"}
    assert not GroupSyncSetting.objects.exists()
    assert BusinessUnit.objects.count() == 1
