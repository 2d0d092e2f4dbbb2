"""The tenant list shows each tenant's setup state and sync health at a glance."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orgsettings.models import OrgSettings
from syncjobs.models import SyncStatus
from syncjobs.overview import Health, Setup, tenant_overviews
from tenants.models import Membership, Role, Tenant
from tests.mapping_fixtures import save_settings

pytestmark = pytest.mark.django_db


def started(tenant: Tenant) -> OrgSettings:
    org = save_settings(tenant)
    OrgSettings.objects.filter(pk=org.pk).update(check_passed_at=timezone.now(),
                                                 sync_started_at=timezone.now())
    return org


def test_setup_state_and_health_per_tenant(tenant: Tenant, other_tenant: Tenant) -> None:
    third = Tenant.objects.create(name="Initech", slug="initech")
    fourth = Tenant.objects.create(name="Umbrella", slug="umbrella")
    started(other_tenant)
    SyncStatus.objects.create(tenant=other_tenant, last_sync_at=timezone.now(),
                              last_success_at=timezone.now(), open_issues=2)
    started(third)
    SyncStatus.objects.create(tenant=third, last_sync_at=timezone.now(),
                              last_error="The CRM refused the sign-in.")
    started(fourth)
    OrgSettings.objects.filter(tenant=fourth).update(connection_changed_at=timezone.now())
    rows = {r.tenant.slug: r for r in tenant_overviews([tenant, other_tenant, third, fourth])}
    assert rows["acme"].setup == Setup.IN_PROGRESS
    assert rows["acme"].next_step == "Save the organisation settings"
    assert rows["acme"].health == Health.NOT_STARTED
    assert (rows["globex"].setup, rows["globex"].health) == (Setup.DONE, Health.ISSUES)
    assert rows["initech"].health == Health.FAILING
    assert "refused the sign-in" in rows["initech"].health_label
    assert rows["umbrella"].health == Health.STOPPED


def test_the_list_page_shows_them(owner_client: Client, owner: object, tenant: Tenant,
                                  other_tenant: Tenant) -> None:
    Membership.objects.create(user=owner, tenant=other_tenant,  # type: ignore[misc]
                              role=Role.USER)
    started(other_tenant)
    html = owner_client.get(reverse("tenants:home")).content.decode()
    assert "Setup: 0 of 7 steps done" in html
    assert "Next: Save the organisation settings" in html
    assert "Set up; syncing since" in html
    assert "The first sync starts within a minute" in html
    assert "No syncs until the setup is finished" in html
    # A started tenant's health links to its Sync health page; one in setup has none yet.
    assert reverse("syncjobs:health", kwargs={"tenant": other_tenant.slug}) in html
    assert reverse("syncjobs:health", kwargs={"tenant": tenant.slug}) not in html
