from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client

from orgsettings import services
from orgsettings.models import OrgSettings
from tenants.models import Membership, Role, Tenant

SECRET = "s3cr3t-Value-never-shown"


def settings_post(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "crm_url": "https://contoso.crm4.dynamics.com",
        "deployment": "online",
        "directory_tenant_id": "11111111-2222-3333-4444-555555555555",
        "client_id": "66666666-7777-8888-9999-000000000000",
        "client_secret": SECRET,
        "onprem_username": "",
        "onprem_password": "",
        "authority_url": "https://login.microsoftonline.com",
        "ca_bundle": "",
        "export_opens": "on",
        "export_clicks": "on",
        "export_bounces": "on",
        "reaction_export_interval_minutes": "60",
        "write_back_unsubscribes": "on",
        "reaction_mode": "absolute",
        "bidirectional_sync": "on",
        "sync_interval_minutes": "15",
        "reconcile_interval_hours": "24",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def saved_settings(tenant: Tenant, owner: AbstractUser) -> OrgSettings:
    values = {
        "crm_url": "https://contoso.crm4.dynamics.com", "deployment": "online",
        "directory_tenant_id": "t", "client_id": "c", "onprem_username": "",
        "authority_url": "https://login.microsoftonline.com", "ca_bundle": "",
        "export_opens": True, "export_clicks": True, "export_bounces": True,
        "reaction_export_interval_minutes": 60, "write_back_unsubscribes": True,
        "reaction_mode": "absolute", "bidirectional_sync": True,
        "reactivate_deactivated": False, "sync_interval_minutes": 15, "sync_paused": False,
    }
    return services.save_org_settings(
        [tenant], values, {"client_secret": SECRET}, user=owner)[0]


@pytest.fixture
def admin_of(tenant: Tenant) -> Callable[[AbstractUser, Tenant], Membership]:
    def make(user: AbstractUser, t: Tenant) -> Membership:
        return Membership.objects.create(user=user, tenant=t, role=Role.ADMINISTRATOR)
    return make


@pytest.fixture
def anon_client() -> Client:
    return Client()
