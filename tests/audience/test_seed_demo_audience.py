"""The demo data command: deterministic, with shared addresses, a synced group, reactions."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Count

from audience.models import GroupSyncSetting, Reaction, Subscriber
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def snapshot(tenant: Tenant) -> tuple[list[str], list[tuple[str, str]]]:
    return (list(Subscriber.objects.filter(tenant=tenant).order_by("pk")
                 .values_list("email", flat=True)),
            list(Reaction.objects.order_by("pk").values_list("source_event_id", "kind")))


def test_seed_is_deterministic_and_complete(tenant: Tenant) -> None:
    call_command("seed_demo_audience", tenant.slug, "--count", "120")
    first = snapshot(tenant)
    assert Subscriber.objects.filter(tenant=tenant, email="anna.schmidt@example.com").exists()
    shared = (Subscriber.objects.filter(tenant=tenant).values("email_normalised")
              .annotate(n=Count("id")).filter(n__gt=1))
    assert shared.count() >= 1
    assert GroupSyncSetting.objects.filter(group__tenant=tenant, enabled=True).count() == 1
    assert {k for _e, k in first[1]} == {"open", "click", "bounce"}
    with pytest.raises(CommandError):
        call_command("seed_demo_audience", tenant.slug)
    call_command("seed_demo_audience", tenant.slug, "--count", "120", "--reset")
    again = snapshot(tenant)
    assert again[0] == first[0] and again[1] == first[1]
