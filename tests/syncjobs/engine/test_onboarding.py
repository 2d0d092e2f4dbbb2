"""Onboarding rules in the engine: the first sync after a new mapping backfills the records
linked before it (S14), and a business unit's fixed language reaches subscribers that
arrive from the CRM (C14)."""

from __future__ import annotations

import pytest

from audience.models import Subscriber, SubscriberField, SubscriberValue
from audience.subscribers import current_values
from businessunits.models import BusinessUnit
from dynamics import DataverseClient
from syncjobs.engine.steps.backfill import backfill_pending
from syncjobs.models import JobStatus, SyncStatus
from tenants.models import Tenant
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, MapFn, SyncFn
from tests.syncjobs.engine.list_helpers import make_list, record
from tests.syncjobs.engine.test_config import linked

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def test_s14_the_first_sync_after_a_new_mapping_backfills_first(
        tenant: Tenant, group: object, sync: SyncFn, crm_client: DataverseClient,
        map_field: MapFn) -> None:
    sub, _link = linked(crm_client, group, sync, "first@example.org",  # type: ignore[arg-type]
                        firstname="Berta")
    assert backfill_pending(tenant) == 0
    map_field("contact", "firstname", "first_name")
    assert backfill_pending(tenant) == 1
    # The CRM record did not change: the pull alone would leave the new field empty.
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert current_values([sub.pk])[sub.pk]["first_name"] == "Berta"
    assert run.counters["backfill"]["fields_updated"] == 1
    assert any("backfill" in line.message for line in run.log_lines.all())
    assert backfill_pending(tenant) == 0
    assert SyncStatus.objects.get(tenant=tenant).mappings_applied_at is not None
    assert "backfill" not in sync().counters


def test_s14_a_dry_run_reports_the_pending_backfill_and_leaves_it_pending(
        tenant: Tenant, group: object, sync: SyncFn, crm_client: DataverseClient,
        map_field: MapFn) -> None:
    linked(crm_client, group, sync, "dry@example.org", firstname="Dora")  # type: ignore[arg-type]
    map_field("contact", "firstname", "first_name")
    run = sync(dry_run=True)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert "backfill" in run.counters
    assert backfill_pending(tenant) == 1


def test_c14_subscribers_from_the_crm_get_the_units_fixed_language(
        tenant: Tenant, dv: DataverseClient, unit: BusinessUnit, sync: SyncFn) -> None:
    unit.fixed_language = "en"
    unit.save()
    list_id = make_list(dv, "Fixed language", [record(dv, "fixed@c14.example")])
    assert list_id
    run = sync("lists")
    assert run.status == JobStatus.SUCCEEDED, run.error
    sub = Subscriber.objects.get(email_normalised="fixed@c14.example")
    assert sub.language == "en"
    assert SubscriberValue.objects.get(subscriber=sub,
                                       field__key=SubscriberField.LANGUAGE).value == "en"


def test_c14_without_a_fixed_language_the_tenant_default_applies(
        tenant: Tenant, dv: DataverseClient, sync: SyncFn) -> None:
    make_list(dv, "Default language", [record(dv, "default@c14.example")])
    assert sync("lists").status == JobStatus.SUCCEEDED
    assert Subscriber.objects.get(
        email_normalised="default@c14.example").language == tenant.default_language
