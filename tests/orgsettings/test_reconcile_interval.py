"""The reconcile interval (hours) of the scheduled reconcile run: in the settings form with
its help text, default 24, bounded, and in the API."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from orgsettings.models import OrgSettings
from tenants.models import Tenant
from tests.api.conftest import token_client
from tests.orgsettings.conftest import settings_post

pytestmark = pytest.mark.django_db


def url(tenant: Tenant) -> str:
    return reverse("orgsettings:edit", kwargs={"tenant": tenant.slug})


def test_the_form_shows_it_with_help_and_saves_it(owner_client: Client, tenant: Tenant) -> None:
    html = owner_client.get(url(tenant)).content.decode()
    assert 'name="reconcile_interval_hours"' in html and 'value="24"' in html
    assert "deleted or merged" in html
    response = owner_client.post(url(tenant), settings_post(reconcile_interval_hours="48"))
    assert response.status_code == 302
    assert OrgSettings.objects.get(tenant=tenant).reconcile_interval_hours == 48


@pytest.mark.parametrize("value", ["0", "721"])
def test_it_is_bounded(owner_client: Client, tenant: Tenant, value: str) -> None:
    response = owner_client.post(url(tenant), settings_post(reconcile_interval_hours=value))
    assert response.status_code == 200
    assert not OrgSettings.objects.filter(tenant=tenant).exists()


def test_the_api_reads_and_writes_it(owner_client: Client, owner: object, tenant: Tenant
                                     ) -> None:
    owner_client.post(url(tenant), settings_post())
    api: APIClient = token_client(owner)
    path = "/api/v1/tenants/acme/org-settings/"
    assert api.get(path).json()["reconcile_interval_hours"] == 24
    response = api.put(path, {"reconcile_interval_hours": 12}, format="json")
    assert response.status_code == 200, response.json()
    assert OrgSettings.objects.get(tenant=tenant).reconcile_interval_hours == 12
