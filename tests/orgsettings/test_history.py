"""N5 audit history; secrets only as "changed" (N4)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse

from businessunits.models import BusinessUnit
from orgsettings.models import OrgSettings
from tenants.models import Membership, Role, Tenant
from tests.orgsettings.conftest import SECRET, settings_post

pytestmark = pytest.mark.django_db


def url(tenant: Tenant, page: int | None = None) -> str:
    base = reverse("orgsettings:history", kwargs={"tenant": tenant.slug})
    return f"{base}?page={page}" if page else base


def edit(tenant: Tenant) -> str:
    return reverse("orgsettings:edit", kwargs={"tenant": tenant.slug})


def test_it_shows_who_changed_what_from_what_to_what(owner_client: Client,
                                                     tenant: Tenant) -> None:
    owner_client.post(edit(tenant), settings_post())
    owner_client.post(edit(tenant), settings_post(client_secret="second-secret",
                                                  sync_interval_minutes="30",
                                                  reaction_mode="relative"))
    response = owner_client.get(url(tenant))
    html = response.content.decode()
    assert response.status_code == 200
    changes = response.context["changes"]
    latest = changes[0]
    assert latest.user.email == "owner@acme.example" and str(latest.kind) == "changed"
    by_label = {f.label: f for f in latest.fields}
    assert (by_label["sync interval (minutes)"].old,
            by_label["sync interval (minutes)"].new) == ("15", "30")
    assert by_label["reaction figures"].new.startswith("Relative")
    assert by_label["client secret"].secret
    assert "client secret: <em>changed</em>" in html
    assert "15 → 30" in html
    assert SECRET not in html and "second-secret" not in html
    assert "owner@acme.example" in html


def test_it_lists_business_units_and_memberships_of_this_tenant_only(
    owner_client: Client, tenant: Tenant, other_tenant: Tenant, outsider: AbstractUser,
) -> None:
    unit = BusinessUnit.objects.create(tenant=tenant, name="Sales", owner_name="x",
                                       owner_id="00000000-0000-0000-0000-000000000001")
    unit.name = "Sales & Marketing"
    unit.save()
    BusinessUnit.objects.create(tenant=other_tenant, name="Globex unit", owner_name="y",
                                owner_id="00000000-0000-0000-0000-000000000002")
    html = owner_client.get(url(tenant)).content.decode()
    assert "Sales → Sales &amp; Marketing" in html
    assert "membership" in html
    assert "Globex unit" not in html and "outsider@globex.example" not in html


def test_it_paginates(owner_client: Client, tenant: Tenant, make_user) -> None:  # type: ignore[no-untyped-def]
    for i in range(30):
        Membership.objects.create(user=make_user(f"u{i}@acme.example"), tenant=tenant,
                                  role=Role.USER)
    first = owner_client.get(url(tenant))
    assert len(first.context["changes"]) == 25 and first.context["page"].has_next()
    second = owner_client.get(url(tenant, 2))
    assert len(second.context["changes"]) == 31 - 25 + 0  # 30 + the owner's membership


def test_members_read_and_outsiders_get_not_found(member_client: Client,
                                                  outsider_client: Client, tenant: Tenant,
                                                  saved_settings: OrgSettings) -> None:
    response = member_client.get(url(tenant))
    assert response.status_code == 200 and "organisation settings" in response.content.decode()
    assert SECRET not in response.content.decode()
    assert outsider_client.get(url(tenant)).status_code == 404
    assert outsider_client.post(url(tenant)).status_code == 404
