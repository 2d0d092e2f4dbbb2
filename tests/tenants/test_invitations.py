"""Adding a member is an invitation (C1): the members page answers the same whether or not
the address has an account, and nobody becomes a member before accepting, logged in as the
invited account, through the emailed link."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core import mail
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from tenants.models import Invitation, Membership, Role, Tenant
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
NEW_PASSWORD = "a brand new passphrase 9731"


def members_url(tenant: Tenant) -> str:
    return reverse("tenants:members", kwargs={"tenant": tenant.slug})


def invite(client: Client, tenant: Tenant, email: str, role: str = "user") -> object:
    return client.post(members_url(tenant), {"email": email, "role": role})


def link(body: str, path: str) -> str:
    found = re.search(r"https?://[^/\s]+(" + re.escape(path) + r"\S+)", body)
    assert found is not None, body
    return found.group(1)


def logged_in(user: AbstractUser) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_known_and_unknown_addresses_get_the_same_answer(
        owner_client: Client, tenant: Tenant, outsider: AbstractUser) -> None:
    known = invite(owner_client, tenant, "Outsider@Globex.example ", "administrator")
    unknown = invite(owner_client, tenant, "nobody@new.example", "administrator")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"] == members_url(tenant)
    page = owner_client.get(members_url(tenant)).content.decode()
    # The messages differ only by the address.
    messages = [m.replace("outsider@globex.example", "X").replace("nobody@new.example", "X")
                for m in re.findall(r"Invitation sent to [^<]*", page)]
    assert len(messages) == 2 and messages[0] == messages[1]
    # Neither is a member yet; both are listed alike, as invitations.
    assert not Membership.objects.filter(tenant=tenant, role=Role.ADMINISTRATOR)\
        .exclude(user__email="owner@acme.example").exists()
    invitations = Invitation.objects.filter(tenant=tenant)
    assert {i.user.email for i in invitations} == {"outsider@globex.example",
                                                   "nobody@new.example"}
    for invitation in invitations:
        row = re.search(rf'<tr id="invitation-{invitation.pk}">(.*?)</tr>', page, re.S)
        assert row is not None and "Administrator" in row.group(1)


def test_an_existing_user_is_invited_to_accept_not_added(
        owner_client: Client, tenant: Tenant, outsider: AbstractUser) -> None:
    invite(owner_client, tenant, "outsider@globex.example", "administrator")
    assert not Membership.objects.filter(tenant=tenant, user=outsider).exists()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["outsider@globex.example"]
    body = mail.outbox[0].body
    assert "/accounts/reset/" not in body  # no way to set their password from here
    accept = link(body, "/invitations/")
    assert "Acme Newsletter" in mail.outbox[0].subject

    # Not logged in: log in first, then back to the invitation.
    anonymous = Client().get(accept)
    assert anonymous.status_code == 302 and reverse("login") in anonymous["Location"]
    # Another account finds nothing.
    stranger = get_user_model().objects.create_user("x", "x@x.example", PASSWORD)
    assert logged_in(stranger).get(accept).status_code == 404

    client = logged_in(outsider)
    page = client.get(accept)
    assert page.status_code == 200 and b"Acme Newsletter" in page.content
    done = client.post(accept, {"action": "accept"})
    assert done.status_code == 302
    membership = Membership.objects.get(tenant=tenant, user=outsider)
    assert membership.role == Role.ADMINISTRATOR
    assert not Invitation.objects.exists()
    assert client.get(members_url(tenant)).status_code == 200
    assert client.get(accept).status_code == 404  # used up


def test_a_new_address_sets_a_password_then_accepts(owner_client: Client, tenant: Tenant
                                                    ) -> None:
    invite(owner_client, tenant, "new@acme.example")
    user = get_user_model().objects.get(email="new@acme.example")
    assert not user.has_usable_password()
    assert not Membership.objects.filter(user=user).exists()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["new@acme.example"]
    body = mail.outbox[0].body
    client = Client()
    form_url = client.get(link(body, "/accounts/reset/"))["Location"]
    client.post(form_url, {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD})
    assert client.login(username="new@acme.example", password=NEW_PASSWORD)
    accept = link(body, "/invitations/")
    client.post(accept, {"action": "accept"})
    assert Membership.objects.get(user=user, tenant=tenant).role == Role.USER


def test_declining_removes_the_invitation(owner_client: Client, tenant: Tenant,
                                          outsider: AbstractUser) -> None:
    invite(owner_client, tenant, "outsider@globex.example")
    accept = link(mail.outbox[0].body, "/invitations/")
    logged_in(outsider).post(accept, {"action": "decline"})
    assert not Invitation.objects.exists()
    assert not Membership.objects.filter(tenant=tenant, user=outsider).exists()


def test_an_expired_invitation_is_not_found(owner_client: Client, tenant: Tenant,
                                            outsider: AbstractUser) -> None:
    invite(owner_client, tenant, "outsider@globex.example")
    Invitation.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    client = logged_in(outsider)
    accept = link(mail.outbox[0].body, "/invitations/")
    assert client.post(accept, {"action": "accept"}).status_code == 404
    assert not Membership.objects.filter(tenant=tenant, user=outsider).exists()


def test_inviting_again_renews_the_invitation(owner_client: Client, tenant: Tenant,
                                              outsider: AbstractUser) -> None:
    invite(owner_client, tenant, "outsider@globex.example")
    first = link(mail.outbox[0].body, "/invitations/")
    invite(owner_client, tenant, "outsider@globex.example", "administrator")
    assert Invitation.objects.get().role == Role.ADMINISTRATOR
    client = logged_in(outsider)
    assert client.get(first).status_code == 404  # only the newest link works
    client.post(link(mail.outbox[1].body, "/invitations/"), {"action": "accept"})
    assert Membership.objects.get(tenant=tenant, user=outsider).role == Role.ADMINISTRATOR


def test_the_owner_withdraws_an_invitation(owner_client: Client, member_client: Client,
                                           outsider_client: Client, tenant: Tenant,
                                           make_user: Callable[..., AbstractUser]) -> None:
    invitee = make_user("invitee@x.example")
    invite(owner_client, tenant, "invitee@x.example")
    invitation = Invitation.objects.get()
    url = reverse("tenants:cancel_invitation", kwargs={"tenant": tenant.slug,
                                                       "pk": invitation.pk})
    assert outsider_client.post(url).status_code == 404
    assert member_client.post(url).status_code == 403
    assert Invitation.objects.exists()
    assert owner_client.post(url).status_code == 302
    assert not Invitation.objects.exists()
    accept = link(mail.outbox[0].body, "/invitations/")
    assert logged_in(invitee).post(accept, {"action": "accept"}).status_code == 404
    assert not Membership.objects.filter(user=invitee).exists()


def test_an_outsider_cannot_invite_or_see_invitations(owner_client: Client,
                                                      outsider_client: Client,
                                                      tenant: Tenant) -> None:
    invite(owner_client, tenant, "invitee@x.example")
    assert outsider_client.get(members_url(tenant)).status_code == 404
    assert invite(outsider_client, tenant, "other@x.example").status_code == 404
    assert Invitation.objects.count() == 1


def test_members_see_invitations_but_cannot_invite(owner_client: Client,
                                                   member_client: Client,
                                                   tenant: Tenant) -> None:
    invite(owner_client, tenant, "invitee@x.example")
    page = member_client.get(members_url(tenant)).content.decode()
    assert "invitee@x.example" in page and "Withdraw" not in page
    assert invite(member_client, tenant, "other@x.example").status_code == 403


def test_the_integration_role_cannot_be_given_by_invitation(owner_client: Client,
                                                            tenant: Tenant) -> None:
    response = invite(owner_client, tenant, "bot@x.example", "integration")
    assert response.status_code == 200 and not Invitation.objects.exists()


def test_an_address_that_is_another_accounts_user_name_answers_like_any_other(
        owner_client: Client, tenant: Tenant) -> None:
    get_user_model().objects.create_user(username="ops@example.com",
                                         email="someone@else.example")
    for email in ("ops@example.com", "fresh@example.com"):
        response = owner_client.post(f"/t/{tenant.slug}/members/",
                                     {"email": email, "role": "user"})
        assert response.status_code == 302, email
    a = "x" * 140 + "@example.com"  # longer than a user name may be
    assert owner_client.post(f"/t/{tenant.slug}/members/",
                             {"email": a, "role": "user"}).status_code == 302
