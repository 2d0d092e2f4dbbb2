"""Consent as data (N6): the permission, its append-only history, the suppression list and
the rules of ``audience.consent`` that every path goes through."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import override_settings
from django.utils import timezone

from audience import consent, consent_merge
from audience import subscribers as svc
from audience.bulk_updates import merge_many
from audience.merge import merge_subscribers
from audience.models import (
    AppendOnly,
    ConsentEvent,
    ConsentSource,
    ConsentState,
    Subscriber,
    SubscriberStatus,
    SuppressedAddress,
    SuppressionReason,
)
from audience.suppression_key import address_hash
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def confirmed(when: dt.datetime | None = None) -> dict[str, str]:
    """A double opt-in's detail, confirmed now (after any opt-out the test made)."""
    moment = when or timezone.now()
    return {"confirmed_at": moment.isoformat(), "confirmation_source": "DOI mail"}


def test_status_is_derived_from_the_permission_only(tenant: Tenant) -> None:
    sub = svc.create_subscriber(tenant, {"email": "anna@example.com"})
    assert sub.consent == ConsentState.UNKNOWN and sub.status == SubscriberStatus.ACTIVE
    for state, status in [
        (ConsentState.OPTED_IN, "active"),
        (ConsentState.DOUBLE_OPT_IN, "active"),
        (ConsentState.AWAITING_CONFIRMATION, "pending"),
        (ConsentState.OPTED_OUT, "unsubscribed"),
        (ConsentState.BOUNCED, "bounced"),
    ]:
        sub.consent = state
        assert sub.status == status
    assert "status" not in {f.name for f in Subscriber._meta.get_fields()}


def test_history_is_append_only(tenant: Tenant) -> None:
    sub = svc.create_subscriber(
        tenant,
        {"email": "anna@example.com"},
        source=ConsentSource.FORM,
        consent=ConsentState.OPTED_IN,
    )
    event = consent.history(sub).get()
    assert (event.state, event.source, event.previous_state) == ("opted_in", "form", "")
    event.detail = {"forged": True}
    with pytest.raises(AppendOnly):
        event.save()
    with pytest.raises(AppendOnly):
        event.delete()
    with pytest.raises(AppendOnly):
        ConsentEvent.objects.filter(subscriber=sub).update(state="opted_out")
    with pytest.raises(AppendOnly):
        ConsentEvent.objects.filter(subscriber=sub).delete()
    assert ConsentEvent.objects.get(pk=event.pk).detail == {}
    # The sanctioned way (erasure, retention) deletes.
    assert consent.purge_events(ConsentEvent.objects.filter(subscriber=sub)) == 1
    assert not ConsentEvent.objects.filter(subscriber=sub).exists()


def test_the_address_hash_is_keyed_and_normalised(settings: object) -> None:
    same = address_hash("Anna@Example.COM ")
    assert same == address_hash("anna@example.com") and len(same) == 64
    assert "anna" not in same
    with override_settings(CONSENT_HASH_KEY="another-key"):
        assert address_hash("anna@example.com") != same


def test_an_opt_out_suppresses_the_address_and_keeps_the_strongest_reason(
    tenant: Tenant, other_tenant: Tenant
) -> None:
    sub = svc.create_subscriber(tenant, {"email": "anna@example.com"})
    assert svc.unsubscribe(sub, source=ConsentSource.FORM)
    assert consent.is_suppressed(tenant, "ANNA@example.com")
    assert not consent.is_suppressed(other_tenant, "anna@example.com")
    consent.suppress(tenant, "anna@example.com", SuppressionReason.ERASED)
    consent.suppress(tenant, "anna@example.com", SuppressionReason.HARD_BOUNCE)
    entry = SuppressedAddress.objects.get(tenant=tenant)
    assert entry.reason == SuppressionReason.ERASED
    assert "anna" not in entry.address_hash
    assert consent.suppressed_among(tenant, ["x@example.com", "Anna@example.com"]) == {
        "anna@example.com": SuppressionReason.ERASED
    }


def test_a_suppressed_address_is_not_created_again_without_double_opt_in(tenant: Tenant) -> None:
    svc.unsubscribe(svc.create_subscriber(tenant, {"email": "anna@example.com"}))
    with pytest.raises(consent.ConsentRefused) as refused:
        svc.create_subscriber(tenant, {"email": "Anna@example.com"}, source=ConsentSource.API)
    assert "opted out" in str(refused.value)
    with pytest.raises(consent.ConsentRefused):  # a double opt-in needs its proof
        svc.create_subscriber(
            tenant, {"email": "anna@example.com"}, consent=ConsentState.DOUBLE_OPT_IN
        )
    assert Subscriber.objects.filter(tenant=tenant).count() == 1
    stale = confirmed(timezone.now() - dt.timedelta(days=30))  # before the opt-out
    with pytest.raises(consent.ConsentRefused):
        svc.create_subscriber(
            tenant, {"email": "anna@example.com"}, consent=ConsentState.DOUBLE_OPT_IN, detail=stale
        )
    proof = confirmed()
    again = svc.create_subscriber(
        tenant,
        {"email": "anna@example.com"},
        source=ConsentSource.API,
        consent=ConsentState.DOUBLE_OPT_IN,
        detail=proof,
    )
    assert again.status == SubscriberStatus.ACTIVE
    assert not consent.is_suppressed(tenant, "anna@example.com")  # a new, provable opt-in
    assert consent.history(again).get().detail["confirmed_at"] == proof["confirmed_at"]


def test_re_subscription_needs_a_provable_opt_in(tenant: Tenant) -> None:
    sub = svc.create_subscriber(tenant, {"email": "anna@example.com"})
    svc.unsubscribe(sub)
    for source in (
        ConsentSource.API,
        ConsentSource.IMPORT,
        ConsentSource.ADMIN,
        ConsentSource.FORM,
    ):
        with pytest.raises(consent.ConsentRefused):
            consent.record_change(sub, ConsentState.OPTED_IN, source=source)
    sub.refresh_from_db()
    assert sub.consent == ConsentState.OPTED_OUT
    # The CRM's re-opt-in waits for confirmation, unless the tenant allows it explicitly.
    event = consent.record_change(
        sub, ConsentState.OPTED_IN, source=ConsentSource.CRM, detail={"record_id": "abc"}
    )
    assert event is not None and event.state == ConsentState.AWAITING_CONFIRMATION
    assert sub.status == SubscriberStatus.PENDING
    assert consent.is_suppressed(tenant, "anna@example.com")
    assert consent.record_change(sub, ConsentState.OPTED_IN, source=ConsentSource.CRM) is None
    done = consent.record_change(
        sub, ConsentState.DOUBLE_OPT_IN, source=ConsentSource.API, detail=confirmed()
    )
    assert done is not None and sub.consent == ConsentState.DOUBLE_OPT_IN
    assert not consent.is_suppressed(tenant, "anna@example.com")
    assert [e.state for e in consent.history(sub).order_by("id")] == [
        "unknown",
        "opted_out",
        "awaiting_confirmation",
        "double_opt_in",
    ]


def test_the_crm_re_subscribes_when_the_tenant_allows_it(tenant: Tenant) -> None:
    sub = svc.create_subscriber(tenant, {"email": "anna@example.com"})
    svc.unsubscribe(sub)
    event = consent.record_change(
        sub, ConsentState.OPTED_IN, source=ConsentSource.CRM, allow_crm_resubscribe=True
    )
    assert event is not None and event.state == ConsentState.OPTED_IN
    assert not consent.is_suppressed(tenant, "anna@example.com")


def test_a_hard_bounce_records_and_suppresses(tenant: Tenant) -> None:
    subs = [svc.create_subscriber(tenant, {"email": f"{n}@example.com"}) for n in "ab"]
    at = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert consent.record_many(subs, ConsentState.BOUNCED, source=ConsentSource.BOUNCE, at=at) == 2
    assert set(Subscriber.objects.values_list("consent", flat=True)) == {"bounced"}
    assert SuppressedAddress.objects.filter(reason="hard_bounce").count() == 2
    with pytest.raises(ValueError, match="only restricts"):
        consent.record_many(subs, ConsentState.OPTED_IN, source=ConsentSource.API)


def test_a_merge_keeps_the_stricter_permission_with_a_history_entry(tenant: Tenant) -> None:
    survivor = svc.create_subscriber(
        tenant, {"email": "anna@example.com"}, consent=ConsentState.OPTED_IN
    )
    source = svc.create_subscriber(tenant, {"email": "Anna@example.com"})
    svc.unsubscribe(source)
    merged = merge_subscribers(source, survivor)
    assert merged.consent == ConsentState.OPTED_OUT
    last = consent.history(merged).first()
    assert last is not None and last.source == ConsentSource.MERGE
    assert last.detail == {"merged_subscriber_id": source.pk}
    stricter = consent_merge.stricter
    assert stricter(ConsentState.DOUBLE_OPT_IN, ConsentState.UNKNOWN) == "double_opt_in"
    assert stricter(ConsentState.DOUBLE_OPT_IN, ConsentState.BOUNCED) == "bounced"


def test_bulk_upsert_creates_no_suppressed_address_and_changes_no_permission(
    tenant: Tenant,
) -> None:
    out = svc.create_subscriber(tenant, {"email": "out@example.com"})
    svc.unsubscribe(out)
    erased = "gone@example.com"
    consent.suppress(tenant, erased, SuppressionReason.ERASED)
    results = svc.bulk_upsert(
        tenant,
        [
            {"email": "OUT@example.com", "first_name": "O"},
            {"email": erased},
            {"email": "new@example.com"},
        ],
        source=ConsentSource.IMPORT,
    )
    assert [r.outcome for r in results] == ["updated", "suppressed", "created"]
    assert "erased" in results[1].message
    out.refresh_from_db()
    assert out.consent == ConsentState.OPTED_OUT
    assert not Subscriber.objects.filter(email_normalised=erased).exists()
    new = Subscriber.objects.get(email="new@example.com")
    assert consent.history(new).get().source == ConsentSource.IMPORT


def test_deleting_a_user_keeps_the_entries_with_who_it_was(
    tenant: Tenant, owner: AbstractUser
) -> None:
    sub = svc.create_subscriber(tenant, {"email": "anna@example.com"})
    svc.unsubscribe(sub, who=consent.Who(user=owner))
    owner.delete()
    entry = consent.history(sub).first()
    assert entry is not None and entry.user is None and entry.actor == "owner@acme.example"


def test_a_bulk_merge_keeps_the_stricter_permission_with_a_history_entry(tenant: Tenant) -> None:
    survivor = svc.create_subscriber(tenant, {"email": "ben@example.com"})
    bounced = svc.create_subscriber(tenant, {"email": "Ben@example.com"})
    consent.record_many([bounced], ConsentState.BOUNCED, source=ConsentSource.BOUNCE)
    assert merge_many([(bounced.pk, survivor.pk)]) == 1
    survivor.refresh_from_db()
    assert survivor.consent == ConsentState.BOUNCED
    last = consent.history(survivor).first()
    assert last is not None and (last.source, last.previous_state) == ("merge", "unknown")
