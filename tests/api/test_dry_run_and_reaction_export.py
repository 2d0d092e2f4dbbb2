"""The API doors to a dry run (``dry_run`` on POST runs/) and to a reaction export
(POST runs/reaction-export/): owner starts, member 403, outsider 404."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from orgsettings.models import OrgSettings
from syncjobs.models import JobKind, JobRun
from tenants.models import Tenant
from tests.syncjobs.ops_fixtures import *  # noqa: F403

pytestmark = pytest.mark.django_db

API = "/api/v1/tenants/acme/"


def test_api_dry_run_and_reaction_export(owner_api: APIClient, tenant: Tenant,
                                         ready: OrgSettings, no_dispatch: list[int]) -> None:
    body = owner_api.post(API + "runs/", {"mode": "incremental", "dry_run": True},
                          format="json").json()
    assert JobRun.objects.get(pk=body["id"]).params.get("dry_run") is True
    response = owner_api.post(API + "runs/reaction-export/", format="json")
    assert response.status_code == 201
    assert response.json()["kind"] == JobKind.REACTION_EXPORT
    again = owner_api.post(API + "runs/reaction-export/", format="json")
    assert again.status_code == 409 and again.json()["active_run"] == response.json()["id"]


def test_api_reaction_export_is_tenant_scoped(member_api: APIClient, outsider_api: Any,
                                              tenant: Tenant, ready: OrgSettings,
                                              no_dispatch: list[int]) -> None:
    assert outsider_api.post(API + "runs/reaction-export/", format="json").status_code == 404
    assert member_api.post(API + "runs/reaction-export/", format="json").status_code == 403
    assert not JobRun.objects.exists()
