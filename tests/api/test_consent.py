"""Consent over the API (N6, docs/consent.md): no create or upsert brings back an address
that opted out, bounced or was erased; re-subscription needs a confirmed double opt-in;
the history is readable and tenant-scoped."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audience.consent import history, is_suppressed, suppress
from audience.models import (
    ConsentSource,
    ConsentState,
    Subscriber,
    SubscriberValue,
    SuppressionReason,
)
from audience.subscribers import create_subscriber, unsubscribe
from tenants.models import Tenant

pytestmark = pytest.mark.django_db
BASE = "/api/v1/tenants/acme/subscribers/"


def opted_out(tenant: Tenant, email: str = "out@example.com") -> Subscriber:
    sub = create_subscriber(tenant, {"email": email, "first_name": "Olga"})
    unsubscribe(sub, source=ConsentSource.FORM)
    return sub


def test_a_plain_post_with_an_opted_out_address_creates_nothing(
    owner_api: APIClient, tenant: Tenant
) -> None:
    opted_out(tenant)
    response = owner_api.post(BASE, {"values": {"email": "Out@Example.com"}}, format="json")
    assert response.status_code == 400
    assert "opted out" in response.json()["values"][0]
    assert Subscriber.objects.filter(tenant=tenant).count() == 1
    assert not Subscriber.objects.filter(consent=ConsentState.UNKNOWN).exists()


def test_an_erased_address_is_refused_in_the_admins_language(
    owner_api: APIClient, tenant: Tenant
) -> None:
    suppress(tenant, "gone@example.com", SuppressionReason.ERASED)
    response = owner_api.post(
        BASE, {"values": {"email": "gone@example.com"}}, format="json", HTTP_ACCEPT_LANGUAGE="de"
    )
    assert response.status_code == 400
    assert "wurde gelöscht" in response.json()["values"][0]
    assert not Subscriber.objects.exists()


def test_a_confirmed_double_opt_in_after_the_opt_out_creates_again(
    owner_api: APIClient, tenant: Tenant
) -> None:
    old = opted_out(tenant)
    Subscriber.objects.filter(pk=old.pk).delete()  # gone, but the address stays suppressed
    before = (timezone.now() - dt.timedelta(days=400)).isoformat()
    stale = owner_api.post(
        BASE,
        {
            "values": {"email": "out@example.com"},
            "consent": "double_opt_in",
            "confirmed_at": before,
        },
        format="json",
    )
    assert stale.status_code == 400 and "consent" in stale.json()
    unproven = owner_api.post(
        BASE, {"values": {"email": "out@example.com"}, "consent": "double_opt_in"}, format="json"
    )
    assert unproven.status_code == 400 and "confirmed_at" in str(unproven.json())
    fresh = owner_api.post(
        BASE,
        {
            "values": {"email": "out@example.com"},
            "consent": "double_opt_in",
            "confirmed_at": timezone.now().isoformat(),
            "consent_source": "DOI mail",
        },
        format="json",
    )
    assert fresh.status_code == 201, fresh.content
    body = fresh.json()
    assert (body["status"], body["consent"]) == ("active", "double_opt_in")
    entry = history(Subscriber.objects.get(pk=body["id"])).get()
    assert entry.source == ConsentSource.API and entry.user is not None
    assert entry.detail["confirmation_source"] == "DOI mail"
    assert not is_suppressed(tenant, "out@example.com")


def test_re_subscribing_through_status_is_refused_and_nothing_is_half_saved(
    owner_api: APIClient, tenant: Tenant
) -> None:
    sub = opted_out(tenant)
    response = owner_api.patch(
        f"{BASE}{sub.pk}/", {"values": {"first_name": "Changed"}, "status": "active"}, format="json"
    )
    assert response.status_code == 400
    assert "double opt-in" in response.json()["consent"][0]
    sub.refresh_from_db()
    assert sub.consent == ConsentState.OPTED_OUT
    assert SubscriberValue.objects.get(subscriber=sub, field__key="first_name").value == "Olga"
    confirmed = owner_api.patch(
        f"{BASE}{sub.pk}/",
        {"consent": "double_opt_in", "confirmed_at": timezone.now().isoformat()},
        format="json",
    )
    assert confirmed.status_code == 200 and confirmed.json()["status"] == "active"


def test_a_bulk_upsert_carrying_the_address_as_subscribed_keeps_it_out(
    owner_api: APIClient, tenant: Tenant
) -> None:
    sub = opted_out(tenant)
    suppress(tenant, "erased@example.com", SuppressionReason.ERASED)
    response = owner_api.post(
        BASE + "bulk-upsert/",
        {
            "items": [
                {"email": "OUT@example.com", "first_name": "Olga-Maria", "consent": "opted_in"},
                {"email": "erased@example.com", "consent": "opted_in"},
                {
                    "email": "new@example.com",
                    "consent": "double_opt_in",
                    "consent_date": "2026-11-02T10:00",
                    "consent_source": "Fair form",
                },
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert [r["outcome"] for r in body["results"]] == ["updated", "suppressed", "created"]
    assert body["counts"] == {"updated": 1, "suppressed": 1, "created": 1}
    assert "Permission not changed" in body["results"][0]["message"]
    sub.refresh_from_db()
    assert sub.consent == ConsentState.OPTED_OUT
    assert not Subscriber.objects.filter(email_normalised="erased@example.com").exists()
    new = Subscriber.objects.get(email_normalised="new@example.com")
    assert new.consent == ConsentState.DOUBLE_OPT_IN
    # A time without offset is the server's local time (TIME_ZONE).
    assert new.consent_changed_at == timezone.make_aware(dt.datetime(2026, 11, 2, 10, 0))
    bad = owner_api.post(
        BASE + "bulk-upsert/",
        {"items": [{"email": "x@example.com", "consent": "maybe"}]},
        format="json",
    )
    assert bad.json()["results"][0]["outcome"] == "invalid"
    assert "is not a permission" in bad.json()["results"][0]["message"]


def test_consent_history_and_filters(
    owner_api: APIClient, member_api: APIClient, outsider_api: APIClient, tenant: Tenant
) -> None:
    sub = opted_out(tenant)
    create_subscriber(tenant, {"email": "in@example.com"}, consent=ConsentState.OPTED_IN)
    url = f"{BASE}{sub.pk}/consent-history/"
    entries = member_api.get(url).json()["results"]
    assert [(e["state"], e["source"]) for e in entries] == [
        ("opted_out", "form"),
        ("unknown", "admin"),
    ]
    assert set(entries[0]) == {
        "id",
        "state",
        "previous_state",
        "occurred_at",
        "recorded_at",
        "source",
        "detail",
        "who",
    }
    assert outsider_api.get(url).status_code == 404
    assert (
        member_api.patch(f"{BASE}{sub.pk}/", {"status": "unsubscribed"}, format="json").status_code
        == 403
    )
    emails = [s["email"] for s in owner_api.get(BASE, {"consent": "opted_out"}).json()["results"]]
    assert emails == ["out@example.com"]
    assert owner_api.get(BASE, {"status": "unsubscribed"}).json()["count"] == 1
    assert owner_api.get(BASE, {"status": "active"}).json()["count"] == 1
