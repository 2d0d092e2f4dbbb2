"""The integration account (C8) is no member like others: the members page shows it as the
integration account without a role choice or remove button, the role and remove doors
refuse it, and only "prepare mailworx" (re-issue) or "Revoke integration access" on the
setup page change it. It never logs into the UI."""

from __future__ import annotations

import base64

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from orgsettings.integration_access import IssuedCredentials, prepare_mailworx
from orgsettings.models import IntegrationAccess, OrgSettings
from tenants.models import ApiToken, Membership, Role, Tenant

pytestmark = pytest.mark.django_db
CRM_EVENT = "/api/v1/tenants/acme/crm-events/list-marked/"
BODY = {"list_id": "0b8f6f2e-5e0a-4c59-9d61-8f6a2b0d7c11"}


@pytest.fixture
def issued(saved_settings: OrgSettings, tenant: Tenant, owner: AbstractUser
           ) -> IssuedCredentials:
    return prepare_mailworx(tenant, user=owner)


def bot_membership(tenant: Tenant) -> Membership:
    return Membership.objects.get(tenant=tenant, role=Role.INTEGRATION)


def url(name: str, tenant: Tenant, **kwargs: int) -> str:
    return reverse(name, kwargs={"tenant": tenant.slug, **kwargs})


def crm_side(issued: IssuedCredentials, *, token: bool) -> APIClient:
    client = APIClient()
    if token:
        auth = f"Token {issued.token}"
    else:
        auth = "Basic " + base64.b64encode(
            f"{issued.username}:{issued.password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=auth,
                       HTTP_X_MAILWORX_ACTIVATION_KEY=issued.activation_key)
    return client


def test_members_page_shows_the_integration_account_without_controls(
        owner_client: Client, issued: IssuedCredentials, tenant: Tenant) -> None:
    pk = bot_membership(tenant).pk
    html = owner_client.get(url("tenants:members", tenant)).content.decode()
    start = html.index(f'<tr id="membership-{pk}">')
    row = html[start:html.index("</tr>", start)]
    assert "integration-acme" in row and "Integration account (CRM)" in row
    assert "<select" not in row and "Administrator" not in row
    assert url("tenants:remove_member", tenant, pk=pk) not in html
    assert url("tenants:change_role", tenant, pk=pk) not in html


@pytest.mark.parametrize("role", ["administrator", "user"])
def test_the_integration_account_cannot_be_promoted(
        owner_client: Client, issued: IssuedCredentials, tenant: Tenant, role: str) -> None:
    membership = bot_membership(tenant)
    response = owner_client.post(url("tenants:change_role", tenant, pk=membership.pk),
                                 {"role": role}, follow=True)
    assert b"The integration account (CRM) is not changed here" in response.content
    membership.refresh_from_db()
    assert membership.role == Role.INTEGRATION
    # So it still cannot log into the UI.
    login = Client().post(reverse("login"), {"username": issued.username,
                                             "password": issued.password})
    assert login.status_code == 200 and b"can only call the API" in login.content


def test_the_integration_account_cannot_be_removed_on_the_members_page(
        owner_client: Client, issued: IssuedCredentials, tenant: Tenant) -> None:
    membership = bot_membership(tenant)
    response = owner_client.post(url("tenants:remove_member", tenant, pk=membership.pk),
                                 follow=True)
    assert b"The integration account (CRM) is not changed here" in response.content
    assert Membership.objects.filter(pk=membership.pk).exists()
    assert crm_side(issued, token=True).post(CRM_EVENT, BODY, format="json").status_code == 202


def test_the_integration_role_cannot_be_given_to_a_person(
        owner_client: Client, member: AbstractUser, tenant: Tenant) -> None:
    membership = Membership.objects.get(user=member, tenant=tenant)
    owner_client.post(url("tenants:change_role", tenant, pk=membership.pk),
                      {"role": "integration"})
    membership.refresh_from_db()
    assert membership.role == Role.USER


def test_the_owner_revokes_integration_access(
        owner_client: Client, issued: IssuedCredentials, tenant: Tenant,
        owner: AbstractUser) -> None:
    setup = owner_client.get(url("orgsettings:progress", tenant)).content.decode()
    assert "Revoke integration access" in setup
    response = owner_client.post(url("orgsettings:revoke", tenant), follow=True)
    assert b"Integration access revoked" in response.content
    assert not IntegrationAccess.objects.filter(tenant=tenant).exists()
    assert not Membership.objects.filter(tenant=tenant, role=Role.INTEGRATION).exists()
    assert not get_user_model().objects.filter(username="integration-acme").exists()
    assert not ApiToken.objects.exists()
    # Setup no longer says "prepared"; the CRM side is locked out by token and password.
    html = response.content.decode()
    assert "Prepared on" not in html and "Revoke integration access" not in html
    assert crm_side(issued, token=True).post(CRM_EVENT, BODY, format="json").status_code == 401
    assert crm_side(issued, token=False).post(CRM_EVENT, BODY,
                                              format="json").status_code == 401
    # Preparing again gives the CRM side new credentials.
    again = owner_client.post(url("orgsettings:prepare", tenant)).context["issued"]
    assert crm_side(again, token=True).post(CRM_EVENT, BODY, format="json").status_code == 202


def test_revoking_when_not_prepared_says_so(owner_client: Client, saved_settings: OrgSettings,
                                            tenant: Tenant) -> None:
    response = owner_client.post(url("orgsettings:revoke", tenant), follow=True)
    assert b"there is no access to revoke" in response.content


def test_only_administrators_revoke_and_outsiders_find_nothing(
        member_client: Client, outsider_client: Client, issued: IssuedCredentials,
        tenant: Tenant) -> None:
    setup = member_client.get(url("orgsettings:progress", tenant)).content.decode()
    assert "Revoke integration access" not in setup
    assert member_client.post(url("orgsettings:revoke", tenant)).status_code == 403
    assert outsider_client.post(url("orgsettings:revoke", tenant)).status_code == 404
    assert outsider_client.get(url("orgsettings:revoke", tenant)).status_code == 404
    assert IntegrationAccess.objects.filter(tenant=tenant).exists()
    assert crm_side(issued, token=True).post(CRM_EVENT, BODY, format="json").status_code == 202


def test_the_prepared_page_shows_the_token_once(owner_client: Client, tenant: Tenant,
                                                saved_settings: OrgSettings) -> None:
    response = owner_client.post(url("orgsettings:prepare", tenant))
    token = response.context["issued"].token
    assert token in response.content.decode()
    assert token not in owner_client.get(url("orgsettings:progress", tenant)).content.decode()
    assert ApiToken.objects.get(user__username="integration-acme").expiry is None
