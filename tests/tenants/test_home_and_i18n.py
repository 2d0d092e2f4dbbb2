"""Tenant picker, switcher, login and the two UI languages (C1, C16)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tenants.models import Membership, Role, Tenant

pytestmark = pytest.mark.django_db


def test_home_lists_only_own_tenants(
    owner_client: Client, owner: object, tenant: Tenant, other_tenant: Tenant
) -> None:
    third = Tenant.objects.create(name="Initech Letters", slug="initech")
    Membership.objects.create(user=owner, tenant=third, role=Role.USER)  # type: ignore[misc]
    response = owner_client.get(reverse("tenants:home"))
    assert response.status_code == 200
    assert b"Acme Newsletter" in response.content
    assert b"Initech Letters" in response.content
    assert b"Globex Mailings" not in response.content


def test_home_with_one_tenant_goes_straight_to_it(owner_client: Client, tenant: Tenant) -> None:
    response = owner_client.get(reverse("tenants:home"))
    assert response.status_code == 302
    assert response["Location"] == tenant.get_absolute_url()


def test_dashboard_is_not_found_for_outsider(outsider_client: Client, tenant: Tenant) -> None:
    assert outsider_client.get(tenant.get_absolute_url()).status_code == 404


def test_login_page_and_login(client: Client, owner: object) -> None:
    assert client.get(reverse("login")).status_code == 200
    response = client.post(reverse("login"), {"username": "owner@acme.example",
                                              "password": "correct horse battery staple 42"})
    assert response.status_code == 302


def test_password_reset_sends_mail(client: Client, owner: object) -> None:
    from django.core import mail

    response = client.post(reverse("password_reset"), {"email": "owner@acme.example"})
    assert response.status_code == 302
    assert len(mail.outbox) == 1


@pytest.mark.parametrize(
    ("language", "expected"),
    [("en", "Invite a member"), ("de", "Benutzer einladen")],
)
def test_page_renders_in_each_language(
    owner_client: Client, tenant: Tenant, language: str, expected: str
) -> None:
    owner_client.post(reverse("set_language"), {"language": language})
    response = owner_client.get(reverse("tenants:members", kwargs={"tenant": tenant.slug}))
    assert expected in response.content.decode()
    assert f'<html lang="{language}">' in response.content.decode()


def test_the_integration_user_cannot_log_into_the_ui(client: Client, tenant: Tenant) -> None:
    from orgsettings.integration_access import prepare_mailworx
    from orgsettings.models import Deployment, ReactionMode
    from orgsettings.services import save_org_settings

    save_org_settings([tenant], {"crm_url": "https://contoso.crm4.dynamics.com",
                                 "deployment": Deployment.ONLINE, "directory_tenant_id": "t",
                                 "client_id": "c", "reaction_mode": ReactionMode.RELATIVE},
                      {"client_secret": "s"}, user=None)
    issued = prepare_mailworx(tenant, user=None)
    response = client.post(reverse("login"), {"username": issued.username,
                                              "password": issued.password})
    assert response.status_code == 200
    assert "can only call the API" in response.content.decode()
    assert "_auth_user_id" not in client.session
