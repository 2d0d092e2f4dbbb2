"""API tokens (django-rest-knox): every request issues a new token, stored as a digest,
expiring, listed and revocable by its owner (API and the "API tokens" page), and ended by
a password change, a password reset, an administrator's new password and the removal
from a tenant. The integration user's token comes from "prepare mailworx" only."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.core import mail
from django.core.management import call_command
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from tenants.models import ApiToken, Membership, Tenant
from tests.api.conftest import Integration
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db
OBTAIN = "/api/v1/auth/token/"
ROTATE = "/api/v1/auth/token/rotate/"
TOKENS = "/api/v1/auth/tokens/"
PAGE = "/api/v1/account/token/"
NEW_PASSWORD = "a brand new passphrase 9731"


def obtain(user: AbstractUser, name: str = "", password: str = PASSWORD) -> str:
    response = APIClient().post(OBTAIN, {"username": user.username, "password": password,
                                         "name": name}, format="json")
    assert response.status_code == 200, response.content
    secret: str = response.json()["token"]
    return secret


def with_token(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def works(secret: str, path: str = "/api/v1/tenants/") -> bool:
    status = with_token(secret).get(path).status_code
    assert status in (200, 401), status
    return status == 200


def test_every_request_issues_a_new_token(owner: AbstractUser, tenant: Tenant,
                                          settings: object) -> None:
    settings.API_TOKEN_TTL_HOURS = 48  # type: ignore[attr-defined]
    bad = APIClient().post(OBTAIN, {"username": owner.username, "password": "x"},
                           format="json")
    assert bad.status_code == 400
    response = APIClient().post(OBTAIN, {"username": owner.username, "password": PASSWORD,
                                         "name": "nightly export"}, format="json")
    body = response.json()
    assert response.status_code == 200 and body["name"] == "nightly export"
    second = obtain(owner)
    assert second != body["token"]
    assert works(body["token"]) and works(second)  # the first one still works
    assert ApiToken.objects.filter(user=owner).count() == 2
    token = ApiToken.objects.get(pk=body["id"])
    expected = timezone.now() + timedelta(hours=48)
    assert abs((token.expiry - expected).total_seconds()) < 60


def test_tokens_are_stored_as_digests_only(owner: AbstractUser) -> None:
    secret = obtain(owner)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM tenants_apitoken")
        rows = cursor.fetchall()
    assert rows and not any(secret in str(value) for row in rows for value in row)


def test_an_expired_token_stops_working(owner: AbstractUser) -> None:
    secret = obtain(owner)
    assert works(secret)
    ApiToken.objects.filter(user=owner).update(expiry=timezone.now() - timedelta(seconds=1))
    assert not works(secret)
    assert not ApiToken.objects.filter(user=owner).exists()  # knox deletes it


def test_a_token_issued_before_the_upgrade_is_refused(owner: AbstractUser) -> None:
    # DRF authtoken's format: 40 hex characters, stored in plain text in authtoken_token.
    assert not works("9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b")
    assert "authtoken_token" not in connection.introspection.table_names()


def test_the_owner_lists_tokens_without_secrets(owner: AbstractUser, member: AbstractUser
                                                ) -> None:
    first = obtain(owner, "reporting")
    obtain(owner, "backup")
    obtain(member, "someone else's")
    client = with_token(first)
    client.get("/api/v1/tenants/")
    listed = client.get(TOKENS)
    assert listed.status_code == 200
    rows = listed.json()
    assert {r["name"] for r in rows} == {"reporting", "backup"}
    assert set(rows[0]) == {"id", "name", "created", "expiry", "last_used", "current"}
    assert first not in listed.content.decode()
    by_name = {r["name"]: r for r in rows}
    assert by_name["reporting"]["current"] is True and by_name["reporting"]["last_used"]
    assert by_name["backup"]["current"] is False and by_name["backup"]["last_used"] is None


def test_the_owner_revokes_a_token_through_the_api(owner: AbstractUser,
                                                   member: AbstractUser) -> None:
    keep, drop = obtain(owner, "keep"), obtain(owner, "drop")
    theirs = obtain(member)
    drop_id = ApiToken.objects.get(user=owner, name="drop").pk
    theirs_id = ApiToken.objects.get(user=member).pk
    client = with_token(keep)
    assert client.delete(f"{TOKENS}{theirs_id}/").status_code == 404  # not the caller's
    assert works(theirs)
    assert client.delete(f"{TOKENS}{drop_id}/").status_code == 204
    assert not works(drop) and works(keep)
    assert client.delete(f"{TOKENS}{drop_id}/").status_code == 404


def test_rotate_replaces_only_the_calling_token(owner: AbstractUser) -> None:
    old, other = obtain(owner, "ci"), obtain(owner, "other")
    response = with_token(old).post(ROTATE)
    assert response.status_code == 200
    new = response.json()["token"]
    assert response.json()["name"] == "ci"
    assert not works(old) and works(new) and works(other)


def test_password_change_ends_every_token(owner: AbstractUser, owner_client: Client) -> None:
    secrets = [obtain(owner), obtain(owner)]
    response = owner_client.post(reverse("password_change"), {
        "old_password": PASSWORD, "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD})
    assert response.status_code == 302, response.content
    owner.refresh_from_db()
    assert owner.check_password(NEW_PASSWORD)
    assert not any(works(s) for s in secrets)


def test_password_reset_ends_every_token(owner: AbstractUser) -> None:
    secret = obtain(owner)
    client = Client()
    client.post(reverse("password_reset"), {"email": owner.email})
    link = re.search(r"https?://[^/\s]+(/accounts/reset/\S+)", mail.outbox[0].body)
    assert link is not None
    form_url = client.get(link.group(1))["Location"]
    response = client.post(form_url, {"new_password1": NEW_PASSWORD,
                                      "new_password2": NEW_PASSWORD})
    assert response.status_code == 302 and "/accounts/reset/done/" in response["Location"]
    assert not works(secret)
    assert works(obtain(owner, password=NEW_PASSWORD))


def test_a_password_set_in_the_admin_ends_every_token(owner: AbstractUser) -> None:
    secret = obtain(owner)
    admin = get_user_model().objects.create_superuser("root", "root@x.example", PASSWORD)
    client = Client()
    client.force_login(admin)
    response = client.post(reverse("admin:auth_user_password_change", args=[owner.pk]),
                           {"usable_password": "true", "password1": NEW_PASSWORD,
                            "password2": NEW_PASSWORD})
    assert response.status_code == 302, response.content
    assert not works(secret)


def test_removal_from_a_tenant_ends_every_token(owner_client: Client, owner: AbstractUser,
                                                member: AbstractUser, tenant: Tenant,
                                                other_tenant: Tenant) -> None:
    Membership.objects.create(user=member, tenant=other_tenant, role="user")
    secret = obtain(member)
    assert works(secret, "/api/v1/tenants/acme/runs/")
    membership = Membership.objects.get(user=member, tenant=tenant)
    owner_client.post(reverse("tenants:remove_member",
                              kwargs={"tenant": tenant.slug, "pk": membership.pk}))
    assert not Membership.objects.filter(pk=membership.pk).exists()
    # All of the person's tokens end, also for the tenant they still belong to.
    assert not works(secret, "/api/v1/tenants/acme/runs/")
    assert not works(secret, "/api/v1/tenants/globex/runs/")


def test_the_token_page_lists_creates_and_revokes(owner_client: Client, owner: AbstractUser
                                                  ) -> None:
    page = owner_client.get(PAGE)
    assert page.status_code == 200 and b"You have no token" in page.content
    created = owner_client.post(PAGE, {"action": "create", "name": "Power BI"})
    assert created["Cache-Control"] == "no-store"
    secret = created.context["new_secret"]
    assert secret.encode() in created.content and works(secret)
    again = owner_client.post(PAGE, {"action": "create", "name": "second"})
    assert again.context["new_secret"] != secret  # every request: a new token
    later = owner_client.get(PAGE).content.decode()
    assert secret not in later and "Power BI" in later and "second" in later
    token = ApiToken.objects.get(user=owner, name="Power BI")
    revoked = owner_client.post(PAGE, {"action": "revoke", "token": token.pk}, follow=True)
    assert b"The token was revoked" in revoked.content
    assert not works(secret)
    assert Client().get(PAGE).status_code == 302  # log in first


def test_the_token_page_revokes_only_own_tokens(owner_client: Client, member: AbstractUser
                                                ) -> None:
    theirs = obtain(member)
    token = ApiToken.objects.get(user=member)
    assert owner_client.post(PAGE, {"action": "revoke", "token": token.pk}).status_code == 404
    assert works(theirs)


def test_the_integration_token_does_not_expire_and_prepare_again_ends_it(
        integration: Integration, owner_client: Client, tenant: Tenant) -> None:
    token = ApiToken.objects.get(user__username="integration-acme")
    assert token.expiry is None
    path = "/api/v1/tenants/acme/crm-events/list-marked/"
    body = {"list_id": "0b8f6f2e-5e0a-4c59-9d61-8f6a2b0d7c11"}
    assert integration.token_client.post(path, body, format="json").status_code == 202
    reissued = owner_client.post(reverse("orgsettings:reissue",
                                         kwargs={"tenant": tenant.slug})).context["issued"]
    assert integration.token_client.post(path, body, format="json").status_code == 401
    fresh = APIClient()
    fresh.credentials(HTTP_AUTHORIZATION=f"Token {reissued.token}",
                      HTTP_X_MAILWORX_ACTIVATION_KEY=reissued.activation_key)
    assert fresh.post(path, body, format="json").status_code == 202


def test_the_integration_user_manages_no_tokens_itself(integration: Integration) -> None:
    response = APIClient().post(OBTAIN, {"username": integration.username,
                                         "password": integration.password}, format="json")
    assert response.status_code == 403 and "prepare mailworx" in response.json()["detail"]
    assert integration.token_client.get(TOKENS).status_code == 403
    assert integration.token_client.post(ROTATE).status_code == 403
    assert ApiToken.objects.filter(user__username="integration-acme").count() == 1


def test_the_schema_validates_without_warnings() -> None:
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", os.devnull)


def test_failed_token_requests_count_towards_the_lockout(owner: AbstractUser,
                                                         settings: object) -> None:
    settings.AXES_ENABLED = True  # type: ignore[attr-defined]
    client = APIClient()
    for _attempt in range(5):
        client.post(OBTAIN, {"username": owner.username, "password": "wrong"}, format="json")
    response = client.post(OBTAIN, {"username": owner.username, "password": PASSWORD},
                           format="json")
    assert response.status_code != 200 and not ApiToken.objects.exists()
