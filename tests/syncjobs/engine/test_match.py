"""match against the emulator: S5, S7, S8, S9 (and the counters a run reports)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from audience.groups import add_members, save_sync_setting
from audience.models import GroupMembership, GroupSyncSetting, Subscriber, SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics import DataverseClient
from orgsettings.models import OrgSettings
from syncjobs.models import JobStatus, LinkState, RecordLink, SyncIssue
from syncjobs.models.sync import SyncCursor
from tenants.models import Tenant
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn, records_by_email

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def subscribe(group: SubscriberGroup, email: str, **values: Any) -> Subscriber:
    sub = create_subscriber(group.tenant, {"email": email, **values})
    add_members(group, [sub.pk])
    return sub


def first(client: DataverseClient, entity_set: str, flt: str) -> dict[str, Any]:
    return next(iter(client.query(entity_set, filter=flt, top=1)))


def test_s7_contact_account_and_lead_with_one_address_link_the_contact(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient) -> None:
    email = "office@shared-everywhere.example"
    before = records_by_email(crm_client, email)
    assert all(len(rows) == 1 for rows in before.values())
    sub = subscribe(group, email)
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    link = RecordLink.objects.get(subscriber=sub)
    assert (link.entity_type, str(link.crm_id)) == ("contact", before["contact"][0]["contactid"])
    assert run.counters["match"]["linked"] == 1
    after = records_by_email(crm_client, email)
    assert {table: [r[f"{table}id"] for r in rows] for table, rows in after.items()} == {
        table: [r[f"{table}id"] for r in rows] for table, rows in before.items()}  # no new one
    # The linked record now names its subscriber (the others are untouched).
    assert after["contact"][0]["mwx_subscriberid"] == str(sub.pk)
    assert after["account"] == before["account"] and after["lead"] == before["lead"]


def test_s7_account_and_lead_with_one_address_link_the_account(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient) -> None:
    email = "both@account-lead.example"
    account = crm_client.create("accounts", {"name": "Both GmbH", "emailaddress1": email})
    crm_client.create("leads", {"lastname": "Both", "subject": "x", "emailaddress1": email})
    sub = subscribe(group, email)
    assert sync().status == JobStatus.SUCCEEDED
    link = RecordLink.objects.get(subscriber=sub)
    assert (link.entity_type, str(link.crm_id)) == ("account", account)


def test_s5_mode_both_creates_a_contact_once(group: SubscriberGroup, sync: SyncFn,
                                             crm_client: DataverseClient) -> None:
    sub = subscribe(group, "new.person@example.org", first_name="Nora", last_name="Neu")
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    link = RecordLink.objects.get(subscriber=sub)
    assert link.state == LinkState.ACTIVE and link.entity_type == "contact"
    found = records_by_email(crm_client, "new.person@example.org")
    assert [r["contactid"] for r in found["contact"]] == [str(link.crm_id)]
    assert run.counters["match"]["created"] == 1 and run.counters["push"]["created"] == 1
    assert sync().status == JobStatus.SUCCEEDED  # a second run creates nothing more
    assert len(records_by_email(crm_client, "new.person@example.org")["contact"]) == 1


def test_s5_mode_link_never_creates(group: SubscriberGroup, sync: SyncFn,
                                    crm_client: DataverseClient) -> None:
    save_sync_setting(group, mode="link")
    sub = subscribe(group, "nobody@example.org")
    run = sync()
    assert not RecordLink.objects.filter(subscriber=sub).exists()
    assert run.counters["match"]["skipped"] == {"no CRM record to link": 1}
    assert records_by_email(crm_client, "nobody@example.org")["contact"] == []


def test_s5_mode_create_never_links_an_existing_record(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient) -> None:
    save_sync_setting(group, mode="create")
    email = "office@shared-everywhere.example"
    sub = subscribe(group, email)
    sync()
    assert not RecordLink.objects.filter(subscriber=sub).exists()
    issue = SyncIssue.objects.get(subscriber=sub)
    assert "may only create" in issue.reason
    assert len(records_by_email(crm_client, email)["contact"]) == 1


# A future owner as a person writes it: an e-mail address Online, DOMAIN\\user on-premise.
OWNERS = {"contoso": ("anna.berger@contoso.example", "internalemailaddress",
                      "ghost@contoso.example"),
          "legacy2015": ("FABRIKAM\\reader", "domainname", "FABRIKAM\\ghost")}


def test_s5_new_records_get_the_groups_entity_type_and_owner(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_org: str) -> None:
    owner, column, _ghost = OWNERS[crm_org]
    save_sync_setting(group, entity_type="lead", future_owner=owner)
    sub = subscribe(group, "lead.me@example.org")
    assert sync().status == JobStatus.SUCCEEDED
    link = RecordLink.objects.get(subscriber=sub)
    assert link.entity_type == "lead"
    lead = crm_client.get("leads", str(link.crm_id), select=["_ownerid_value"])
    user = first(crm_client, "systemusers", f"{column} eq '{owner}'")
    assert lead["_ownerid_value"] == user["systemuserid"]


def test_s5_an_unknown_owner_is_explained_and_nothing_created(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_org: str) -> None:
    ghost = OWNERS[crm_org][2]
    save_sync_setting(group, future_owner=ghost)
    sub = subscribe(group, "owned@example.org")
    run = sync()
    assert run.status == JobStatus.SUCCEEDED
    issue = SyncIssue.objects.get(subscriber=sub)
    assert ghost in issue.reason and "not found" in issue.reason
    assert "Traceback" not in issue.reason
    assert records_by_email(crm_client, "owned@example.org")["contact"] == []


def test_s8_deactivated_best_match_is_not_reactivated_with_the_option_off(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient) -> None:
    contact = first(crm_client, "contacts", "statecode eq 1")
    sub = subscribe(group, contact["emailaddress1"])
    sync()
    assert not RecordLink.objects.filter(subscriber=sub).exists()
    assert "deactivated" in SyncIssue.objects.get(subscriber=sub).reason
    assert crm_client.get("contacts", contact["contactid"])["statecode"] == 1
    assert len(records_by_email(crm_client, contact["emailaddress1"])["contact"]) == 1


def test_s8_deactivated_best_match_is_reactivated_with_the_option_on(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        org: OrgSettings) -> None:
    OrgSettings.objects.filter(pk=org.pk).update(reactivate_deactivated=True)
    contact = first(crm_client, "contacts", "statecode eq 1")
    sub = subscribe(group, contact["emailaddress1"])
    run = sync()
    assert run.counters["match"]["reactivated"] == 1
    assert str(RecordLink.objects.get(subscriber=sub).crm_id) == contact["contactid"]
    assert crm_client.get("contacts", contact["contactid"])["statecode"] == 0


def _deactivated_contact_and_active_lead(crm_client: DataverseClient,
                                         email: str) -> tuple[str, str]:
    contact = first(crm_client, "contacts", "statecode eq 1")
    crm_client.update("contacts", contact["contactid"], {"emailaddress1": email})
    lead = first(crm_client, "leads", "statecode eq 0")
    crm_client.update("leads", lead["leadid"], {"emailaddress1": email})
    return contact["contactid"], lead["leadid"]


def test_s8_with_reactivation_on_the_table_order_wins_and_the_contact_is_reactivated(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        org: OrgSettings) -> None:
    OrgSettings.objects.filter(pk=org.pk).update(reactivate_deactivated=True)
    contact_id, lead_id = _deactivated_contact_and_active_lead(crm_client, "s8on@example.org")
    sub = subscribe(group, "s8on@example.org")
    run = sync()
    assert run.counters["match"]["reactivated"] == 1
    link = RecordLink.objects.get(subscriber=sub)
    assert (link.entity_type, str(link.crm_id)) == ("contact", contact_id)
    assert crm_client.get("contacts", contact_id)["statecode"] == 0
    assert crm_client.get("leads", lead_id)["statecode"] == 0  # untouched


def test_s8_with_reactivation_off_an_active_lead_wins_over_a_deactivated_contact(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient) -> None:
    contact_id, lead_id = _deactivated_contact_and_active_lead(crm_client, "s8off@example.org")
    sub = subscribe(group, "s8off@example.org")
    run = sync()
    assert "reactivated" not in run.counters["match"]
    link = RecordLink.objects.get(subscriber=sub)
    assert (link.entity_type, str(link.crm_id)) == ("lead", lead_id)
    assert crm_client.get("contacts", contact_id)["statecode"] == 1


def test_s8_a_qualified_lead_is_never_reactivated_even_with_the_option_on(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        org: OrgSettings) -> None:
    OrgSettings.objects.filter(pk=org.pk).update(reactivate_deactivated=True)
    lead = first(crm_client, "leads", "statecode eq 1")
    email = "qualified@example.org"
    crm_client.update("leads", lead["leadid"], {"emailaddress1": email})
    save_sync_setting(group, mode="link")
    sub = subscribe(group, email)
    sync()
    assert not RecordLink.objects.filter(subscriber=sub).exists()
    assert "qualified lead" in SyncIssue.objects.get(subscriber=sub).reason
    assert crm_client.get("leads", lead["leadid"])["statecode"] == 1
    save_sync_setting(group, mode="both")  # then a new contact is created instead
    SyncIssue.objects.all().delete()
    sync()
    link = RecordLink.objects.get(subscriber=sub)
    assert link.entity_type == "contact"
    assert crm_client.get("leads", lead["leadid"])["statecode"] == 1


def test_s9_two_subscribers_with_one_address_make_one_record_and_are_merged(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn,
        crm_client: DataverseClient) -> None:
    a = subscribe(group, "twin@example.org", first_name="Tina")
    b = subscribe(group, "Twin@Example.org", last_name="Zwilling")
    run = sync()
    assert run.counters["match"]["merged"] == 1
    live = Subscriber.objects.live().filter(tenant=tenant, email_normalised="twin@example.org")
    assert list(live) == [a]
    assert Subscriber.objects.get(pk=b.pk).merged_into_id == a.pk
    assert GroupMembership.objects.filter(group=group, subscriber=a).exists()
    assert len(records_by_email(crm_client, "twin@example.org")["contact"]) == 1
    assert RecordLink.objects.filter(tenant=tenant).count() == 1


def test_s9_a_twin_that_joins_after_a_sync_is_merged_by_the_next_run(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn,
        crm_client: DataverseClient) -> None:
    # The next run checks only the addresses of subscribers that are new or changed since
    # the last look-up (N2); the twin is one of them.
    a = subscribe(group, "later@example.org", first_name="Lea")
    sync()
    # As if the first run and the group's setting were an hour old.
    hour_ago = timezone.now() - dt.timedelta(hours=1)
    SyncCursor.objects.filter(tenant=tenant, name="match").update(watermark=hour_ago)
    GroupSyncSetting.objects.filter(group=group).update(
        updated_at=hour_ago - dt.timedelta(hours=1))
    Subscriber.objects.filter(pk=a.pk).update(created_at=hour_ago)
    b = subscribe(group, "LATER@example.org", last_name="Später")
    run = sync()
    assert run.counters["match"]["merged"] == 1
    assert Subscriber.objects.get(pk=b.pk).merged_into_id == a.pk
    assert len(records_by_email(crm_client, "later@example.org")["contact"]) == 1
    assert RecordLink.objects.filter(tenant=tenant).count() == 1
