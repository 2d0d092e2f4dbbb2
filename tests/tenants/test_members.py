"""Membership management (C1): who may see and change a tenant's members."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tenants.models import Membership, Role, Tenant

pytestmark = pytest.mark.django_db


def members_url(tenant: Tenant) -> str:
    return reverse("tenants:members", kwargs={"tenant": tenant.slug})


def test_it_lists_members_to_owner_and_member(
    owner_client: Client, member_client: Client, tenant: Tenant, member: object
) -> None:
    for client in (owner_client, member_client):
        response = client.get(members_url(tenant))
        assert response.status_code == 200
        assert b"member@acme.example" in response.content
        assert b"owner@acme.example" in response.content


def test_it_hides_tenant_from_outsider(outsider_client: Client, tenant: Tenant) -> None:
    assert outsider_client.get(members_url(tenant)).status_code == 404
    response = outsider_client.post(members_url(tenant), {"email": "x@y.example", "role": "user"})
    assert response.status_code == 404
    assert not Membership.objects.filter(tenant=tenant, user__email="x@y.example").exists()


def test_it_redirects_anonymous_to_login(client: Client, tenant: Tenant) -> None:
    response = client.get(members_url(tenant))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


# Adding a member is an invitation: tests/tenants/test_invitations.py.


def test_adding_a_member_twice_is_refused(owner_client: Client, tenant: Tenant, member: object
                                          ) -> None:
    response = owner_client.post(members_url(tenant), {"email": "member@acme.example",
                                                       "role": "user"})
    assert response.status_code == 200
    assert b"already a member" in response.content


def test_member_cannot_change_members(
    member_client: Client, tenant: Tenant, owner: object, member: object
) -> None:
    response = member_client.post(members_url(tenant), {"email": "x@y.example", "role": "user"})
    assert response.status_code == 403
    owner_membership = Membership.objects.get(tenant=tenant, user__email="owner@acme.example")
    url = reverse("tenants:change_role", kwargs={"tenant": tenant.slug, "pk": owner_membership.pk})
    assert member_client.post(url, {"role": "user"}).status_code == 403
    url = reverse("tenants:remove_member",
                  kwargs={"tenant": tenant.slug, "pk": owner_membership.pk})
    assert member_client.post(url).status_code == 403
    owner_membership.refresh_from_db()
    assert owner_membership.role == Role.ADMINISTRATOR


def test_last_administrator_cannot_be_demoted_or_removed(
    owner_client: Client, tenant: Tenant, owner: object
) -> None:
    m = Membership.objects.get(tenant=tenant, role=Role.ADMINISTRATOR)
    role_url = reverse("tenants:change_role", kwargs={"tenant": tenant.slug, "pk": m.pk})
    response = owner_client.post(role_url, {"role": "user"}, follow=True)
    assert b"last administrator" in response.content
    remove_url = reverse("tenants:remove_member", kwargs={"tenant": tenant.slug, "pk": m.pk})
    response = owner_client.post(remove_url, follow=True)
    assert b"last administrator" in response.content
    m.refresh_from_db()
    assert m.role == Role.ADMINISTRATOR


def test_owner_demotes_and_removes_when_another_admin_exists(
    owner_client: Client, tenant: Tenant, owner: object, member: object
) -> None:
    member_m = Membership.objects.get(tenant=tenant, user__email="member@acme.example")
    url = reverse("tenants:change_role", kwargs={"tenant": tenant.slug, "pk": member_m.pk})
    owner_client.post(url, {"role": "administrator"})
    member_m.refresh_from_db()
    assert member_m.role == Role.ADMINISTRATOR
    owner_m = Membership.objects.get(tenant=tenant, user__email="owner@acme.example")
    url = reverse("tenants:change_role", kwargs={"tenant": tenant.slug, "pk": owner_m.pk})
    owner_client.post(url, {"role": "user"})
    owner_m.refresh_from_db()
    assert owner_m.role == Role.USER


def test_membership_of_another_tenant_is_not_found(
    owner_client: Client, tenant: Tenant, outsider: object, other_tenant: Tenant
) -> None:
    foreign = Membership.objects.get(tenant=other_tenant)
    url = reverse("tenants:remove_member", kwargs={"tenant": tenant.slug, "pk": foreign.pk})
    assert owner_client.post(url).status_code == 404
    assert Membership.objects.filter(pk=foreign.pk).exists()
