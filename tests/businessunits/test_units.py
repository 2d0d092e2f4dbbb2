from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse

from businessunits import services
from businessunits.models import BusinessUnit
from tenants.models import Tenant
from tests.mapping_fixtures import make_unit, save_settings

pytestmark = pytest.mark.django_db

OWNER_ID = "5b1f2a43-9a2b-4d52-8c8e-1a2b3c4d5e6f"


def url(name: str, tenant: Tenant, **kw: int) -> str:
    return reverse(f"businessunits:{name}", kwargs={"tenant": tenant.slug, **kw})


def form_data(name: str = "Marketing", **extra: str) -> dict[str, str]:
    return {"name": name, "owner_type": "systemuser", "owner_id": OWNER_ID,
            "owner_name": "Anna Admin", **extra}


def test_first_unit_becomes_default(tenant: Tenant, settings_saved: object) -> None:
    first = make_unit(tenant, "First")
    second = make_unit(tenant, "Second")
    assert first.is_default
    assert not second.is_default


def test_making_another_default_undefaults_the_old_one(tenant: Tenant,
                                                       settings_saved: object) -> None:
    first = make_unit(tenant, "First")
    second = make_unit(tenant, "Second", is_default=True)
    first.refresh_from_db()
    assert second.is_default and not first.is_default
    services.make_default(first)
    second.refresh_from_db()
    first.refresh_from_db()
    assert first.is_default and not second.is_default
    assert BusinessUnit.objects.filter(tenant=tenant, is_default=True).count() == 1
    assert second.history.filter(is_default=False).exists()  # the un-default is audited


def test_owner_creates_unit_via_form(owner_client: Client, tenant: Tenant,
                                     settings_saved: object) -> None:
    response = owner_client.post(url("create", tenant), form_data())
    unit = BusinessUnit.objects.get(tenant=tenant)
    assert response.status_code == 302
    assert unit.is_default
    assert str(unit.owner_id) == OWNER_ID and unit.owner_type == "systemuser"
    assert unit.history.get().history_user.email == "owner@acme.example"


def test_edit_can_move_default(owner_client: Client, tenant: Tenant,
                               settings_saved: object) -> None:
    first = make_unit(tenant, "First")
    second = make_unit(tenant, "Second")
    owner_client.post(url("edit", tenant, pk=second.pk),
                      form_data("Second renamed", is_default="on"))
    first.refresh_from_db()
    second.refresh_from_db()
    assert second.name == "Second renamed" and second.is_default
    assert not first.is_default


def test_default_flag_cannot_be_dropped_in_edit(owner_client: Client, tenant: Tenant,
                                                settings_saved: object) -> None:
    first = make_unit(tenant, "First")
    owner_client.post(url("edit", tenant, pk=first.pk), form_data("First"))
    first.refresh_from_db()
    assert first.is_default


def test_duplicate_name_refused(owner_client: Client, tenant: Tenant,
                                settings_saved: object) -> None:
    make_unit(tenant, "Marketing")
    response = owner_client.post(url("create", tenant), form_data("marketing"))
    assert "already exists" in response.content.decode()
    assert BusinessUnit.objects.filter(tenant=tenant).count() == 1


def test_gating_before_settings_saved(owner_client: Client, tenant: Tenant) -> None:
    page = owner_client.get(url("list", tenant)).content.decode()
    assert "once the organisation settings are saved" in page
    assert 'disabled title="Business units become available' in page
    response = owner_client.post(url("create", tenant), form_data(), follow=True)
    assert "once the organisation settings are saved" in response.content.decode()
    assert not BusinessUnit.objects.exists()
    save_settings(tenant)
    owner_client.post(url("create", tenant), form_data())
    assert BusinessUnit.objects.filter(tenant=tenant).count() == 1


def test_default_unit_cannot_be_deleted_while_others_exist(
        owner_client: Client, tenant: Tenant, settings_saved: object) -> None:
    first = make_unit(tenant, "First")
    second = make_unit(tenant, "Second")
    response = owner_client.post(url("delete", tenant, pk=first.pk), follow=True)
    assert "is the default unit" in response.content.decode()
    assert BusinessUnit.objects.filter(pk=first.pk).exists()
    owner_client.post(url("delete", tenant, pk=second.pk))
    assert not BusinessUnit.objects.filter(pk=second.pk).exists()
    owner_client.post(url("delete", tenant, pk=first.pk))
    assert not BusinessUnit.objects.filter(pk=first.pk).exists()


def test_unit_still_used_cannot_be_deleted(owner_client: Client, tenant: Tenant,
                                           settings_saved: object,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    unit = make_unit(tenant, "Used")
    monkeypatch.setattr(services, "unit_usages", lambda u: ["2 subscriber groups"])
    response = owner_client.post(url("delete", tenant, pk=unit.pk), follow=True)
    assert "still used by: 2 subscriber groups" in response.content.decode()
    assert BusinessUnit.objects.filter(pk=unit.pk).exists()


def test_unit_usages_ignores_own_mappings_and_history(tenant: Tenant,
                                                      settings_saved: object) -> None:
    unit = make_unit(tenant)
    assert services.unit_usages(unit) == []


def test_member_reads_but_cannot_change(member_client: Client, tenant: Tenant,
                                        settings_saved: object) -> None:
    unit = make_unit(tenant, "Sales")
    assert member_client.get(url("list", tenant)).status_code == 200
    detail = member_client.get(url("detail", tenant, pk=unit.pk))
    assert detail.status_code == 200 and "Sales Team" in detail.content.decode()
    assert "Add mapping" not in detail.content.decode()
    assert member_client.post(url("create", tenant), form_data()).status_code == 403
    assert member_client.post(url("edit", tenant, pk=unit.pk),
                              form_data("Renamed")).status_code == 403
    assert member_client.post(url("delete", tenant, pk=unit.pk)).status_code == 403
    unit.refresh_from_db()
    assert unit.name == "Sales"
    assert BusinessUnit.objects.filter(tenant=tenant).count() == 1


def test_outsider_gets_404(outsider_client: Client, tenant: Tenant,
                           settings_saved: object) -> None:
    unit = make_unit(tenant)
    assert outsider_client.get(url("list", tenant)).status_code == 404
    assert outsider_client.get(url("detail", tenant, pk=unit.pk)).status_code == 404
    assert outsider_client.post(url("create", tenant), form_data()).status_code == 404
    assert outsider_client.post(url("delete", tenant, pk=unit.pk)).status_code == 404
    assert BusinessUnit.objects.filter(pk=unit.pk).exists()


def test_other_tenants_unit_in_owner_url_is_404(owner_client: Client, tenant: Tenant,
                                                other_tenant: Tenant,
                                                settings_saved: object) -> None:
    save_settings(other_tenant)
    foreign = make_unit(other_tenant, "Foreign", owner_id=uuid.uuid4())
    for name in ("detail", "edit", "delete"):
        assert owner_client.get(url(name, tenant, pk=foreign.pk)).status_code == 404
    assert owner_client.post(url("edit", tenant, pk=foreign.pk),
                             form_data("Hijacked")).status_code == 404
    assert owner_client.post(url("delete", tenant, pk=foreign.pk)).status_code == 404
    foreign.refresh_from_db()
    assert foreign.name == "Foreign"
