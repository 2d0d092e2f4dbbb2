"""Every endpoint × persona: outsiders and the integration user get 404 on every
tenant-scoped endpoint (never 403), members read but get 403 on writes (C1, C8)."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.api.conftest import Integration, World

pytestmark = pytest.mark.django_db

# (method, path under /api/v1/tenants/acme/, body); every tenant-scoped route of the API.
READS = [
    ("get", "subscribers/", None),
    ("get", "subscribers/{sub}/", None),
    ("get", "subscriber-fields/", None),
    ("get", "subscriber-fields/{field}/", None),
    ("get", "subscriber-fields/{field}/options/", None),
    ("get", "subscribers/{sub}/consent-history/", None),
    ("get", "groups/", None),
    ("get", "groups/{group}/", None),
    ("get", "groups/{group}/members/", None),
    ("get", "campaigns/", None),
    ("get", "campaigns/{campaign}/", None),
    ("get", "org-settings/", None),
    ("get", "setup/", None),
    ("get", "business-units/", None),
    ("get", "business-units/{unit}/", None),
    ("get", "business-units/{unit}/field-mappings/", None),
    ("get", "business-units/{unit}/field-mappings/{mapping}/", None),
]
WRITES = [
    ("post", "subscribers/", {"values": {"email": "new@example.com"}}),
    ("patch", "subscribers/{sub}/", {"values": {"first_name": "Bea"}}),
    ("put", "subscribers/{sub}/", {"values": {"first_name": "Bea"}}),
    ("delete", "subscribers/{sub}/", None),
    ("post", "subscribers/bulk-upsert/", {"items": [{"email": "x@example.com"}]}),
    ("post", "subscriber-fields/", {"key": "shoe", "label_en": "Shoe", "label_de": "Schuh",
                                    "field_type": "number"}),
    ("patch", "subscriber-fields/{field}/", {"label_en": "Hobby"}),
    ("put", "subscriber-fields/{field}/", {"label_en": "Hobby", "label_de": "Hobby"}),
    ("delete", "subscriber-fields/{field}/", None),
    ("post", "subscriber-fields/{field}/options/", {"value": "music", "label_en": "Music",
                                                    "label_de": "Musik"}),
    ("patch", "subscriber-fields/{field}/options/sport/", {"label_en": "Sports"}),
    ("delete", "subscriber-fields/{field}/options/sport/", None),
    ("post", "groups/", {"name": "VIP"}),
    ("patch", "groups/{group}/", {"name": "Renamed"}),
    ("put", "groups/{group}/", {"name": "Renamed"}),
    ("delete", "groups/{group}/", None),
    ("post", "groups/{group}/members/", {"subscriber_ids": [1]}),
    ("delete", "groups/{group}/members/{sub}/", None),
    ("get", "groups/{group}/sync-setting/", None),  # 404 without a setting: read-only path
    ("put", "groups/{group}/sync-setting/", {"mode": "link"}),
    ("delete", "groups/{group}/sync-setting/", None),
    ("post", "campaigns/", {"name": "Summer"}),
    ("post", "reactions/ingest/", {"items": [{"source_event_id": "e1"}]}),
    ("put", "org-settings/", {"reaction_mode": "relative"}),
    ("post", "setup/start-syncing/", None),
    ("post", "business-units/", {"name": "Support", "owner_id":
                                 "9b1f5a44-2c1d-4c3f-9a55-0f1d2e3c4b5a", "owner_name": "Team"}),
    ("patch", "business-units/{unit}/", {"owner_name": "X"}),
    ("put", "business-units/{unit}/", {"name": "Sales", "owner_name": "X", "owner_id":
                                       "9b1f5a44-2c1d-4c3f-9a55-0f1d2e3c4b5a"}),
    ("delete", "business-units/{unit}/", None),
    ("post", "business-units/{unit}/field-mappings/", {"entity_type": "contact"}),
    ("put", "business-units/{unit}/field-mappings/{mapping}/", {"entity_type": "contact"}),
    ("delete", "business-units/{unit}/field-mappings/{mapping}/", None),
]
INTEGRATION_ONLY = [
    ("post", "crm-events/list-marked/", {"list_id": "9b1f5a44-2c1d-4c3f-9a55-0f1d2e3c4b5a"}),
    ("post", "crm-events/activity-distributed/",
     {"activity_id": "9b1f5a44-2c1d-4c3f-9a55-0f1d2e3c4b5a"}),
]
ALL = READS + WRITES + INTEGRATION_ONLY


def call(client: APIClient, world: World, method: str, path: str, body: Any) -> Any:
    return getattr(client, method)(world.url(path), body, format="json")


@pytest.mark.parametrize(("method", "path", "body"), ALL)
def test_outsider_gets_404_everywhere(outsider_api: APIClient, world: World, method: str,
                                      path: str, body: Any) -> None:
    assert call(outsider_api, world, method, path, body).status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), READS + WRITES)
def test_integration_user_gets_404_outside_its_endpoints(
        integration: Integration, world: World, method: str, path: str, body: Any) -> None:
    assert call(integration.token_client, world, method, path, body).status_code == 404
    # HTTP Basic is accepted only where the CRM side calls: elsewhere it authenticates nobody.
    assert call(integration.client, world, method, path, body).status_code == 401


def test_integration_user_sees_no_tenant_list(integration: Integration) -> None:
    assert integration.token_client.get("/api/v1/tenants/").status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), READS)
def test_member_reads(member_api: APIClient, world: World, method: str, path: str,
                      body: Any) -> None:
    assert call(member_api, world, method, path, body).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), WRITES)
def test_member_may_not_write(member_api: APIClient, world: World, method: str, path: str,
                              body: Any) -> None:
    response = call(member_api, world, method, path, body)
    expected = 404 if path.endswith("sync-setting/") and method == "get" else 403
    assert response.status_code == expected, response.content


@pytest.mark.parametrize(("method", "path", "body"), INTEGRATION_ONLY)
def test_members_and_owners_are_not_the_crm_side(
        owner_api: APIClient, member_api: APIClient, world: World, method: str, path: str,
        body: Any) -> None:
    for client in (owner_api, member_api):
        assert call(client, world, method, path, body).status_code == 404


@pytest.mark.parametrize(("method", "path", "body"), ALL)
def test_anonymous_is_refused(world: World, method: str, path: str, body: Any) -> None:
    assert call(APIClient(), world, method, path, body).status_code in (401, 403)


def test_unknown_tenant_is_404_for_everyone(owner_api: APIClient) -> None:
    assert owner_api.get("/api/v1/tenants/nope/subscribers/").status_code == 404


def test_tenant_list_shows_own_tenants_with_role(
        owner_api: APIClient, member_api: APIClient, outsider_api: APIClient,
        world: World) -> None:
    [acme] = owner_api.get("/api/v1/tenants/").json()["results"]
    assert {k: acme[k] for k in ("slug", "name", "default_language", "role")} == {
        "slug": "acme", "name": "Acme Newsletter", "default_language": "de",
        "role": "administrator"}
    assert acme["setup"]["state"] == "in_progress"
    assert acme["sync_health"]["state"] == "not_started"
    assert member_api.get("/api/v1/tenants/").json()["results"][0]["role"] == "user"
    assert [t["slug"] for t in outsider_api.get("/api/v1/tenants/").json()["results"]] == [
        "globex"]
