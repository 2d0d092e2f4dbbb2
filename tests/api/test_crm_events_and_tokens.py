"""The CRM side's endpoints (C8, S12); API tokens themselves are in test_tokens.py."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth.models import AbstractUser
from django.utils import timezone
from rest_framework.test import APIClient

from crmevents.models import CrmEvent
from orgsettings.integration_access import prepare_mailworx
from tenants.models import Tenant
from tests.api.conftest import Integration
from tests.mapping_fixtures import save_settings

pytestmark = pytest.mark.django_db
T = "/api/v1/tenants/acme/crm-events/"
LIST_ID = "0b8f6f2e-5e0a-4c59-9d61-8f6a2b0d7c11"


def test_list_marked_is_recorded_and_deduplicated(integration: Integration,
                                                  tenant: Tenant) -> None:
    first = integration.client.post(f"{T}list-marked/", {"list_id": LIST_ID}, format="json")
    assert first.status_code == 202, first.content
    event = CrmEvent.objects.get()
    assert (event.tenant, event.kind, str(event.crm_id), event.processed_at) == (
        tenant, "list_marked", LIST_ID, None)
    assert event.received_by.username == "integration-acme"
    assert first.json()["id"] == event.pk and first.json()["duplicate"] is False
    again = integration.client.post(f"{T}list-marked/", {"list_id": LIST_ID}, format="json")
    assert again.status_code == 202
    assert again.json()["id"] == event.pk and again.json()["duplicate"] is True
    assert CrmEvent.objects.count() == 1
    # Once processed, the same list marked again is a new event.
    event.processed_at = timezone.now()
    event.save()
    third = integration.client.post(f"{T}list-marked/", {"list_id": LIST_ID}, format="json")
    assert third.json()["id"] != event.pk and CrmEvent.objects.count() == 2


def test_activity_distributed_with_token(integration: Integration) -> None:
    response = integration.token_client.post(f"{T}activity-distributed/",
                                             {"activity_id": LIST_ID}, format="json")
    assert response.status_code == 202, response.content
    assert CrmEvent.objects.get().kind == "activity_distributed"


@pytest.mark.parametrize(("path", "body", "field"), [
    ("list-marked/", {}, "list_id"),
    ("list-marked/", {"list_id": "not-a-guid"}, "list_id"),
    ("activity-distributed/", {"list_id": LIST_ID}, "activity_id"),
])
def test_bad_body(integration: Integration, path: str, body: dict, field: str) -> None:
    response = integration.client.post(T + path, body, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not CrmEvent.objects.exists()


@pytest.mark.parametrize("key", [None, "", "wrong-key"])
def test_activation_key_required(integration: Integration, key: str | None) -> None:
    client = APIClient()
    basic = base64.b64encode(f"{integration.username}:{integration.password}".encode())
    headers = {"HTTP_AUTHORIZATION": f"Basic {basic.decode()}"}
    if key is not None:
        headers["HTTP_X_MAILWORX_ACTIVATION_KEY"] = key
    client.credentials(**headers)
    response = client.post(f"{T}list-marked/", {"list_id": LIST_ID}, format="json")
    assert response.status_code == 403
    assert "activation key" in response.json()["detail"]
    assert not CrmEvent.objects.exists()


def test_wrong_password_is_401(integration: Integration) -> None:
    client = APIClient()
    basic = base64.b64encode(f"{integration.username}:nope".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {basic}",
                       HTTP_X_MAILWORX_ACTIVATION_KEY=integration.key)
    assert client.post(f"{T}list-marked/", {"list_id": LIST_ID},
                       format="json").status_code == 401


def test_other_tenants_integration_user_gets_404(integration: Integration, owner: AbstractUser,
                                                 other_tenant: Tenant) -> None:
    save_settings(other_tenant)
    theirs = prepare_mailworx(other_tenant, user=owner)
    client = APIClient()
    basic = base64.b64encode(f"{theirs.username}:{theirs.password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {basic}",
                       HTTP_X_MAILWORX_ACTIVATION_KEY=theirs.activation_key)
    assert client.post(f"{T}list-marked/", {"list_id": LIST_ID},
                       format="json").status_code == 404
    assert client.post("/api/v1/tenants/globex/crm-events/list-marked/",
                       {"list_id": LIST_ID}, format="json").status_code == 202


def test_basic_auth_failures_lock_out(integration: Integration, settings: object) -> None:
    settings.AXES_ENABLED = True  # type: ignore[attr-defined]
    client = APIClient()
    basic = base64.b64encode(f"{integration.username}:wrong".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {basic}",
                       HTTP_X_MAILWORX_ACTIVATION_KEY=integration.key)
    for _attempt in range(6):
        client.post(f"{T}list-marked/", {"list_id": LIST_ID}, format="json")
    # Locked out: even the right password is refused now (axes, per user name + IP).
    response = integration.client.post(f"{T}list-marked/", {"list_id": LIST_ID},
                                       format="json")
    assert response.status_code in (401, 403, 429)
    assert not CrmEvent.objects.exists()
