"""Bootstrap without the demo seed (#19): operators — Django staff users — create tenants
and invite their administrators, through ``operator/`` or ``manage.py create_tenant``.
Everybody else gets 403 there; the invited person becomes a member only by accepting."""

from __future__ import annotations

import re
from collections.abc import Callable
from io import StringIO

import pytest
from django.contrib.auth.models import AbstractUser
from django.core import mail
from django.core.management import CommandError, call_command
from django.test import Client
from rest_framework.test import APIClient

from tenants.models import Invitation, Membership, Role, Tenant
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db

TENANTS = "/api/v1/operator/tenants/"


@pytest.fixture
def operator(make_user: Callable[..., AbstractUser]) -> AbstractUser:
    user = make_user("ops@mailworx.example")
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    return user


@pytest.fixture
def operator_api(operator: AbstractUser) -> APIClient:
    return token_client(operator)


def test_an_operator_creates_a_tenant_and_invites_its_administrator(
        operator_api: APIClient, settings: object) -> None:
    made = operator_api.post(TENANTS, {"name": "Initech", "slug": "initech",
                                       "default_language": "en"}, format="json")
    assert made.status_code == 201, made.content
    assert made.json()["administrators"] == [] and made.json()["default_language"] == "en"
    taken = operator_api.post(TENANTS, {"name": "Again", "slug": "initech"}, format="json")
    assert taken.status_code == 400 and "slug" in taken.json()
    invited = operator_api.post(f"{TENANTS}initech/invitations/",
                                {"email": "boss@initech.example"}, format="json")
    assert invited.status_code == 201, invited.content
    assert invited.json()["role"] == "administrator"
    assert invited.json()["invited_by"] == "ops@mailworx.example"
    assert "initech" not in [m.tenant.slug for m in Membership.objects.all()]
    assert len(mail.outbox) == 1 and "boss@initech.example" in mail.outbox[0].to
    assert "/invitations/" in mail.outbox[0].body
    listed = operator_api.get(f"{TENANTS}initech/invitations/").json()["results"]
    assert [i["email"] for i in listed] == ["boss@initech.example"]
    assert operator_api.get(f"{TENANTS}initech/").json()["pending_invitations"] == 1
    withdrawn = operator_api.delete(f"{TENANTS}initech/invitations/{listed[0]['id']}/")
    assert withdrawn.status_code == 204 and not Invitation.objects.exists()
    assert operator_api.get(f"{TENANTS}nope/invitations/").status_code == 404


def test_operators_see_every_tenant(operator_api: APIClient, tenant: Tenant,
                                    other_tenant: Tenant, owner: AbstractUser) -> None:
    rows = operator_api.get(TENANTS).json()["results"]
    assert {r["slug"] for r in rows} == {"acme", "globex"}
    acme = operator_api.get(f"{TENANTS}acme/").json()
    assert acme["administrators"] == ["owner@acme.example"]


def test_an_operator_without_membership_is_an_outsider_to_the_tenant(
        operator_api: APIClient, tenant: Tenant) -> None:
    assert operator_api.get("/api/v1/tenants/acme/subscribers/").status_code == 404


@pytest.mark.parametrize("who", ["owner", "member", "outsider"])
def test_nobody_but_operators(who: str, request: pytest.FixtureRequest,
                              tenant: Tenant) -> None:
    client = token_client(request.getfixturevalue(who))
    assert client.get(TENANTS).status_code == 403
    assert client.post(TENANTS, {"name": "X", "slug": "x"}, format="json").status_code == 403
    assert client.get(f"{TENANTS}acme/").status_code == 403
    assert client.post(f"{TENANTS}acme/invitations/", {"email": "x@example.com"},
                       format="json").status_code == 403
    assert not Tenant.objects.filter(slug="x").exists() and not Invitation.objects.exists()
    assert APIClient().get(TENANTS).status_code in (401, 403)


def test_the_command_bootstraps_a_tenant(settings: object, client: Client) -> None:
    settings.PUBLIC_BASE_URL = "https://mailworx.example"  # type: ignore[attr-defined]
    out = StringIO()
    call_command("create_tenant", "--name", "Initech", "--slug", "initech", "--language",
                 "en", "--invite", "boss@initech.example", stdout=out)
    tenant = Tenant.objects.get(slug="initech")
    assert tenant.default_language == "en"
    invitation = Invitation.objects.get(tenant=tenant)
    assert invitation.role == Role.ADMINISTRATOR and "Invited boss@initech.example" in (
        out.getvalue())
    [message] = mail.outbox
    links = re.findall(r"^(https?://\S+)$", message.body, flags=re.M)
    assert len(links) == 2 and all(u.startswith("https://mailworx.example/") for u in links)
    # The emailed link is the real thing: set the password, accept, be an administrator.
    reset_path = links[0].removeprefix("https://mailworx.example")
    page = client.get(reset_path, follow=True)
    assert client.post(page.redirect_chain[-1][0], {
        "new_password1": "a new password 4 boss", "new_password2": "a new password 4 boss"},
    ).status_code == 302
    assert client.login(username="boss@initech.example", password="a new password 4 boss")
    accept_path = links[1].removeprefix("https://mailworx.example")
    assert client.post(accept_path, {"action": "accept"}).status_code == 302
    assert Membership.objects.get(tenant=tenant).role == Role.ADMINISTRATOR

    call_command("create_tenant", "--slug", "initech", "--existing", "--invite",
                 "clerk@initech.example", "--role", "user", stdout=StringIO())
    assert Invitation.objects.get(tenant=tenant).role == Role.USER
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_tenant", "--name", "Again", "--slug", "initech",
                     stdout=StringIO())
    with pytest.raises(CommandError, match="no tenant"):
        call_command("create_tenant", "--slug", "nope", "--existing", stdout=StringIO())
