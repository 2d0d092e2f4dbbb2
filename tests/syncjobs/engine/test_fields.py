"""pull and push of field values against the emulator: S11, C13, C6, S2, S13, lookups,
option sets, the language mapping and date-only columns."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from audience.groups import add_members
from audience.models import (
    ConsentState,
    FieldType,
    Subscriber,
    SubscriberField,
    SubscriberFieldOption,
    SubscriberGroup,
    SubscriberStatus,
    SubscriberValue,
)
from audience.subscribers import create_subscriber, current_values, unsubscribe, update_subscriber
from dynamics import DataverseClient
from orgsettings.models import OrgSettings
from syncjobs.models import JobStatus, LinkOrigin, LinkState, RecordLink
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, MapFn, SyncFn, records_by_email

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def text_field(tenant: Tenant, key: str, ftype: str = FieldType.TEXT,
               options: tuple[str, ...] = ()) -> SubscriberField:
    field = SubscriberField.objects.create(tenant=tenant, key=key, label_en=key, label_de=key,
                                           field_type=ftype)
    for value in options:
        SubscriberFieldOption.objects.create(field=field, value=value, label_en=value,
                                             label_de=value)
    return field


def linked_contact(client: DataverseClient, group: SubscriberGroup, sync: SyncFn,
                   email: str, crm: dict[str, Any], **sub_values: Any
                   ) -> tuple[Subscriber, RecordLink]:
    client.create("contacts", {"emailaddress1": email, "lastname": "Crm", **crm})
    sub = create_subscriber(group.tenant, {"email": email, **sub_values})
    add_members(group, [sub.pk])
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    return sub, RecordLink.objects.get(subscriber=sub)


def values(sub: Subscriber) -> dict[str, str]:
    return current_values([sub.pk]).get(sub.pk, {})


def contact(client: DataverseClient, link: RecordLink, *cols: str) -> dict[str, Any]:
    return client.get("contacts", str(link.crm_id), select=list(cols))


@pytest.fixture
def job(tenant: Tenant, map_field: MapFn, names: None) -> SubscriberField:
    text_field(tenant, "job")
    map_field("contact", "jobtitle", "job")
    return SubscriberField.objects.get(tenant=tenant, key="job")


def test_s11_field_by_field_newer_side_wins_and_one_sided_changes_carry_over(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, job: SubscriberField, crm_org: str) -> None:
    sub, link = linked_contact(crm_client, group, sync, "s11@example.org",
                               {"firstname": "Anna", "lastname": "Alt", "jobtitle": "Clerk"})
    assert values(sub)["first_name"] == "Anna"  # empty mailworx side took the CRM's values
    crm_admin.patch(crm_org, "contacts", str(link.crm_id),
                    {"firstname": "Anne-CRM", "lastname": "Neu-CRM", "jobtitle": "Manager"})
    crm_time = timezone.now()
    # first name: changed on both sides, the CRM later → the CRM's value wins
    update_subscriber(sub, {"first_name": "Anna-MWX"}, now=crm_time - dt.timedelta(hours=1))
    # last name: changed on both sides, mailworx later → mailworx's value wins
    update_subscriber(sub, {"last_name": "Neu-MWX"}, now=crm_time + dt.timedelta(hours=1))
    # job: changed in the CRM only → the CRM's value
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    got = values(sub)
    assert got["first_name"] == "Anne-CRM"
    assert got["last_name"] == "Neu-MWX"
    assert got["job"] == "Manager"
    row = contact(crm_client, link, "firstname", "lastname", "jobtitle")
    assert (row["firstname"], row["lastname"], row["jobtitle"]) == (
        "Anne-CRM", "Neu-MWX", "Manager")
    # after the sync both sides equal the values last synced: a further run changes nothing
    link.refresh_from_db()
    assert link.synced_values["last_name"] == "Neu-MWX"
    again = sync()
    assert again.counters["push"].get("updated", 0) == 0
    assert again.counters["pull"].get("fields_updated", 0) == 0


def test_s11_a_field_changed_on_the_mailworx_side_only_goes_to_the_crm(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        job: SubscriberField, monkeypatch: pytest.MonkeyPatch, client_class: Any) -> None:
    sub, link = linked_contact(crm_client, group, sync, "mwx-only@example.org",
                               {"jobtitle": "Clerk"})
    update_subscriber(sub, {"job": "Boss"})
    sent: list[dict[str, Any]] = []
    real = client_class.update_multiple

    def spy(self: DataverseClient, entity_set: str, table: str,
            records: list[dict[str, Any]], **kwargs: Any) -> Any:
        sent.extend(records)
        return real(self, entity_set, table, records, **kwargs)
    monkeypatch.setattr(client_class, "update_multiple", spy)
    run = sync()
    assert run.counters["push"]["updated"] == 1
    assert contact(crm_client, link, "jobtitle")["jobtitle"] == "Boss"
    assert sent == [{"contactid": str(link.crm_id), "jobtitle": "Boss"}]  # changed column only


def test_c13_unmapped_fields_are_never_touched(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None, crm_org: str) -> None:
    text_field(tenant, "notes")
    sub, link = linked_contact(crm_client, group, sync, "c13@example.org",
                               {"firstname": "Carla"}, notes="keep me")
    stamp = SubscriberValue.objects.get(subscriber=sub, field__key="notes").modified_at
    crm_admin.patch(crm_org, "contacts", str(link.crm_id),
                    {"firstname": None, "jobtitle": "whatever"})
    sync()
    assert values(sub)["notes"] == "keep me"
    assert SubscriberValue.objects.get(subscriber=sub, field__key="notes").modified_at == stamp
    assert values(sub)["first_name"] == ""  # the mapped field follows the CRM


def test_c6_bidirectional_off_group_records_do_not_flow_back(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, org: OrgSettings, job: SubscriberField, crm_org: str) -> None:
    sub, link = linked_contact(crm_client, group, sync, "c6@example.org",
                               {"jobtitle": "Clerk"}, job="Clerk")
    OrgSettings.objects.filter(pk=org.pk).update(bidirectional_sync=False)
    crm_admin.patch(crm_org, "contacts", str(link.crm_id), {"jobtitle": "CRM-Change"})
    run = sync()
    assert values(sub)["job"] == "Clerk"
    assert run.counters["pull"]["skipped"]["bidirectional sync off"] == 1
    update_subscriber(sub, {"job": "MWX-Change"})  # mailworx → CRM still flows
    sync()
    assert contact(crm_client, link, "jobtitle")["jobtitle"] == "MWX-Change"
    # a subscriber that came from a CRM marketing list always receives CRM changes
    RecordLink.objects.filter(pk=link.pk).update(origin=LinkOrigin.CRM_LIST)
    crm_admin.patch(crm_org, "contacts", str(link.crm_id), {"jobtitle": "List-Change"})
    sync()
    assert values(sub)["job"] == "List-Change"


def test_lookup_mappings_flow_from_the_crm_only(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, map_field: MapFn, crm_org: str) -> None:
    map_field("contact", "parentcustomerid", "company", related="account.name")
    account = crm_client.create("accounts", {"name": "Lookup AG"})
    sub, link = linked_contact(crm_client, group, sync, "lookup@example.org",
                               {"parentcustomerid_account@odata.bind": f"/accounts({account})"})
    assert values(sub)["company"] == "Lookup AG"
    crm_admin.patch(crm_org, "accounts", account, {"name": "Lookup AG (renamed)"})
    crm_admin.patch(crm_org, "contacts", str(link.crm_id), {"jobtitle": "touch"})
    sync()
    assert values(sub)["company"] == "Lookup AG (renamed)"
    update_subscriber(sub, {"company": "Changed in mailworx"})
    sync()
    assert crm_client.get("accounts", account, select=["name"])["name"] == "Lookup AG (renamed)"


def test_option_sets_language_and_date_only_values(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        map_field: MapFn) -> None:
    text_field(tenant, "salutation", FieldType.SINGLE_SELECT, ("mr", "ms", "dr", "diverse"))
    map_field("contact", "mwx_salutation", "salutation", options={
        100000000: "mr", 100000001: "ms", 100000002: "dr", 100000003: "diverse"})
    # The emulator's contact has no language column; a two-value choice stands in for it.
    map_field("contact", "gendercode", "language", options={1: "de", 2: "en"})
    map_field("contact", "birthdate", "birthday")
    sub, link = linked_contact(crm_client, group, sync, "options@example.org", {
        "mwx_salutation": 100000001, "gendercode": 1, "birthdate": "1990-01-01"})
    sub.refresh_from_db()
    got = values(sub)
    assert got["salutation"] == "ms"
    assert got["language"] == "de" and sub.language == "de"
    assert got["birthday"] == "1990-01-01"  # no time-zone shift of a date-only value
    update_subscriber(sub, {"salutation": "dr", "language": "en", "birthday": "1985-12-31"})
    sync()
    row = contact(crm_client, link, "mwx_salutation", "gendercode", "birthdate")
    assert (row["mwx_salutation"], row["gendercode"], row["birthdate"]) == (
        100000002, 2, "1985-12-31")


def test_s13_unsubscribes_are_written_back_and_opt_outs_never_reactivated(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None, crm_org: str) -> None:
    sub, link = linked_contact(crm_client, group, sync, "s13@example.org", {})
    unsubscribe(sub)
    run = sync()
    assert run.counters["push"]["unsubscribes_written"] == 1
    assert contact(crm_client, link, "donotbulkemail")["donotbulkemail"] is True
    opted_out, out_link = linked_contact(crm_client, group, sync, "optout@example.org",
                                         {"donotbulkemail": True})
    opted_out.refresh_from_db()
    assert opted_out.status == SubscriberStatus.UNSUBSCRIBED
    crm_admin.patch(crm_org, "contacts", str(out_link.crm_id), {"donotbulkemail": False})
    sync()
    opted_out.refresh_from_db()
    # Never made active again by the CRM alone (N6): it awaits a confirmed opt-in, and the
    # CRM user's change is left as it is (docs/consent.md §The CRM).
    assert opted_out.status == SubscriberStatus.PENDING
    assert opted_out.consent == ConsentState.AWAITING_CONFIRMATION
    assert contact(crm_client, out_link, "donotbulkemail")["donotbulkemail"] is False


def test_s2_a_lead_that_gets_qualified_no_longer_comes_over(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None, crm_org: str) -> None:
    lead = crm_client.create("leads", {"lastname": "Lead", "subject": "x",
                                       "emailaddress1": "s2@example.org"})
    sub = create_subscriber(group.tenant, {"email": "s2@example.org"})
    add_members(group, [sub.pk])
    sync()
    assert values(sub)["last_name"] == "Lead"
    # Qualified without new records: what QualifyLead does with every Create* off, on
    # either protocol (Qualified, status "Qualified").
    crm_client.set_state("leads", lead, 1, 3)
    crm_admin.patch(crm_org, "leads", lead, {"lastname": "After qualification"})
    run = sync()
    assert values(sub)["last_name"] == "Lead"
    assert run.counters["pull"]["skipped"]["qualified lead"] >= 1


@pytest.mark.webapi_only  # change tracking's delta reports deletions (SOAP: test_config reconcile)
def test_deleted_records_are_unlinked_and_never_recreated(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None, crm_org: str) -> None:
    sub, link = linked_contact(crm_client, group, sync, "gone@example.org", {})
    crm_admin.session.delete(f"{crm_admin.base}/{crm_org}/contacts/{link.crm_id}",
                             timeout=10).raise_for_status()
    sync()
    link.refresh_from_db()
    assert link.state == LinkState.CRM_DELETED
    sync()
    assert records_by_email(crm_client, "gone@example.org")["contact"] == []
    assert Subscriber.objects.get(pk=sub.pk).merged_into_id is None


def test_merged_records_are_followed_to_the_master(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, crm_org: str, names: None) -> None:
    sub, link = linked_contact(crm_client, group, sync, "merged@example.org", {})
    master = crm_client.create("contacts", {"lastname": "Master",
                                            "emailaddress1": "master@example.org"})
    crm_admin.action(crm_org, "Merge", {  # a CRM user merges the two
        "Target": {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": master},
        "Subordinate": {"@odata.type": "Microsoft.Dynamics.CRM.contact",
                        "contactid": str(link.crm_id)},
        "UpdateContent": {"@odata.type": "Microsoft.Dynamics.CRM.contact"},
        "PerformParentingChecks": False})
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    live = RecordLink.objects.get(subscriber=sub, state=LinkState.ACTIVE)
    assert str(live.crm_id) == master
    link.refresh_from_db()
    assert link.state == LinkState.UNLINKED and str(link.merged_into) == master


def test_s13_the_link_remembers_the_bulk_email_flag_and_writes_it_once(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None, crm_org: str) -> None:
    sub, link = linked_contact(crm_client, group, sync, "flag@example.org", {})
    assert link.bulk_email_blocked is False
    unsubscribe(sub)
    assert sync().counters["push"]["unsubscribes_written"] == 1
    link.refresh_from_db()
    assert link.bulk_email_blocked is True
    assert "@donotbulkemail" not in link.synced_values
    again = sync()
    assert "unsubscribes_written" not in again.counters.get("push", {})
    # Cleared in the CRM: the pull learns it; the subscriber awaits a confirmed opt-in
    # (N6) and push leaves the CRM user's change alone.
    crm_admin.patch(crm_org, "contacts", str(link.crm_id), {"donotbulkemail": False})
    cleared = sync()
    assert "unsubscribes_written" not in cleared.counters.get("push", {})
    assert cleared.counters["pull"]["awaiting_confirmation"] == 1
    link.refresh_from_db()
    sub.refresh_from_db()
    assert link.bulk_email_blocked is False
    assert sub.consent == ConsentState.AWAITING_CONFIRMATION


def test_a_renamed_related_record_reaches_the_subscribers_whose_lookup_points_at_it(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, map_field: MapFn, crm_org: str) -> None:
    """No change on the contact itself: the account's rename alone must come over (the
    company would otherwise depend on when the contact happened to be read last)."""
    map_field("contact", "parentcustomerid", "company", related="account.name")
    account = crm_client.create("accounts", {"name": "Parent GmbH"})
    sub, _link = linked_contact(crm_client, group, sync, "parent@example.org",
                                {"parentcustomerid_account@odata.bind": f"/accounts({account})"})
    other = create_subscriber(group.tenant, {"email": "unrelated@example.org"})
    add_members(group, [other.pk])
    assert sync().status == JobStatus.SUCCEEDED
    assert values(sub)["company"] == "Parent GmbH"
    crm_admin.patch(crm_org, "accounts", account, {"name": "Parent GmbH & Co. KG"})
    run = sync()
    assert run.status == JobStatus.SUCCEEDED
    assert values(sub)["company"] == "Parent GmbH & Co. KG"
    assert run.counters["pull"]["lookups_refreshed"] == 1  # only the contact pointing at it
    assert values(other).get("company", "") == ""
