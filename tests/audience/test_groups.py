"""Group CRM sync setting (S5): owner format per deployment, business unit of the tenant."""

from __future__ import annotations

import uuid

import pytest
from django.core.exceptions import ValidationError

from audience.groups import (
    GroupError,
    create_group,
    create_group_with_free_name,
    effective_business_unit,
    save_sync_setting,
)
from businessunits.models import BusinessUnit
from orgsettings.models import Deployment, OrgSettings, ReactionMode
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def unit(tenant: Tenant, name: str, default: bool = False) -> BusinessUnit:
    return BusinessUnit.objects.create(tenant=tenant, name=name, is_default=default,
                                       owner_id=uuid.uuid4(), owner_name="Owner")


def org(tenant: Tenant, deployment: Deployment) -> None:
    OrgSettings.objects.create(tenant=tenant, crm_url="https://contoso.crm4.dynamics.com",
                               deployment=deployment, reaction_mode=ReactionMode.ABSOLUTE)


@pytest.mark.parametrize(("deployment", "good", "bad"), [
    (Deployment.ONLINE, "anna.schmidt@contoso.com", "CONTOSO\\aschmidt"),
    (Deployment.ON_PREMISE, "CONTOSO\\aschmidt", "anna.schmidt@contoso.com"),
])
def test_owner_format_follows_the_deployment(
    tenant: Tenant, deployment: Deployment, good: str, bad: str
) -> None:
    org(tenant, deployment)
    group = create_group(tenant, "Newsletter")
    with pytest.raises(ValidationError) as exc:
        save_sync_setting(group, future_owner=bad)
    assert "future_owner" in exc.value.message_dict
    assert ("Online" if deployment == Deployment.ONLINE else "on-premise") in str(exc.value)
    setting = save_sync_setting(group, future_owner=good)
    assert setting.future_owner == good and setting.mode == "both"


def test_business_unit_of_another_tenant_is_refused(tenant: Tenant, other_tenant: Tenant) -> None:
    group = create_group(tenant, "Newsletter")
    with pytest.raises(ValidationError) as exc:
        save_sync_setting(group, business_unit=unit(other_tenant, "Theirs"))
    assert "business_unit" in exc.value.message_dict
    default = unit(tenant, "Head office", default=True)
    setting = save_sync_setting(group, future_owner="")
    assert effective_business_unit(setting) == default


def test_a_taken_group_name_is_numbered_and_long_names_keep_their_number(
        tenant: Tenant) -> None:
    create_group(tenant, "Spring")
    create_group(tenant, "Spring (2)")
    assert create_group_with_free_name(tenant, " Spring ").name == "Spring (3)"
    long = "x" * 250
    first, second = (create_group_with_free_name(tenant, long) for _ in range(2))
    assert first.name == "x" * 200
    assert second.name == "x" * 196 + " (2)"
    with pytest.raises(GroupError):
        create_group_with_free_name(tenant, "   ")
