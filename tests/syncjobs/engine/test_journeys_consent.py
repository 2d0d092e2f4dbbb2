"""Consent in Customer Insights – Journeys (contoso has the contact point consent table,
fabrikam has not): docs/sync-engine.md §Contact point consent."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from audience.consent import Who, history, record_change
from audience.groups import add_members, create_group, save_sync_setting
from audience.models import ConsentSource, ConsentState, Subscriber, SubscriberGroup
from audience.services import ensure_standard_fields
from audience.subscribers import create_subscriber
from businessunits.services import create_unit
from dynamics import DataverseClient
from dynamics.journeys import CONSENT_SET, ConsentStatus
from dynamics.journeys import ConsentSource as JourneysSource
from dynamics_emulator.server import EmulatorServer
from fieldmapping.catalogue import load_catalogue
from fieldmapping.metadata import attribute_data
from fieldmapping.models import CrmAttribute
from fieldmapping.services import MappingInput, save_mapping
from orgsettings.connection import client_for
from orgsettings.models import OrgSettings
from syncjobs.models import JobStatus, RecordLink
from syncjobs.models.sync import IssueState, SyncCursor, SyncIssue
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin, configure_tenant_for_emulator
from tests.syncjobs.engine.conftest import SyncFn

pytestmark = pytest.mark.django_db
ADMIN = Who(actor="test")


def consent_rows(admin: EmulatorAdmin, address: str, org: str = "contoso"
                 ) -> list[dict[str, Any]]:
    response = admin.session.get(f"{admin.base}/{org}/{CONSENT_SET}", params={
        "$filter": f"msdynmkt_contactpointvalue eq '{address}'"}, timeout=10)
    response.raise_for_status()
    return list(response.json()["value"])


def commercial_purpose(admin: EmulatorAdmin) -> str:
    response = admin.session.get(f"{admin.base}/contoso/msdynmkt_purposes", params={
        "$filter": "msdynmkt_type eq 534120000"}, timeout=10)
    return str(response.json()["value"][0]["msdynmkt_purposeid"])


def linked(client: DataverseClient, group: SubscriberGroup, sync: SyncFn, email: str,
           state: ConsentState | None = None,
           source: ConsentSource = ConsentSource.FORM) -> Subscriber:
    """A subscriber linked to a new CRM contact with its address, optionally with a
    consent state recorded first (by default as a sign-up form would)."""
    client.create("contacts", {"emailaddress1": email, "lastname": "Crm"})
    sub = create_subscriber(group.tenant, {"email": email})
    if state is not None:
        record_change(sub, state, source=source, who=ADMIN)
    add_members(group, [sub.pk])
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert RecordLink.objects.filter(subscriber=sub).exists()
    sub.refresh_from_db()
    return sub


def test_an_opt_out_in_mailworx_is_recorded_in_journeys_and_on_the_record(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None) -> None:
    sub = linked(crm_client, group, sync, "out@journeys.example", ConsentState.OPTED_IN)
    [row] = consent_rows(crm_admin, "out@journeys.example")
    assert row["msdynmkt_value"] == ConsentStatus.OPTED_IN
    record_change(sub, ConsentState.OPTED_OUT, source=ConsentSource.FORM, who=ADMIN)
    run = sync()
    assert run.counters["journeys"]["opt_outs_written"] == 1
    [row] = consent_rows(crm_admin, "out@journeys.example")  # updated, not a second row
    assert (row["msdynmkt_value"], row["msdynmkt_source"], row["msdynmkt_logicalreason"],
            row["msdynmkt_contactpointtype"], row["msdynmkt_contactpointconsenttype"],
            row["_msdynmkt_purposeid_value"]) == (
        ConsentStatus.OPTED_OUT, JourneysSource.INTERNAL, 534119999, 534120000, 534120000,
        commercial_purpose(crm_admin))
    assert row["msdynmkt_reason"] == "mailworx: opted out (Sign-up form)"
    # "do not allow bulk email" stays the carrier as well (S13).
    link = RecordLink.objects.get(subscriber=sub)
    contact = crm_client.get("contacts", str(link.crm_id), select=["donotbulkemail"])
    assert contact["donotbulkemail"] is True
    quiet = sync()  # reading its own row back changes nothing
    assert "opt_outs_written" not in quiet.counters.get("journeys", {})
    sub.refresh_from_db()
    assert sub.consent == ConsentState.OPTED_OUT


def test_an_opt_out_made_in_journeys_opts_the_subscriber_out(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None) -> None:
    sub = linked(crm_client, group, sync, "crm-out@journeys.example", ConsentState.OPTED_IN)
    [row] = consent_rows(crm_admin, "crm-out@journeys.example")
    crm_admin.patch("contoso", CONSENT_SET, row["msdynmkt_contactpointconsent4id"],
                    {"msdynmkt_value": ConsentStatus.OPTED_OUT, "msdynmkt_reason": "phone call"})
    run = sync()
    assert run.counters["journeys"]["unsubscribed"] == 1
    sub.refresh_from_db()
    assert sub.consent == ConsentState.OPTED_OUT
    event = history(sub).first()
    assert event is not None and event.source == ConsentSource.CRM_CONSENT_TABLE
    assert event.detail["record_id"] == row["msdynmkt_contactpointconsent4id"]
    assert event.detail["reason"] == "phone call"
    # The opt-out also travels to the record's "do not allow bulk email" (S13).
    link = RecordLink.objects.get(subscriber=sub)
    sync()
    assert crm_client.get("contacts", str(link.crm_id),
                          select=["donotbulkemail"])["donotbulkemail"] is True


def test_a_re_opt_in_in_journeys_awaits_confirmation(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None) -> None:
    sub = linked(crm_client, group, sync, "back@journeys.example", ConsentState.OPTED_OUT)
    [row] = consent_rows(crm_admin, "back@journeys.example")
    assert row["msdynmkt_value"] == ConsentStatus.OPTED_OUT
    crm_admin.patch("contoso", CONSENT_SET, row["msdynmkt_contactpointconsent4id"],
                    {"msdynmkt_value": ConsentStatus.OPTED_IN})
    run = sync()
    assert run.counters["journeys"]["awaiting_confirmation"] == 1
    sub.refresh_from_db()
    assert sub.consent == ConsentState.AWAITING_CONFIRMATION  # not a recipient again
    again = sync()
    sub.refresh_from_db()
    assert sub.consent == ConsentState.AWAITING_CONFIRMATION
    assert not {"awaiting_confirmation", "opt_outs_written", "opt_ins_written"} & set(
        again.counters.get("journeys", {}))


def test_an_opt_in_the_crm_gave_is_not_echoed_and_yields_to_a_journeys_opt_out(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None) -> None:
    # e.g. a subscriber adopted from a marketing list: the record allowed bulk email.
    given = linked(crm_client, group, sync, "given@journeys.example", ConsentState.OPTED_IN,
                   ConsentSource.CRM)
    assert consent_rows(crm_admin, "given@journeys.example") == []  # no opt-in invented
    assert given.consent == ConsentState.OPTED_IN
    crm_admin.session.post(f"{crm_admin.base}/contoso/{CONSENT_SET}", json={
        "msdynmkt_contactpointvalue": "blocked@journeys.example",
        "msdynmkt_contactpointtype": 534120000, "msdynmkt_value": ConsentStatus.OPTED_OUT,
        "msdynmkt_source": 534120004, "msdynmkt_logicalreason": 534120004,
        "msdynmkt_purposeId@odata.bind":
            f"/msdynmkt_purposes({commercial_purpose(crm_admin)})"},
        timeout=10).raise_for_status()
    # Adopted after the opt-out was recorded in Journeys: the opt-out still wins.
    blocked = linked(crm_client, group, sync, "blocked@journeys.example",
                     ConsentState.OPTED_IN, ConsentSource.CRM)
    assert blocked.consent == ConsentState.OPTED_OUT


def test_opt_outs_recorded_in_journeys_before_linking_reach_mailworx(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None) -> None:
    crm_admin.session.post(f"{crm_admin.base}/contoso/{CONSENT_SET}", json={
        "msdynmkt_contactpointvalue": "Early@Journeys.example",
        "msdynmkt_contactpointtype": 534120000, "msdynmkt_value": ConsentStatus.OPTED_OUT,
        "msdynmkt_source": 534120001, "msdynmkt_logicalreason": 534120006,
        "msdynmkt_purposeId@odata.bind":
            f"/msdynmkt_purposes({commercial_purpose(crm_admin)})"},
        timeout=10).raise_for_status()
    sub = linked(crm_client, group, sync, "early@journeys.example")
    assert sub.consent == ConsentState.OPTED_OUT
    unknown = linked(crm_client, group, sync, "silent@journeys.example")
    assert unknown.consent == ConsentState.UNKNOWN
    assert consent_rows(crm_admin, "silent@journeys.example") == []  # nothing invented


def on_premise_group(tenant: Tenant) -> SubscriberGroup:
    """A synced group of the on-premise organisation (fabrikam), as test_on_premise.py."""
    fields = {f.key: f for f in ensure_standard_fields(tenant)}
    with client_for(tenant) as client:
        load_catalogue(tenant, {"entities": {"contact": {"attributes": [
            attribute_data(a) for a in client.entity_attributes("contact")]}}})
    unit = create_unit(tenant, name="On-prem", owner_id="00000000-0000-0000-0000-000000000002",
                       owner_name="x")
    save_mapping(unit, "contact", MappingInput(
        CrmAttribute.objects.get(tenant=tenant, entity="contact", logical_name="lastname"),
        fields["last_name"]))
    group = create_group(tenant, "On-prem newsletter")
    save_sync_setting(group, future_owner="FABRIKAM\\mwxsync")
    return group


def test_without_journeys_do_not_allow_bulk_email_carries_consent_alone(
        tenant: Tenant, crm: EmulatorServer, crm_admin: EmulatorAdmin, sync: SyncFn) -> None:
    settings = configure_tenant_for_emulator(tenant, crm, org="fabrikam")
    OrgSettings.objects.filter(pk=settings.pk).update(check_passed_at=timezone.now(),
                                                      sync_started_at=timezone.now())
    group = on_premise_group(tenant)
    sub = create_subscriber(tenant, {"email": "fab@journeys.example", "last_name": "F"})
    record_change(sub, ConsentState.OPTED_IN, source=ConsentSource.FORM, who=ADMIN)
    add_members(group, [sub.pk])
    assert sync().status == JobStatus.SUCCEEDED
    # The first run looked for the table once and remembers it is missing.
    assert SyncCursor.objects.get(tenant=tenant, name="journeys:table").signature == "-"
    record_change(sub, ConsentState.OPTED_OUT, source=ConsentSource.FORM, who=ADMIN)
    crm_admin.session.post(f"{crm_admin.base}/counters/reset", timeout=10)
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counters["push"]["unsubscribes_written"] == 1
    assert "journeys" not in run.counters or not {
        k for k in run.counters["journeys"] if k != "skipped"}
    # Not asked for again, and no consent request at all.
    assert not any("msdynmkt" in key or "EntityDefinitions" in key
                   for key in crm_admin.counters())


def test_a_write_the_crm_refuses_is_an_issue_and_is_tried_again(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None) -> None:
    sub = linked(crm_client, group, sync, "refused@journeys.example")
    purpose = commercial_purpose(crm_admin)
    kept = crm_admin.session.get(f"{crm_admin.base}/contoso/msdynmkt_purposes", params={
        "$filter": f"msdynmkt_purposeid eq {purpose}"}, timeout=10).json()["value"][0]
    crm_admin.session.delete(f"{crm_admin.base}/contoso/msdynmkt_purposes/{purpose}",
                             timeout=10).raise_for_status()
    record_change(sub, ConsentState.OPTED_OUT, source=ConsentSource.FORM, who=ADMIN)
    failed = sync()
    assert failed.status == JobStatus.SUCCEEDED, failed.error
    assert failed.counters["journeys"]["failed"] == 1
    issue = SyncIssue.objects.get(subscriber=sub, step="journeys")
    assert issue.state == IssueState.OPEN
    crm_admin.session.post(f"{crm_admin.base}/contoso/msdynmkt_purposes", json={
        key: kept[key] for key in ("msdynmkt_purposeid", "msdynmkt_name", "msdynmkt_type",
                                   "msdynmkt_enforcementmodel")}, timeout=10).raise_for_status()
    retried = sync()
    assert retried.counters["journeys"]["opt_outs_written"] == 1
    [row] = consent_rows(crm_admin, "refused@journeys.example")
    assert row["msdynmkt_value"] == ConsentStatus.OPTED_OUT
    issue.refresh_from_db()
    assert issue.state == IssueState.RESOLVED


def test_rows_of_addresses_mailworx_does_not_know_cost_no_look_up(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None) -> None:
    linked(crm_client, group, sync, "known@journeys.example")

    def batches() -> int:
        return sum(n for key, n in crm_admin.counters().items() if "$batch" in key)

    crm_admin.session.post(f"{crm_admin.base}/counters/reset", timeout=10)
    sync()
    baseline = batches()  # nothing changed: no look-up
    purpose = commercial_purpose(crm_admin)
    for i in range(3):  # e.g. sign-ups through a Journeys form
        crm_admin.session.post(f"{crm_admin.base}/contoso/{CONSENT_SET}", json={
            "msdynmkt_contactpointvalue": f"stranger{i}@journeys.example",
            "msdynmkt_contactpointtype": 534120000, "msdynmkt_value": ConsentStatus.OPTED_IN,
            "msdynmkt_source": 534120005, "msdynmkt_logicalreason": 534119999,
            "msdynmkt_purposeId@odata.bind": f"/msdynmkt_purposes({purpose})"},
            timeout=10).raise_for_status()
    crm_admin.session.post(f"{crm_admin.base}/counters/reset", timeout=10)
    run = sync()
    assert run.counters["journeys"]["rows_read"] >= 3
    assert batches() == baseline  # no look-up for the strangers' addresses
    assert not Subscriber.objects.filter(email__startswith="stranger").exists()


def test_a_refused_consent_table_is_an_issue_and_the_run_goes_on(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None) -> None:
    sub = linked(crm_client, group, sync, "norights@journeys.example", ConsentState.OPTED_IN)
    crm_admin.session.post(f"{crm_admin.base}/faults", json={"fail_next": [
        {"method": "GET", "path": CONSENT_SET, "status": 403, "count": 1}]},
        timeout=10).raise_for_status()
    record_change(sub, ConsentState.OPTED_OUT, source=ConsentSource.FORM, who=ADMIN)
    refused = sync()
    assert refused.status == JobStatus.SUCCEEDED, refused.error
    assert refused.counters["journeys"]["failed"] == 1
    assert "lists" in refused.counters  # the steps after it ran
    assert refused.counters["push"]["unsubscribes_written"] == 1  # S13 still carries it
    issue = SyncIssue.objects.get(tenant=group.tenant, step="journeys", subscriber=None)
    assert issue.state == IssueState.OPEN and "security role" in issue.hint
    caught_up = sync()
    assert caught_up.counters["journeys"]["opt_outs_written"] == 1
    issue.refresh_from_db()
    assert issue.state == IssueState.RESOLVED
