"""SPEC N8 over the API: the same refusals as the settings page, for the CRM URL and the
sign-in authority, with a token client."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from orgsettings.models import OrgSettings
from tenants.models import Membership, Role, Tenant
from tests.outbound_fixtures import PUBLIC_ADDRESS, REFUSED_HOSTS, FakeDNS

pytestmark = pytest.mark.django_db
URL = "/api/v1/tenants/acme/org-settings/"
ONLINE = {"crm_url": "https://crm.public.example/contoso", "deployment": "online",
          "directory_tenant_id": "contoso.onmicrosoft.com",
          "client_id": "9b1f5a44-2c1d-4c3f-9a55-0f1d2e3c4b5a", "client_secret": "s3cr3t",
          "reaction_mode": "relative"}


@pytest.fixture
def dns(fake_dns: FakeDNS, settings: Any) -> FakeDNS:
    settings.CRM_ALLOWED_NETWORKS = []
    fake_dns.set("login.microsoftonline.com", [PUBLIC_ADDRESS])
    fake_dns.set("crm.public.example", [PUBLIC_ADDRESS])
    return fake_dns


def put(client: APIClient, **change: Any) -> Any:
    return client.put(URL, {**ONLINE, **change}, format="json")


@pytest.mark.parametrize(("host", "code"), REFUSED_HOSTS)
def test_the_api_refuses_every_class_and_spelling(owner_api: APIClient, tenant: Tenant,
                                                  dns: FakeDNS, host: str, code: str) -> None:
    response = put(owner_api, crm_url=f"https://{host}/contoso")
    assert response.status_code == 400, response.content
    message = " ".join(response.json()["crm_url"])
    assert message
    if host != "127.0.0.1.":  # that one breaks the URL rules first
        assert "CRM_ALLOWED_NETWORKS" in message and "operator" in message
    assert not OrgSettings.objects.exists()


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "169.254.169.254", "10.0.0.1",
                                  "[::ffff:7f00:1]", "[fd00::1]", "100.64.0.1", "224.0.0.1",
                                  "0.0.0.0", "240.0.0.1", "127.1", "0x7f000001"])
def test_the_api_refuses_such_a_sign_in_authority(owner_api: APIClient, tenant: Tenant,
                                                  dns: FakeDNS, host: str) -> None:
    response = put(owner_api, authority_url=f"https://{host}")
    assert response.status_code == 400, response.content
    assert response.json()["authority_url"]
    assert not OrgSettings.objects.exists()


def test_a_name_that_leads_inside_or_nowhere_gets_one_answer(owner_api: APIClient,
                                                             tenant: Tenant, dns: FakeDNS) -> None:
    dns.set("crm.inside.example", ["192.168.4.4"])
    dns.set("crm.nowhere.example", [])
    answers = set()
    for name in ("crm.inside.example", "crm.nowhere.example"):
        response = put(owner_api, crm_url=f"https://{name}/contoso")
        assert response.status_code == 400
        answers.add(" ".join(response.json()["crm_url"]).replace(name, "NAME"))
    assert len(answers) == 1
    dns.set("login.inside.example", ["10.9.9.9"])
    assert put(owner_api, authority_url="https://login.inside.example").status_code == 400


def test_the_allowlist_lets_the_api_save(owner_api: APIClient, tenant: Tenant, dns: FakeDNS,
                                         settings: Any) -> None:
    settings.CRM_ALLOWED_NETWORKS = ["10.0.0.0/8", "login.intern.example"]
    response = put(owner_api, crm_url="https://10.1.2.3/contoso",
                   authority_url="https://login.intern.example")
    assert response.status_code == 200, response.content
    assert OrgSettings.objects.get(tenant=tenant).crm_url == "https://10.1.2.3/contoso"


def test_applying_to_several_tenants_over_the_api_checks_each(
        owner_api: APIClient, owner: AbstractUser, tenant: Tenant, other_tenant: Tenant,
        dns: FakeDNS, settings: Any) -> None:
    Membership.objects.create(user=owner, tenant=other_tenant, role=Role.ADMINISTRATOR)
    settings.CRM_ALLOWED_NETWORKS = ["10.0.0.0/8"]
    assert put(owner_api, crm_url="https://10.1.2.3/contoso").status_code == 200
    settings.CRM_ALLOWED_NETWORKS = []
    response = put(owner_api, crm_url="https://10.1.2.3/contoso", tenants=["acme", "globex"])
    assert response.status_code == 400, response.content
    assert "CRM_ALLOWED_NETWORKS" in " ".join(response.json()["crm_url"])
    assert not OrgSettings.objects.filter(tenant=other_tenant).exists()
