"""Organisation settings over the API: the form's rules (C2-C5), secrets write-only (N4)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from orgsettings.models import OrgSettings
from tenants.models import Membership, Role, Tenant

pytestmark = pytest.mark.django_db
URL = "/api/v1/tenants/acme/org-settings/"
SECRET = "s3cr3t-value-never-echoed"
ONLINE = {"crm_url": "https://contoso.crm4.dynamics.com/", "deployment": "online",
          "directory_tenant_id": "contoso.onmicrosoft.com",
          "client_id": "9b1f5a44-2c1d-4c3f-9a55-0f1d2e3c4b5a", "client_secret": SECRET,
          "reaction_mode": "relative"}


def put(client: APIClient, body: dict[str, Any], url: str = URL) -> Any:
    return client.put(url, body, format="json")


def test_first_save_and_read_back(owner_api: APIClient, tenant: Tenant) -> None:
    assert owner_api.get(URL).status_code == 404
    response = put(owner_api, ONLINE)
    assert response.status_code == 200, response.content
    org = OrgSettings.objects.get(tenant=tenant)
    assert (org.crm_url, org.organisation_name, org.client_secret, org.reaction_mode) == (
        "https://contoso.crm4.dynamics.com", "contoso", SECRET, "relative")
    assert org.export_opens and org.bidirectional_sync and not org.reactivate_deactivated
    assert org.updated_by.email == "owner@acme.example"
    for body in (response.content, owner_api.get(URL).content):
        assert SECRET.encode() not in body
    data = owner_api.get(URL).json()
    assert data["client_secret_set"] is True and data["onprem_password_set"] is False
    assert "client_secret" not in data and "onprem_password" not in data


def test_absent_fields_and_blank_secret_keep_stored_values(owner_api: APIClient,
                                                           tenant: Tenant) -> None:
    put(owner_api, {**ONLINE, "sync_interval_minutes": 30})
    response = put(owner_api, {"export_clicks": False, "client_secret": ""})
    assert response.status_code == 200, response.content
    org = OrgSettings.objects.get(tenant=tenant)
    assert (org.client_secret, org.sync_interval_minutes, org.export_clicks) == (
        SECRET, 30, False)


@pytest.mark.parametrize(("change", "field", "message"), [
    ({"reaction_mode": None}, "reaction_mode", "Choose whether reaction figures"),
    ({"crm_url": "https://crm4.dynamics.com/a/b"}, "crm_url", ""),
    ({"crm_url": "ftp://contoso.example.com/org"}, "crm_url", ""),
    ({"deployment": "on_premise"}, "onprem_username", "Required for this deployment"),
    ({"deployment": "cloud"}, "deployment", ""),
    ({"sync_interval_minutes": 1}, "sync_interval_minutes", ""),
    ({"authority_url": "http://login.example.com"}, "authority_url", "https://"),
    ({"ca_bundle": "not a certificate"}, "ca_bundle", "PEM"),
    ({"deployment": "on_premise", "onprem_username": "anna"}, "onprem_username", "DOMAIN"),
])
def test_validation_like_the_form(owner_api: APIClient, tenant: Tenant, change: dict,
                                  field: str, message: str) -> None:
    body = {k: v for k, v in {**ONLINE, **change}.items() if v is not None}
    response = put(owner_api, body)
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()[field])
    assert not OrgSettings.objects.exists()


def test_first_save_without_secret_fails_naming_the_tenant(owner_api: APIClient,
                                                           tenant: Tenant) -> None:
    response = put(owner_api, {**ONLINE, "client_secret": ""})
    assert response.status_code == 400
    assert "Acme Newsletter has no client secret" in response.json()["non_field_errors"][0]


def test_apply_to_several_tenants_all_or_none(owner_api: APIClient, owner: AbstractUser,
                                              tenant: Tenant, other_tenant: Tenant) -> None:
    Membership.objects.create(user=owner, tenant=other_tenant, role=Role.ADMINISTRATOR)
    put(owner_api, ONLINE)
    # globex has no secret yet and none is given: nothing is saved anywhere.
    response = put(owner_api, {**ONLINE, "client_secret": "", "sync_paused": True,
                               "tenants": ["acme", "globex"]})
    assert response.status_code == 400
    assert "Globex Mailings" in response.json()["non_field_errors"][0]
    assert not OrgSettings.objects.get(tenant=tenant).sync_paused
    response = put(owner_api, {**ONLINE, "tenants": ["acme", "globex"]})
    assert response.status_code == 200
    assert [o.client_secret for o in OrgSettings.objects.all()] == [SECRET, SECRET]


def test_apply_only_to_administered_tenants(owner_api: APIClient, tenant: Tenant,
                                            other_tenant: Tenant) -> None:
    response = put(owner_api, {**ONLINE, "tenants": ["acme", "globex"]})
    assert response.status_code == 400 and "globex" in response.json()["tenants"][0]
    assert not OrgSettings.objects.exists()
