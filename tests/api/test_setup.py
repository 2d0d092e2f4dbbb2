"""The setup API (C7): the steps and "Start syncing", as the setup pages show and do them
(tenant-scoped: administrators start, members read, outsiders find nothing)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from syncjobs.models import JobRun
from tenants.models import Tenant
from tests.api.conftest import token_client
from tests.orgsettings.test_start_syncing import checked, set_up

pytestmark = pytest.mark.django_db


class TestApi:
    def url(self, tenant: Tenant, path: str = "") -> str:
        return f"/api/v1/tenants/{tenant.slug}/setup/{path}"

    def test_state_and_refusal_then_start(self, tenant: Tenant, owner_api: APIClient,
                                          no_dispatch: list[int]) -> None:
        checked(tenant)
        body = owner_api.get(self.url(tenant)).json()
        assert [s["key"] for s in body["steps"]] == [
            "settings", "prepare", "check", "attributes", "business_unit", "mappings", "start"]
        assert body["sync_started_at"] is None and body["sync_enabled"] is False
        assert body["start_blockers"]
        refused = owner_api.post(self.url(tenant, "start-syncing/"))
        assert refused.status_code == 409 and refused.json()["missing"] == body["start_blockers"]
        set_up(tenant, fixed_language="de")
        started = owner_api.post(self.url(tenant, "start-syncing/"))
        assert started.status_code == 200, started.content
        data = started.json()
        assert data["started"] is True and data["run"]["id"] == JobRun.objects.get().pk
        assert data["setup"]["sync_enabled"] is True and data["setup"]["start_blockers"] == []
        again = owner_api.post(self.url(tenant, "start-syncing/")).json()
        assert again["started"] is False and again["run"] is None

    def test_member_403_outsider_404(self, tenant: Tenant, member_api: APIClient,
                                     outsider_api: APIClient) -> None:
        set_up(tenant, fixed_language="de")
        assert member_api.get(self.url(tenant)).status_code == 200
        assert member_api.post(self.url(tenant, "start-syncing/")).status_code == 403
        assert outsider_api.get(self.url(tenant)).status_code == 404
        assert outsider_api.post(self.url(tenant, "start-syncing/")).status_code == 404

    def test_runs_are_refused_before_the_start(self, tenant: Tenant, owner: object,
                                               no_dispatch: list[int]) -> None:
        set_up(tenant, fixed_language="de")
        client = token_client(owner)
        url = f"/api/v1/tenants/{tenant.slug}/runs/"
        refused = client.post(url, {"mode": "incremental"}, format="json")
        assert refused.status_code == 409
        assert "Start syncing" in refused.json()["detail"]
        assert client.post(url, {"mode": "incremental", "dry_run": True},
                           format="json").status_code == 201

