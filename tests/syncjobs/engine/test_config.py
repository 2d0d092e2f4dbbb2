"""S14 (backfill, re-pointing a tenant), pause/resume (C6), start refusals, reconcile and
the modifiedon fallback where a table has no change tracking."""

from __future__ import annotations

import pytest

from audience.groups import add_members
from audience.models import Subscriber, SubscriberGroup
from audience.subscribers import create_subscriber, current_values
from dynamics import DataverseClient
from dynamics_emulator.server import EmulatorServer
from orgsettings.models import OrgSettings
from orgsettings.services import SettingsError
from syncjobs import runner
from syncjobs.engine.config import reset_links
from syncjobs.engine.start import SyncRefused, start_sync
from syncjobs.models import JobStatus, LinkState, RecordLink, SyncCursor, SyncStatus
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin, configure_tenant_for_emulator
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, MapFn, SyncFn, at_boundary

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def linked(client: DataverseClient, group: SubscriberGroup, sync: SyncFn, email: str,
           **crm: object) -> tuple[Subscriber, RecordLink]:
    client.create("contacts", {"emailaddress1": email, "lastname": "Crm", **crm})
    sub = create_subscriber(group.tenant, {"email": email})
    add_members(group, [sub.pk])
    assert sync().status == JobStatus.SUCCEEDED
    return sub, RecordLink.objects.get(subscriber=sub)


def test_s14_a_new_mapping_is_backfilled_into_linked_records(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        map_field: MapFn) -> None:
    sub, _link = linked(crm_client, group, sync, "backfill@example.org", firstname="Berta")
    assert "first_name" not in current_values([sub.pk]).get(sub.pk, {})
    map_field("contact", "firstname", "first_name")
    run = sync("backfill")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert current_values([sub.pk])[sub.pk]["first_name"] == "Berta"
    assert run.counters["backfill"]["fields_updated"] == 1


def test_s14_pointing_a_linked_tenant_at_another_organisation_needs_a_reset(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm: EmulatorServer, crm_org: str) -> None:
    linked(crm_client, group, sync, "s14@example.org")
    with pytest.raises(SettingsError, match="reset of the links"):
        configure_tenant_for_emulator(tenant, crm, org="fabrikam")
    assert OrgSettings.objects.get(tenant=tenant).organisation_name == crm_org
    configure_tenant_for_emulator(tenant, crm, org=crm_org)  # the same organisation: fine
    counts = reset_links(tenant)
    assert counts["links"] == 1 and counts["cursors"] >= 1
    assert not SyncCursor.objects.filter(tenant=tenant).exists()
    configure_tenant_for_emulator(tenant, crm, org="fabrikam")
    assert OrgSettings.objects.get(tenant=tenant).organisation_name == "fabrikam"


def test_start_is_refused_before_an_integration_check_and_while_paused(
        tenant: Tenant, org: OrgSettings, no_dispatch: list[int]) -> None:
    OrgSettings.objects.filter(pk=org.pk).update(check_passed_at=None)
    with pytest.raises(SyncRefused, match="integration check"):
        start_sync(tenant, "incremental")
    OrgSettings.objects.filter(pk=org.pk).update(check_passed_at=org.check_passed_at,
                                                 sync_paused=True)
    with pytest.raises(SyncRefused, match="paused"):
        start_sync(tenant, "incremental")
    assert no_dispatch == []


def test_c6_pausing_stops_a_running_sync_at_a_batch_boundary_and_resume_finishes(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn, org: OrgSettings,
        crm_client: DataverseClient, monkeypatch: pytest.MonkeyPatch,
        no_dispatch: list[int]) -> None:
    sub = create_subscriber(tenant, {"email": "paused@example.org"})
    add_members(group, [sub.pk])

    def pause_in_match(step: str) -> None:
        if step == "match":
            OrgSettings.objects.filter(pk=org.pk).update(sync_paused=True)
    with monkeypatch.context() as patched:
        at_boundary(patched, pause_in_match)
        run = sync()
    assert run.status == JobStatus.CANCELLED
    assert "paused" in SyncStatus.objects.get(tenant=tenant).last_error.lower()
    assert not RecordLink.objects.filter(subscriber=sub, state=LinkState.ACTIVE).exists()
    OrgSettings.objects.filter(pk=org.pk).update(sync_paused=False)
    resumed = sync()
    assert resumed.status == JobStatus.SUCCEEDED
    assert RecordLink.objects.get(subscriber=sub).state == LinkState.ACTIVE
    status = SyncStatus.objects.get(tenant=tenant)
    assert status.last_error == "" and status.last_success_at is not None


def tracking_off(admin: EmulatorAdmin, entity: str) -> None:
    admin.session.post(f"{admin.base}/tracking", json={
        "org": "contoso", "entity": entity, "enabled": False}, timeout=10).raise_for_status()


def test_without_change_tracking_pull_falls_back_to_modifiedon(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None, crm_org: str) -> None:
    tracking_off(crm_admin, "contact")
    sub, link = linked(crm_client, group, sync, "watermark@example.org", firstname="Wil")
    crm_admin.patch(crm_org, "contacts", str(link.crm_id), {"firstname": "Wilma"})
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert current_values([sub.pk])[sub.pk]["first_name"] == "Wilma"
    assert run.counters["pull"]["watermark_rows"] >= 1
    assert SyncCursor.objects.get(name="pull:contact").watermark is not None


def test_reconcile_finds_a_deleted_record(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None, crm_org: str) -> None:
    """What a `modifiedon` watermark cannot see (CRM 2013/2015): reconcile finds it."""
    _a, gone = linked(crm_client, group, sync, "rec-deleted@example.org")
    _b, kept = linked(crm_client, group, sync, "rec-kept@example.org")
    crm_admin.session.delete(f"{crm_admin.base}/{crm_org}/contacts/{gone.crm_id}",
                             timeout=10).raise_for_status()
    run = sync("reconcile")
    assert run.status == JobStatus.SUCCEEDED, run.error
    gone.refresh_from_db()
    kept.refresh_from_db()
    assert (gone.state, kept.state) == (LinkState.CRM_DELETED, LinkState.ACTIVE)
    assert run.counters["reconcile"]["unlinked_deleted"] == 1


def test_reconcile_finds_deleted_and_merged_records(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None, crm_org: str) -> None:
    tracking_off(crm_admin, "contact")
    _a, gone = linked(crm_client, group, sync, "rec-gone@example.org")
    b, merged = linked(crm_client, group, sync, "rec-merged@example.org")
    master = crm_client.create("contacts", {"lastname": "M", "emailaddress1": "m@example.org"})
    crm_admin.session.delete(f"{crm_admin.base}/{crm_org}/contacts/{gone.crm_id}",
                             timeout=10).raise_for_status()
    crm_admin.action(crm_org, "Merge", {  # a CRM user merges the two
        "Target": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": master},
        "Subordinate": {"@odata.type": "Microsoft.Dynamics.CRM.contact",
                        "contactid": str(merged.crm_id)},
        "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.contact"},
        "PerformParentingChecks": False})
    run = sync("reconcile")
    assert run.status == JobStatus.SUCCEEDED, run.error
    gone.refresh_from_db()
    assert gone.state == LinkState.CRM_DELETED
    assert str(RecordLink.objects.get(subscriber=b, state=LinkState.ACTIVE).crm_id) == master
    assert run.counters["reconcile"]["unlinked_deleted"] == 1
    assert run.counters["reconcile"]["relinked"] == 1
    assert runner.reap_expired() == []


def test_group_and_subscriber_modes_touch_only_their_scope(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn, no_dispatch: list[int]) -> None:
    from audience.groups import create_group, save_sync_setting

    other = create_group(tenant, "Other")
    save_sync_setting(other)
    mine = create_subscriber(tenant, {"email": "scope-mine@example.org"})
    theirs = create_subscriber(tenant, {"email": "scope-theirs@example.org"})
    add_members(group, [mine.pk])
    add_members(other, [theirs.pk])
    run = sync("group", group=group)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert RecordLink.objects.filter(subscriber=mine, state=LinkState.ACTIVE).exists()
    assert not RecordLink.objects.filter(subscriber=theirs).exists()
    assert run.percent == 100 and run.progress_total >= 1
    one = sync("subscriber", subscriber=theirs)
    assert one.status == JobStatus.SUCCEEDED, one.error
    assert RecordLink.objects.filter(subscriber=theirs, state=LinkState.ACTIVE).exists()


def test_one_active_sync_per_tenant(tenant: Tenant, org: OrgSettings,
                                    no_dispatch: list[int]) -> None:
    first = start_sync(tenant, "incremental")
    with pytest.raises(runner.JobAlreadyActive) as refused:
        start_sync(tenant, "full")
    assert refused.value.run == first
