"""N7 against the emulator over HTTP: erasure travels to the CRM as configured and the
erased address never comes back; a deleted CRM record revokes permission while a merged one
does not; an address change follows the link in both directions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from audience.consent import ConsentRefused, guard_create, history, suppression_of
from audience.groups import add_members
from audience.models import ConsentState, Subscriber, SubscriberGroup, SuppressionReason
from audience.subscribers import create_subscriber, unsubscribe, update_subscriber
from dynamics import DataverseClient
from orgsettings.models import CrmDeletion, ErasureInCrm, OrgSettings
from syncjobs import runner
from syncjobs.erasure import erase
from syncjobs.models import (
    ErasurePropagation,
    JobKind,
    JobLogLine,
    JobRun,
    JobStatus,
    LinkState,
    PropagationState,
    RecordLink,
)
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, MapFn, SyncFn
from tests.syncjobs.engine.list_helpers import make_list, record

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def linked(
    client: DataverseClient, group: SubscriberGroup, sync: SyncFn, email: str, **crm: object
) -> tuple[Subscriber, RecordLink]:
    client.create("contacts", {"emailaddress1": email, "lastname": "Crm", **crm})
    sub = create_subscriber(group.tenant, {"email": email, "first_name": "Erna"})
    add_members(group, [sub.pk])
    assert sync().status == JobStatus.SUCCEEDED
    link = RecordLink.objects.get(subscriber=sub)
    assert link.state == LinkState.ACTIVE
    return sub, link


def setting(tenant: Tenant, **values: object) -> None:
    OrgSettings.objects.filter(tenant=tenant).update(**values)


@pytest.fixture
def erased(django_capture_on_commit_callbacks: Any) -> Callable[[Subscriber], int]:
    """Erase as a page does: the propagation job is queued once the erasure commits."""

    def run(sub: Subscriber) -> int:
        with django_capture_on_commit_callbacks(execute=True):
            return erase(sub).propagations

    return run


def propagate(no_dispatch: list[int]) -> JobRun:
    run = JobRun.objects.get(pk=no_dispatch[-1])
    assert run.kind == JobKind.ERASURE_PROPAGATION
    runner.execute(run.pk)
    run.refresh_from_db()
    return run


def test_erasure_flags_and_notes_the_crm_record_and_a_pull_never_recreates_it(
    tenant: Tenant,
    group: SubscriberGroup,
    sync: SyncFn,
    crm_client: DataverseClient,
    crm_admin: EmulatorAdmin,
    names: None,
    no_dispatch: list[int],
    erased: Callable[[Subscriber], int],
    owner_client: Client,
    crm_org: str,
) -> None:
    sub, link = linked(
        crm_client,
        group,
        sync,
        "erase-me@example.org",
        firstname="Erna",
        description="Met at the fair.",
    )
    assert erased(sub) == 1
    assert not Subscriber.objects.filter(email_normalised="erase-me@example.org").exists()
    run = propagate(no_dispatch)
    assert run.status == JobStatus.SUCCEEDED, run.error
    row = crm_client.get("contacts", str(link.crm_id))
    assert row["donotbulkemail"] is True
    assert row["description"].startswith("Met at the fair.")
    assert "GDPR Art. 17" in row["description"]
    prop = ErasurePropagation.objects.get(tenant=tenant)
    assert prop.state == PropagationState.DONE and "noted" in prop.outcome
    assert JobLogLine.objects.filter(run=run, data__propagation_id=prop.pk).exists()
    page = owner_client.get(run.get_absolute_url()).content.decode()
    assert "Erasure sent to CRM contact" in page and str(link.crm_id) in page
    # The record still exists and changes; it is on a list marked for sync: nothing of the
    # person comes back (N6), the attempt is counted.
    crm_admin.patch(crm_org, "contacts", str(link.crm_id), {"lastname": "Changed"})
    make_list(crm_client, "Fair visitors", [str(link.crm_id)])
    full = sync("full")
    assert full.status == JobStatus.SUCCEEDED, full.error
    assert full.counters["lists"]["suppressed"] == 1
    assert not Subscriber.objects.filter(email_normalised="erase-me@example.org").exists()
    entry = suppression_of(tenant, "erase-me@example.org")
    assert entry is not None and entry.reason == SuppressionReason.ERASED


def test_erasure_can_clear_the_fields_mailworx_wrote(
    tenant: Tenant,
    group: SubscriberGroup,
    sync: SyncFn,
    crm_client: DataverseClient,
    names: None,
    no_dispatch: list[int],
    erased: Callable[[Subscriber], int],
) -> None:
    setting(tenant, erasure_in_crm=ErasureInCrm.FLAG_NOTE_AND_CLEAR)
    sub, link = linked(
        crm_client, group, sync, "clear-me@example.org", firstname="Erna", jobtitle="Buyer"
    )
    assert crm_client.get("contacts", str(link.crm_id))["mwx_subscriberid"] == str(sub.pk)
    erased(sub)
    assert propagate(no_dispatch).status == JobStatus.SUCCEEDED
    row = crm_client.get("contacts", str(link.crm_id))
    assert row["firstname"] is None and row["mwx_subscriberid"] is None
    assert row["jobtitle"] == "Buyer"  # not written by mailworx: the CRM's own data
    assert row["emailaddress1"] == "clear-me@example.org"
    assert row["donotbulkemail"] is True and "GDPR" in row["description"]
    prop = ErasurePropagation.objects.get(tenant=tenant)
    assert {"firstname", "lastname", "mwx_subscriberid"} <= set(prop.clear_columns)


def test_erasure_can_create_a_task_for_the_record_owner_and_a_deleted_record_is_gone(
    tenant: Tenant,
    group: SubscriberGroup,
    sync: SyncFn,
    crm_client: DataverseClient,
    crm_admin: EmulatorAdmin,
    names: None,
    no_dispatch: list[int],
    erased: Callable[[Subscriber], int],
    crm_org: str,
) -> None:
    setting(tenant, erasure_in_crm=ErasureInCrm.OWNER_TASK)
    sub, link = linked(crm_client, group, sync, "task-me@example.org")
    other, gone = linked(crm_client, group, sync, "gone-too@example.org")
    owner = crm_client.get("contacts", str(link.crm_id))["_ownerid_value"]
    erased(sub)
    erased(other)
    crm_admin.session.delete(
        f"{crm_admin.base}/{crm_org}/contacts/{gone.crm_id}", timeout=10
    ).raise_for_status()
    run = propagate(no_dispatch)
    assert run.status == JobStatus.SUCCEEDED, run.error
    tasks = list(crm_client.query("tasks", filter=f"_regardingobjectid_value eq {link.crm_id}"))
    assert len(tasks) == 1 and tasks[0]["_ownerid_value"] == owner
    assert "erased" in tasks[0]["subject"]
    assert crm_client.get("contacts", str(link.crm_id))["donotbulkemail"] is True
    states = dict(ErasurePropagation.objects.values_list("crm_id", "state"))
    assert states == {link.crm_id: PropagationState.DONE, gone.crm_id: PropagationState.RECORD_GONE}
    assert run.counters == {"done": 1, "record_gone": 1}


# Change tracking's delta reports the deletion; on SOAP reconcile finds it (the next test).
@pytest.mark.webapi_only
def test_a_deleted_crm_record_unsubscribes_and_a_merged_one_keeps_consent(
    tenant: Tenant,
    group: SubscriberGroup,
    sync: SyncFn,
    crm_client: DataverseClient,
    crm_admin: EmulatorAdmin,
    names: None,
    crm_org: str,
) -> None:
    deleted, gone = linked(crm_client, group, sync, "deleted@example.org")
    merged, sub_link = linked(crm_client, group, sync, "merged@example.org")
    master = crm_client.create(
        "contacts", {"lastname": "Master", "emailaddress1": "master@example.org"}
    )
    crm_admin.session.delete(
        f"{crm_admin.base}/{crm_org}/contacts/{gone.crm_id}", timeout=10
    ).raise_for_status()
    crm_admin.action(  # a CRM user merges the two
        crm_org,
        "Merge",
        {
            "Target": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": master},
            "Subordinate": {
                "@odata.type": "Microsoft.Dynamics.CRM.contact",
                "contactid": str(sub_link.crm_id),
            },
            "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.contact"},
            "PerformParentingChecks": False,
        },
    )
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    deleted.refresh_from_db()
    merged.refresh_from_db()
    assert deleted.consent == ConsentState.OPTED_OUT
    event = history(deleted).first()
    assert event is not None and event.detail["record_deleted"] is True
    assert event.detail["record_id"] == str(gone.crm_id)
    assert merged.consent == ConsentState.UNKNOWN
    assert str(RecordLink.objects.get(subscriber=merged, state=LinkState.ACTIVE).crm_id) == master
    assert run.counters["pull"]["unsubscribed_deleted"] == 1
    assert not guard_create(tenant, "deleted@example.org")


def test_reconcile_erases_for_a_deleted_record_and_follows_a_merged_one(
    tenant: Tenant,
    group: SubscriberGroup,
    sync: SyncFn,
    crm_client: DataverseClient,
    crm_admin: EmulatorAdmin,
    names: None,
    no_dispatch: list[int],
    crm_org: str,
) -> None:
    setting(tenant, crm_deletion=CrmDeletion.ERASE)
    crm_admin.session.post(
        f"{crm_admin.base}/tracking",
        json={"org": crm_org, "entity": "contact", "enabled": False},
        timeout=10,
    ).raise_for_status()
    _deleted, gone = linked(crm_client, group, sync, "rec-deleted@example.org")
    merged, sub_link = linked(crm_client, group, sync, "rec-merged@example.org")
    unsubscribe(merged)
    master = crm_client.create(
        "contacts", {"lastname": "Master", "emailaddress1": "rec-master@example.org"}
    )
    crm_admin.session.delete(
        f"{crm_admin.base}/{crm_org}/contacts/{gone.crm_id}", timeout=10
    ).raise_for_status()
    crm_admin.action(  # a CRM user merges the two
        crm_org,
        "Merge",
        {
            "Target": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": master},
            "Subordinate": {
                "@odata.type": "Microsoft.Dynamics.CRM.contact",
                "contactid": str(sub_link.crm_id),
            },
            "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.contact"},
            "PerformParentingChecks": False,
        },
    )
    sent = len(no_dispatch)
    run = sync("reconcile")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert not Subscriber.objects.filter(email_normalised="rec-deleted@example.org").exists()
    entry = suppression_of(tenant, "rec-deleted@example.org")
    assert entry is not None and entry.reason == SuppressionReason.ERASED
    assert run.counters["reconcile"]["erased_deleted"] == 1
    merged.refresh_from_db()
    assert merged.consent == ConsentState.OPTED_OUT  # untouched by the merge
    assert str(RecordLink.objects.get(subscriber=merged, state=LinkState.ACTIVE).crm_id) == master
    # The record is gone: nothing is sent to the CRM.
    assert not ErasurePropagation.objects.exists() and len(no_dispatch) == sent


def test_a_crm_address_change_keeps_consent_and_the_old_address_stays_out(
    tenant: Tenant,
    group: SubscriberGroup,
    sync: SyncFn,
    crm_client: DataverseClient,
    crm_admin: EmulatorAdmin,
    names: None,
    map_field: MapFn,
    crm_org: str,
) -> None:
    map_field("contact", "emailaddress1", "email")
    out, out_link = linked(crm_client, group, sync, "old-out@example.org")
    active, active_link = linked(crm_client, group, sync, "old-in@example.org")
    unsubscribe(out)
    assert sync().status == JobStatus.SUCCEEDED
    crm_admin.patch(
        crm_org, "contacts", str(out_link.crm_id), {"emailaddress1": "new-out@example.org"}
    )
    crm_admin.patch(
        crm_org, "contacts", str(active_link.crm_id), {"emailaddress1": "new-in@example.org"}
    )
    assert sync().status == JobStatus.SUCCEEDED
    out.refresh_from_db()
    active.refresh_from_db()
    assert (out.email, out.consent) == ("new-out@example.org", ConsentState.OPTED_OUT)
    assert (active.email, active.consent) == ("new-in@example.org", ConsentState.UNKNOWN)
    # The new address inherits the objection; the old ones are not added again.
    assert not guard_create(tenant, "new-out@example.org")
    for old in ("old-out@example.org", "old-in@example.org"):
        with pytest.raises(ConsentRefused):
            create_subscriber(tenant, {"email": old})
    entry = suppression_of(tenant, "old-in@example.org")
    assert entry is not None and entry.reason == SuppressionReason.SUPERSEDED
    # A CRM duplicate still carrying an old address, on a marked list: not adopted.
    dup = record(crm_client, "old-in@example.org")
    make_list(crm_client, "Old addresses", [dup])
    assert sync("full").status == JobStatus.SUCCEEDED
    assert not Subscriber.objects.filter(email_normalised="old-in@example.org").exists()


def test_a_mailworx_address_change_reaches_the_crm_record(
    tenant: Tenant,
    group: SubscriberGroup,
    sync: SyncFn,
    crm_client: DataverseClient,
    names: None,
    map_field: MapFn,
) -> None:
    map_field("contact", "emailaddress1", "email")
    sub, link = linked(crm_client, group, sync, "before@example.org")
    update_subscriber(sub, {"email": "after@example.org"})
    assert sync().status == JobStatus.SUCCEEDED
    assert crm_client.get("contacts", str(link.crm_id))["emailaddress1"] == "after@example.org"
    sub.refresh_from_db()
    assert sub.consent == ConsentState.UNKNOWN
    assert sync("full").status == JobStatus.SUCCEEDED
    assert list(Subscriber.objects.filter(tenant=tenant).values_list("email", flat=True)) == [
        "after@example.org"
    ]
    assert not guard_create(tenant, "before@example.org")
