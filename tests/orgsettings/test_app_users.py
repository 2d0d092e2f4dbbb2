"""Additional application users on the settings page (orgsettings/app_users.py): add,
remove, roles, secrets never shown, bound like the main secret, audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from orgsettings import services
from orgsettings.app_users import add_app_user, usable_app_users
from orgsettings.connection import connection_for
from orgsettings.models import AdditionalAppUser, OrgSettings
from tenants.models import Tenant
from tests.orgsettings.conftest import settings_post

pytestmark = pytest.mark.django_db

EXTRA_ID = "a4e6c8f0-2d3f-4e5a-9b7c-9d1f3b5d7c93"
EXTRA_SECRET = "extra-Secret-never-shown-9"


def page(tenant: Tenant) -> str:
    return reverse("orgsettings:edit", kwargs={"tenant": tenant.slug})


def add_url(tenant: Tenant) -> str:
    return reverse("orgsettings:app_user_add", kwargs={"tenant": tenant.slug})


def remove_url(tenant: Tenant, pk: int) -> str:
    return reverse("orgsettings:app_user_remove", kwargs={"tenant": tenant.slug, "pk": pk})


def add(
    client: Client, tenant: Tenant, client_id: str = EXTRA_ID, secret: str = EXTRA_SECRET
) -> Any:
    return client.post(
        add_url(tenant), {"app_client_id": client_id, "app_client_secret": secret}, follow=True
    )


def test_the_owner_adds_a_user_whose_secret_is_stored_but_never_shown(
    owner_client: Client, tenant: Tenant, saved_settings: OrgSettings, owner: AbstractUser
) -> None:
    response = add(owner_client, tenant)
    html = response.content.decode()
    assert response.redirect_chain[-1][0].endswith("#app-users")
    user = AdditionalAppUser.objects.get(org_settings=saved_settings)
    assert (user.client_id, user.client_secret, user.created_by) == (EXTRA_ID, EXTRA_SECRET, owner)
    assert f"Application user {EXTRA_ID} added" in html
    assert EXTRA_ID in html and "Not used yet: run the integration check" in html
    assert EXTRA_SECRET not in html
    assert EXTRA_SECRET not in owner_client.get(page(tenant)).content.decode()
    # N5: audited, the secret only as "changed".
    history = owner_client.get(
        reverse("orgsettings:history", kwargs={"tenant": tenant.slug})
    ).content.decode()
    assert "additional application user" in history and EXTRA_ID in history
    assert EXTRA_SECRET not in history
    assert user.history.first().history_user == owner


@pytest.mark.parametrize(
    ("client_id", "message"),
    [
        ("c", "own application user. Add the client id of another"),
        ("not-a-guid", "is a GUID"),
    ],
)
def test_the_main_user_and_a_bad_id_are_refused(
    owner_client: Client, tenant: Tenant, saved_settings: OrgSettings, client_id: str, message: str
) -> None:
    if client_id == "c":  # the main client id of saved_settings is "c": make it a GUID
        OrgSettings.objects.filter(pk=saved_settings.pk).update(client_id=EXTRA_ID.upper())
        client_id = EXTRA_ID
    html = add(owner_client, tenant, client_id).content.decode()
    assert message in html
    assert not AdditionalAppUser.objects.exists()
    assert EXTRA_SECRET not in html


def test_a_second_entry_of_the_same_user_is_refused(
    owner_client: Client, tenant: Tenant, saved_settings: OrgSettings
) -> None:
    add(owner_client, tenant)
    html = add(owner_client, tenant, EXTRA_ID.upper(), "another").content.decode()
    assert "is already an additional application user" in html
    assert AdditionalAppUser.objects.get().client_secret == EXTRA_SECRET


def test_the_owner_removes_a_user(
    owner_client: Client, tenant: Tenant, saved_settings: OrgSettings
) -> None:
    add(owner_client, tenant)
    user = AdditionalAppUser.objects.get()
    html = owner_client.post(remove_url(tenant, user.pk), follow=True).content.decode()
    assert f"Application user {EXTRA_ID} removed" in html
    assert not AdditionalAppUser.objects.exists()
    assert user.history.filter(history_type="-").exists()


def test_a_member_sees_the_list_but_may_not_change_it(
    member_client: Client, owner_client: Client, tenant: Tenant, saved_settings: OrgSettings
) -> None:
    add(owner_client, tenant)
    user = AdditionalAppUser.objects.get()
    html = member_client.get(page(tenant)).content.decode()
    assert EXTRA_ID in html and 'name="app_client_secret"' not in html
    assert add(member_client, tenant, "c7a9e1b3-5f6d-4a8b-8c2e-3f5b7d9e1a04").status_code == 403
    assert member_client.post(remove_url(tenant, user.pk)).status_code == 403
    assert AdditionalAppUser.objects.count() == 1


def test_an_outsider_gets_not_found(
    outsider_client: Client, owner_client: Client, tenant: Tenant, saved_settings: OrgSettings
) -> None:
    add(owner_client, tenant)
    user = AdditionalAppUser.objects.get()
    assert (
        outsider_client.post(
            add_url(tenant), {"app_client_id": EXTRA_ID, "app_client_secret": "x"}
        ).status_code
        == 404
    )
    assert outsider_client.post(remove_url(tenant, user.pk)).status_code == 404
    assert AdditionalAppUser.objects.count() == 1


def test_another_tenant_s_user_cannot_be_removed_through_this_tenant(
    owner_client: Client, tenant: Tenant, other_tenant: Tenant, saved_settings: OrgSettings
) -> None:
    OrgSettings.objects.create(
        tenant=other_tenant,
        crm_url="https://x.crm4.dynamics.com",
        deployment="online",
        client_id="c",
        client_secret="s",
    )
    theirs, _again = add_app_user(other_tenant, EXTRA_ID, "theirs", user=None)
    assert owner_client.post(remove_url(tenant, theirs.pk)).status_code == 404
    assert AdditionalAppUser.objects.filter(pk=theirs.pk).exists()


def test_a_changed_binding_disables_the_user_until_its_secret_is_entered_again(
    owner_client: Client, tenant: Tenant, saved_settings: OrgSettings
) -> None:
    add(owner_client, tenant)
    AdditionalAppUser.objects.update(check_passed_at=timezone.now())
    org = OrgSettings.objects.get(tenant=tenant)
    assert [u.client_id for u in connection_for(org).additional_users] == [EXTRA_ID]
    # The main secret is entered again with the new CRM URL; the extra one is not.
    response = owner_client.post(
        page(tenant), settings_post(crm_url="https://fabrikam.crm4.dynamics.com")
    )
    assert response.status_code == 302
    org.refresh_from_db()
    assert usable_app_users(org) == []
    assert connection_for(org).additional_users == ()
    html = owner_client.get(page(tenant)).content.decode()
    assert "Enter the secret again" in html
    # Entering it again binds it to the new settings (and asks for a new check).
    html = add(owner_client, tenant, secret="renewed").content.decode()
    assert f"The secret of {EXTRA_ID} was entered again" in html
    user = AdditionalAppUser.objects.get()
    assert user.client_secret == "renewed" and user.check_passed_at is None
    assert "Enter the secret again" not in html


def test_only_an_online_crm_has_additional_users(
    owner_client: Client, tenant: Tenant, saved_settings: OrgSettings
) -> None:
    services.save_org_settings(
        [tenant],
        {
            **{
                k: getattr(saved_settings, k)
                for k in (
                    "crm_url",
                    "directory_tenant_id",
                    "client_id",
                    "authority_url",
                    "ca_bundle",
                    "reaction_mode",
                )
            },
            "deployment": "on_premise",
            "onprem_username": "CONTOSO\\sync",
        },
        {"onprem_password": "pw"},
        user=None,
    )
    html = add(owner_client, tenant).content.decode()
    assert "exist only for an Online CRM" in html
    assert not AdditionalAppUser.objects.exists()
