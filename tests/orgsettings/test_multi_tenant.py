"""C2: apply the same settings to several tenants, all or none."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse

from orgsettings.models import OrgSettings
from tenants.models import Membership, Role, Tenant
from tests.orgsettings.conftest import SECRET, settings_post

pytestmark = pytest.mark.django_db


@pytest.fixture
def third(db: None) -> Tenant:
    return Tenant.objects.create(name="Initech", slug="initech")


@pytest.fixture
def two_tenant_owner(owner: AbstractUser, other_tenant: Tenant) -> AbstractUser:
    Membership.objects.create(user=owner, tenant=other_tenant, role=Role.ADMINISTRATOR)
    return owner


def url(tenant: Tenant) -> str:
    return reverse("orgsettings:edit", kwargs={"tenant": tenant.slug})


def test_the_checklist_shows_only_for_several_administered_tenants(
    owner_client: Client, tenant: Tenant, other_tenant: Tenant, owner: AbstractUser,
    third: Tenant,
) -> None:
    assert 'name="tenants"' not in owner_client.get(url(tenant)).content.decode()
    Membership.objects.create(user=owner, tenant=other_tenant, role=Role.ADMINISTRATOR)
    Membership.objects.create(user=owner, tenant=third, role=Role.USER)  # not administered
    response = owner_client.get(url(tenant))
    html = response.content.decode()
    boxes = re.findall(r'<input[^>]*name="tenants"[^>]*>', html)
    assert len(boxes) == 2  # Acme and Globex, not Initech (only a user there)
    ticked = [b for b in boxes if "checked" in b]
    assert len(ticked) == 1 and f'value="{tenant.pk}"' in ticked[0]
    choices = list(response.context["form"].fields["tenants"].queryset)
    assert choices == [tenant, other_tenant]


def test_it_applies_to_every_ticked_tenant(owner_client: Client, two_tenant_owner: AbstractUser,
                                           tenant: Tenant, other_tenant: Tenant) -> None:
    response = owner_client.post(
        url(tenant), settings_post(tenants=[tenant.pk, other_tenant.pk]), follow=True)
    assert "Settings saved for: Acme Newsletter, Globex Mailings." in response.content.decode()
    for t in (tenant, other_tenant):
        org = OrgSettings.objects.get(tenant=t)
        assert org.organisation_name == "contoso" and org.client_secret == SECRET


def test_one_tenant_without_secret_fails_the_whole_save(
    owner_client: Client, two_tenant_owner: AbstractUser, tenant: Tenant, other_tenant: Tenant,
) -> None:
    owner_client.post(url(tenant), settings_post(tenants=[tenant.pk]))
    before = OrgSettings.objects.get(tenant=tenant).sync_interval_minutes
    response = owner_client.post(url(tenant), settings_post(
        tenants=[tenant.pk, other_tenant.pk], client_secret="", sync_interval_minutes="45"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Globex Mailings has no client secret" in html
    assert "Acme Newsletter has no" not in html
    assert not OrgSettings.objects.filter(tenant=other_tenant).exists()
    assert OrgSettings.objects.get(tenant=tenant).sync_interval_minutes == before == 15


def two_saved(client: Client, tenant: Tenant, other: Tenant) -> None:
    """Both tenants saved, each with its own client secret."""
    client.post(url(tenant), settings_post(tenants=[tenant.pk], client_secret="acme-s"))
    client.post(url(tenant), settings_post(tenants=[other.pk], client_secret="globex-s"))


def test_blank_secret_keeps_each_tenants_own(
    owner_client: Client, two_tenant_owner: AbstractUser, tenant: Tenant, other_tenant: Tenant,
) -> None:
    two_saved(owner_client, tenant, other_tenant)
    # A change that does not touch what the secrets were entered for (S: secret binding).
    response = owner_client.post(url(tenant), settings_post(
        tenants=[tenant.pk, other_tenant.pk], client_secret="", sync_interval_minutes="30"))
    assert response.status_code == 302
    acme, globex = (OrgSettings.objects.get(tenant=t) for t in (tenant, other_tenant))
    assert (acme.client_secret, globex.client_secret) == ("acme-s", "globex-s")
    assert acme.sync_interval_minutes == globex.sync_interval_minutes == 30


def test_a_blank_secret_is_refused_for_every_tenant_whose_binding_changes(
    owner_client: Client, two_tenant_owner: AbstractUser, tenant: Tenant, other_tenant: Tenant,
) -> None:
    two_saved(owner_client, tenant, other_tenant)
    response = owner_client.post(url(tenant), settings_post(
        tenants=[tenant.pk, other_tenant.pk], client_secret="", crm_url="http://crm/shared"))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Nothing was saved" in text and "Enter the client secret again" in text
    assert tenant.name in text and other_tenant.name in text
    acme, globex = (OrgSettings.objects.get(tenant=t) for t in (tenant, other_tenant))
    assert acme.organisation_name == globex.organisation_name == "contoso"  # unchanged
    # With the secret entered again, the change is saved for both.
    response = owner_client.post(url(tenant), settings_post(
        tenants=[tenant.pk, other_tenant.pk], client_secret="shared-s",
        crm_url="http://crm/shared"))
    assert response.status_code == 302
    assert set(OrgSettings.objects.values_list("organisation_name", flat=True)) == {"shared"}


def test_ticking_a_tenant_the_user_does_not_administer_is_refused(
    owner_client: Client, two_tenant_owner: AbstractUser, tenant: Tenant, third: Tenant,
    make_user,  # type: ignore[no-untyped-def]
) -> None:
    # owner is a plain user of `third`, whose administrator is someone else
    Membership.objects.create(user=two_tenant_owner, tenant=third, role=Role.USER)
    Membership.objects.create(user=make_user("boss@initech.example"), tenant=third,
                              role=Role.ADMINISTRATOR)
    response = owner_client.post(url(tenant), settings_post(tenants=[tenant.pk, third.pk]))
    assert response.status_code == 200
    assert "only apply settings to tenants you administer" in response.content.decode()
    assert not OrgSettings.objects.exists()
