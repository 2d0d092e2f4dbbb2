"""Subscriber services: per-field modification times, duplicates and bulk upsert (S9, S11)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audience import subscribers as svc
from audience.models import Subscriber, SubscriberStatus, SubscriberValue
from tenants.models import Tenant

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.UTC)
T1 = dt.datetime(2026, 2, 1, 9, 0, tzinfo=dt.UTC)


def times(sub: Subscriber) -> dict[str, dt.datetime]:
    return dict(SubscriberValue.objects.filter(subscriber=sub)
                .values_list("field__key", "modified_at"))


def test_only_changed_fields_get_a_new_modification_time(tenant: Tenant) -> None:
    sub = svc.create_subscriber(tenant, {"email": "anna.schmidt@example.com",
                                         "first_name": "Anna", "last_name": "Schmidt"}, now=T0)
    changed = svc.update_subscriber(sub, {"first_name": "Anna", "last_name": "Schmidt-Berg"},
                                    now=T1)
    assert changed == ["last_name"]
    assert times(sub) == {"email": T0, "first_name": T0, "last_name": T1}


def test_an_update_that_changes_nothing_writes_nothing(tenant: Tenant) -> None:
    sub = svc.create_subscriber(tenant, {"email": "anna@example.com", "first_name": "Anna"})
    with CaptureQueriesContext(connection) as ctx:
        assert svc.update_subscriber(sub, {"first_name": "Anna", "email": "ANNA@example.com"}) \
            == []
    assert not [q for q in ctx.captured_queries
                if q["sql"].startswith(("INSERT", "UPDATE", "DELETE"))]


def test_duplicate_addresses_are_allowed_and_an_ambiguous_upsert_is_reported(
    tenant: Tenant,
) -> None:
    a = svc.create_subscriber(tenant, {"email": "max.muster@example.com"})
    b = svc.create_subscriber(tenant, {"email": " Max.Muster@Example.com"})
    assert a.pk != b.pk and a.email_normalised == b.email_normalised

    results = svc.bulk_upsert(tenant, [
        {"email": "max.muster@example.com", "first_name": "Max"},
        {"email": "new@example.com", "first_name": "Neu"},
    ])
    assert [r.outcome for r in results] == [svc.Outcome.AMBIGUOUS, svc.Outcome.CREATED]
    assert "2 subscribers" in results[0].message
    assert not SubscriberValue.objects.filter(field__key="first_name", value="Max").exists()


def test_bulk_upsert_reports_each_item_and_never_half_applies(tenant: Tenant) -> None:
    sub = svc.create_subscriber(tenant, {"email": "eva@example.com", "last_name": "Alt"}, now=T0)
    results = svc.bulk_upsert(tenant, [
        {"email": "eva@example.com", "last_name": "Alt"},
        {"email": "EVA@example.com", "last_name": "Neu", "first_name": "Eva"},
        {"email": "eva@example.com", "last_name": "Nochmal"},
        {"email": "kein-at-zeichen", "first_name": "X"},
        {"email": "ok@example.com", "first_name": "Ok", "language": "klingon!"},
        {"email": "ok2@example.com", "shoe_size": "44"},
    ], now=T1)
    outcomes = [r.outcome for r in results]
    assert outcomes == [svc.Outcome.UNCHANGED, svc.Outcome.INVALID, svc.Outcome.INVALID,
                        svc.Outcome.INVALID, svc.Outcome.INVALID, svc.Outcome.INVALID]
    # The first item made no change; the second repeats the address of the first.
    assert "more than once" in results[1].message
    assert "shoe_size" in results[5].message
    assert Subscriber.objects.filter(tenant=tenant).count() == 1
    assert times(sub)["last_name"] == T0

    results = svc.bulk_upsert(tenant, [
        {"email": "EVA@example.com", "last_name": "Neu", "first_name": "Eva", "language": "en"},
    ], now=T1)
    assert results[0].outcome == svc.Outcome.UPDATED
    assert set(results[0].changed) == {"last_name", "first_name", "language"}
    sub.refresh_from_db()
    assert sub.language == "en" and sub.email == "eva@example.com"
    assert times(sub) == {"email": T0, "last_name": T1, "first_name": T1, "language": T1}


def test_bulk_upsert_queries_do_not_grow_with_the_items(tenant: Tenant) -> None:
    svc.bulk_upsert(tenant, [{"email": "warm@example.com"}])
    with CaptureQueriesContext(connection) as small:
        svc.bulk_upsert(tenant, [{"email": f"s{i}@example.com", "first_name": "A"}
                                 for i in range(10)])
    with CaptureQueriesContext(connection) as large:
        svc.bulk_upsert(tenant, [{"email": f"l{i}@example.com", "first_name": "A"}
                                 for i in range(400)])
    # Statements grow only by the database's parameter limit per multi-row INSERT; two are
    # consent's (the suppression look-up and the history entries, N6).
    assert len(small.captured_queries) <= 10
    assert len(large.captured_queries) <= 20
    assert Subscriber.objects.filter(tenant=tenant).count() == 411


def test_dry_run_writes_nothing(tenant: Tenant) -> None:
    results = svc.bulk_upsert(tenant, [{"email": "x@example.com"}], dry_run=True)
    assert results[0].outcome == svc.Outcome.CREATED
    assert not Subscriber.objects.filter(tenant=tenant).exists()


def test_unsubscribe_sets_status_and_time(tenant: Tenant) -> None:
    sub = svc.create_subscriber(tenant, {"email": "bye@example.com"})
    assert svc.unsubscribe(sub, at=T1)
    sub.refresh_from_db()
    assert sub.status == SubscriberStatus.UNSUBSCRIBED and sub.status_changed_at == T1
    assert not svc.unsubscribe(sub)
