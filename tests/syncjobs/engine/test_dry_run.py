"""Dry run (#9): the report says what the real run then does; nothing is written anywhere."""

from __future__ import annotations

from typing import Any

import pytest

from audience.groups import add_members
from audience.models import (
    ConsentEvent,
    Subscriber,
    SubscriberGroup,
    SubscriberValue,
    SuppressedAddress,
)
from audience.subscribers import create_subscriber, update_subscriber
from dynamics import DataverseClient
from syncjobs.models import JobRun, JobStatus, RecordLink, SyncCursor, SyncIssue, SyncStatus
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]

WRITE_METHODS = {"POST", "PATCH", "PUT", "DELETE"}
# Organization Service messages that write (every SOAP call is a POST).
SOAP_READS = ("RetrieveMultiple", "Retrieve)", "RetrieveEntity", "RetrieveVersion", "WhoAmI",
              "RetrieveUserPrivileges")
STEP_KEYS = ("pull", "match", "push")


def crm_writes(admin: EmulatorAdmin) -> int:
    """Writes the emulator answered (sign-in requests and SOAP reads are not writes)."""
    return sum(n for key, n in admin.counters().items()
               if len(key.split()) >= 3 and key.split()[1] in WRITE_METHODS
               and "token" not in key and "oauth" not in key
               and not any(f"Execute({read}" in key for read in SOAP_READS))


def database_state(tenant: Tenant) -> dict[str, Any]:
    return {
        "subscribers": sorted(Subscriber.objects.filter(tenant=tenant).values_list(
            "pk", "email", "consent", "merged_into_id")),
        "consent": (ConsentEvent.objects.filter(tenant=tenant).count(),
                    SuppressedAddress.objects.filter(tenant=tenant).count()),
        "values": sorted(SubscriberValue.objects.filter(tenant=tenant).values_list(
            "subscriber_id", "field_id", "value", "modified_at")),
        "links": sorted(RecordLink.objects.filter(tenant=tenant).values_list(
            "subscriber_id", "entity_type", "crm_id", "state", "needs_push")),
        "cursors": sorted(SyncCursor.objects.filter(tenant=tenant).values_list(
            "name", "delta_link", "watermark")),
        "issues": SyncIssue.objects.filter(tenant=tenant).count(),
        "status": list(SyncStatus.objects.filter(tenant=tenant).values_list(
            "last_run_id", "last_sync_at")),
    }


def step_counters(run: JobRun) -> dict[str, Any]:
    return {step: run.counters.get(step) for step in STEP_KEYS}


@pytest.fixture
def scene(tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
          crm_client: DataverseClient, crm_admin: EmulatorAdmin,
          crm_org: str) -> dict[str, Any]:
    """A synced group after one real run, then changes on both sides and new members."""
    linked = create_subscriber(tenant, {"email": "linked@dry.example", "first_name": "Lina",
                                        "last_name": "Linked"})
    pulled = create_subscriber(tenant, {"email": "pulled@dry.example", "last_name": "Pulled"})
    add_members(group, [linked.pk, pulled.pk])
    assert sync().status == JobStatus.SUCCEEDED
    pulled_id = str(RecordLink.objects.get(subscriber=pulled).crm_id)
    update_subscriber(linked, {"first_name": "Lena"})                 # push: one update
    crm_admin.patch(crm_org, "contacts", pulled_id, {"lastname": "Pulled-CRM"})  # pull
    existing = crm_client.create("contacts", {"lastname": "Existing",
                                              "emailaddress1": "existing@dry.example"})
    new = [create_subscriber(tenant, {"email": f"new{i}@dry.example", "last_name": f"N{i}"})
           for i in range(3)]
    found = create_subscriber(tenant, {"email": "existing@dry.example"})
    add_members(group, [s.pk for s in [*new, found]])
    return {"existing": existing, "pulled": pulled, "linked": linked}


def test_dry_run_writes_nothing_and_reports_what_the_real_run_then_does(
        tenant: Tenant, scene: dict[str, Any], sync: SyncFn,
        crm_admin: EmulatorAdmin) -> None:
    before_db, before_writes = database_state(tenant), crm_writes(crm_admin)

    dry = sync(dry_run=True)

    assert dry.status == JobStatus.SUCCEEDED, dry.error
    assert crm_writes(crm_admin) == before_writes  # the CRM is unchanged
    assert database_state(tenant) == before_db     # so is mailworx
    report = dry.result["dry_run"]
    assert report["crm"]["by_kind"]["contacts:create"] == 3
    # The record found gets its subscriber id written (and the pulled one's changes).
    assert report["crm"]["by_kind"]["contacts:update"] == 2
    assert report["mailworx"]["links"]["by_state"] == {"active": 4}  # 3 created, 1 found
    assert (dry.counters["match"]["created"], dry.counters["match"]["linked"]) == (3, 1)
    change = report["mailworx"]["values_changed"]["sample"][0]
    assert (change["email"], change["old"], change["new"]) == (
        "pulled@dry.example", "Pulled", "Pulled-CRM")
    assert dry.log_lines.filter(message__icontains="dry run").exists()

    real = sync()

    assert real.status == JobStatus.SUCCEEDED, real.error
    assert step_counters(real) == step_counters(dry)
    assert crm_writes(crm_admin) > before_writes
    assert RecordLink.objects.filter(tenant=tenant).count() == 2 + 4


def test_a_dry_run_of_an_unchanged_tenant_reports_nothing_to_do(
        tenant: Tenant, scene: dict[str, Any], sync: SyncFn) -> None:
    assert sync().status == JobStatus.SUCCEEDED
    dry = sync(dry_run=True)
    assert dry.result["dry_run"]["crm"]["writes"] == 0
    assert dry.result["dry_run"]["mailworx"]["values_changed"]["count"] == 0


def test_the_run_page_shows_the_dry_run_report(
        tenant: Tenant, scene: dict[str, Any], sync: SyncFn, owner_client: Any) -> None:
    dry = sync(dry_run=True)
    page = owner_client.get(f"/t/{tenant.slug}/jobs/{dry.pk}/")
    assert page.status_code == 200
    text = page.content.decode()
    assert 'data-testid="dry-run-report"' in text
    assert "contacts:create" in text and "Pulled-CRM" in text


def test_a_dry_run_of_a_group_that_would_get_its_first_crm_lists(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_admin: EmulatorAdmin) -> None:
    """S6 inside a dry run: the lists it would create are reported, not read back."""
    subs = [create_subscriber(tenant, {"email": f"first{i}@dry.example", "last_name": "F"})
            for i in range(2)]
    add_members(group, [s.pk for s in subs])
    before = crm_writes(crm_admin)
    dry = sync(dry_run=True)
    assert dry.status == JobStatus.SUCCEEDED, dry.error
    assert crm_writes(crm_admin) == before
    assert dry.result["dry_run"]["crm"]["by_kind"]["lists:create"] == 1
    real = sync()
    assert real.status == JobStatus.SUCCEEDED, real.error
    for step in ("match", "push", "lists"):
        assert real.counters.get(step) == dry.counters.get(step), step
