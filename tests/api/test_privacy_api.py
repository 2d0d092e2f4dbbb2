"""Subject rights over the API (GDPR Art. 15, 17, 19): erase, export, the erasure log."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from rest_framework.test import APIClient

from audience.consent import suppression_of
from audience.models import ConsentState, Subscriber, SuppressionReason
from audience.subscribers import create_subscriber
from syncjobs.models import ErasurePropagation, JobKind, JobRun, RecordLink
from tenants.models import Tenant
from tests.mapping_fixtures import save_settings

pytestmark = pytest.mark.django_db

BASE = "/api/v1/tenants/acme"


@pytest.fixture
def linked(tenant: Tenant) -> Subscriber:
    save_settings(tenant)
    sub = create_subscriber(tenant, {"email": "api-erase@example.org"})
    RecordLink.objects.create(
        tenant=tenant, subscriber=sub, entity_type="lead", crm_id=uuid.uuid4()
    )
    create_subscriber(tenant, {"email": "bystander@example.org"})
    return sub


def test_erase_by_api_erases_logs_and_queues_the_crm_propagation(
    owner_api: APIClient,
    linked: Subscriber,
    tenant: Tenant,
    django_capture_on_commit_callbacks: Any,
    no_dispatch: list[int],
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_api.post(f"{BASE}/subscribers/{linked.pk}/erase/")
    assert response.status_code == 200, response.content
    assert response.json() == {"erased_subscribers": 1, "crm_records_to_tell": 1}
    assert not Subscriber.objects.filter(pk=linked.pk).exists()
    entry = suppression_of(tenant, "api-erase@example.org")
    assert entry is not None and entry.reason == SuppressionReason.ERASED
    assert JobRun.objects.get(pk=no_dispatch[-1]).kind == JobKind.ERASURE_PROPAGATION
    log = owner_api.get(f"{BASE}/erasures/").json()
    assert log["count"] == 1
    assert log["results"][0]["entity_type"] == "lead"
    assert log["results"][0]["state"] == "pending"
    assert log["results"][0]["actor"] == "owner@acme.example"
    # The erased address cannot be created again, single or bulk.
    again = owner_api.post(
        f"{BASE}/subscribers/", {"values": {"email": "api-erase@example.org"}}, format="json"
    )
    assert again.status_code == 400
    assert "erased" in again.content.decode()
    assert owner_api.post(f"{BASE}/subscribers/{linked.pk}/erase/").status_code == 404


def test_access_export_by_api(member_api: APIClient, linked: Subscriber) -> None:
    data = member_api.get(f"{BASE}/subscribers/{linked.pk}/personal-data/").json()
    assert [s["email"] for s in data["subscribers"]] == ["api-erase@example.org"]
    assert data["subscribers"][0]["permission"]["state"] == ConsentState.UNKNOWN
    assert data["subscribers"][0]["crm_links"][0]["entity"] == "lead"
    assert "bystander" not in str(data)
    by_address = member_api.get(f"{BASE}/personal-data/", {"email": "API-Erase@example.org"}).json()
    assert by_address["subscribers"][0]["id"] == linked.pk
    bad = member_api.get(f"{BASE}/personal-data/", {"email": "no-address"})
    assert bad.status_code == 400 and "email" in bad.json()


def test_privacy_endpoints_refuse_outsiders_and_members_may_not_erase(
    member_api: APIClient, outsider_api: APIClient, linked: Subscriber
) -> None:
    for url in (
        f"{BASE}/subscribers/{linked.pk}/personal-data/",
        f"{BASE}/personal-data/?email=api-erase@example.org",
        f"{BASE}/erasures/",
    ):
        assert outsider_api.get(url).status_code == 404
    assert outsider_api.post(f"{BASE}/subscribers/{linked.pk}/erase/").status_code == 404
    assert member_api.post(f"{BASE}/subscribers/{linked.pk}/erase/").status_code == 403
    assert member_api.get(f"{BASE}/erasures/").status_code == 200
    assert Subscriber.objects.filter(pk=linked.pk).exists()
    assert not ErasurePropagation.objects.exists()


def test_privacy_settings_by_api(owner_api: APIClient, linked: Subscriber) -> None:
    current = owner_api.get(f"{BASE}/org-settings/").json()
    assert current["erasure_in_crm"] == "flag_and_note"
    online = {
        "directory_tenant_id": "contoso.onmicrosoft.com",
        "client_id": "9b1f5a44-2c1d-4c3f-9a55-0f1d2e3c4b5a",
        "client_secret": "s3cr3t",
    }
    saved = owner_api.put(
        f"{BASE}/org-settings/",
        {
            **online,
            "erasure_in_crm": "owner_task",
            "crm_deletion": "erase",
            "log_retention_days": 30,
            "consent_history_retention_days": 730,
        },
        format="json",
    )
    assert saved.status_code == 200, saved.content
    assert (saved.json()["crm_deletion"], saved.json()["log_retention_days"]) == ("erase", 30)
    bad = owner_api.put(f"{BASE}/org-settings/", {**online, "log_retention_days": 0}, format="json")
    assert bad.status_code == 400 and "log_retention_days" in bad.json()
    wrong = owner_api.put(
        f"{BASE}/org-settings/", {**online, "erasure_in_crm": "shred"}, format="json"
    )
    assert wrong.status_code == 400


def test_delete_by_api_erases_so_the_address_cannot_come_back(
    owner_api: APIClient, linked: Subscriber, tenant: Tenant, no_dispatch: list[int]
) -> None:
    assert owner_api.delete(f"{BASE}/subscribers/{linked.pk}/").status_code == 204
    assert not Subscriber.objects.filter(pk=linked.pk).exists()
    entry = suppression_of(tenant, "api-erase@example.org")
    assert entry is not None and entry.reason == SuppressionReason.ERASED
    assert ErasurePropagation.objects.filter(tenant=tenant).count() == 1  # the CRM is told
    again = owner_api.post(f"{BASE}/subscribers/", {"values": {"email": "api-erase@example.org"}},
                           format="json")
    assert again.status_code == 400
