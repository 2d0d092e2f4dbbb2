"""S4 / C4 / C5: reactions → one CRM activity per recipient and campaign, exactly once;
campaign figures absolute or relative. Everything against the emulator over HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone

from audience.campaigns import create_campaign
from audience.models import Campaign
from audience.subscribers import create_subscriber
from businessunits.models import BusinessUnit
from dynamics import DataverseClient
from dynamics_emulator import credentials
from orgsettings.models import OrgSettings
from syncjobs.engine.merge import merge_subscribers
from syncjobs.models import JobStatus, SyncCursor, SyncIssue
from syncjobs.models.sync import ReactionExport, ReactionExportState
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin, configure_tenant_for_emulator
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS
from tests.syncjobs.engine.reaction_helpers import (
    activities,
    crm_counts,
    crm_record,
    expected_counts,
    export,
    link,
    linked_subscriber,
    react,
    reaction,
    writes,
)

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def test_S4_activity_regards_the_record_is_on_the_campaign_and_owned_by_the_reaction_owner(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient, no_dispatch: list[int],
        crm_campaign: tuple[str, str], reaction_team: str) -> None:
    subs = {entity: linked_subscriber(tenant, crm_client, f"{entity}@s4.example", entity)
            for entity in ("contact", "account", "lead")}
    react(tenant, [
        reaction(campaign, subs["contact"], "open", minute=1),
        reaction(campaign, subs["contact"], "open", minute=5),
        reaction(campaign, subs["contact"], "click", minute=6, url="https://a.example/1"),
        reaction(campaign, subs["contact"], "click", minute=7, url="https://a.example/2"),
        reaction(campaign, subs["contact"], "click", minute=8, url="https://a.example/1"),
        reaction(campaign, subs["account"], "open", minute=2),
        reaction(campaign, subs["lead"], "bounce", minute=3, bounce_type="soft"),
        reaction(campaign, subs["lead"], "bounce", minute=4, bounce_type="hard"),
    ])
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counters["reactions"]["written"] == 3
    # Visible on the campaign …
    on_campaign = activities(crm_client, f"_mwx_campaignid_value eq {crm_campaign[0]}")
    assert len(on_campaign) == 3
    for entity, sub in subs.items():
        row = on_campaign[f"{campaign.pk}-{sub.pk}"]
        crm_id = str(sub.crm_links.get().crm_id)
        assert row["_regardingobjectid_value"] == crm_id
        assert row["_mwx_campaignactivityid_value"] == crm_campaign[1]
        assert row["_ownerid_value"] == reaction_team
        assert (row["statecode"], row["statuscode"]) == (1, 2)  # Completed
        assert row["mwx_emailaddress"] == f"{entity}@s4.example"
        # … and on the record.
        assert list(activities(crm_client, f"_regardingobjectid_value eq {crm_id}")) == [
            f"{campaign.pk}-{sub.pk}"]
    contact = on_campaign[f"{campaign.pk}-{subs['contact'].pk}"]
    assert (contact["mwx_opens"], contact["mwx_clicks"], contact["mwx_bounces"]) == (2, 3, 0)
    assert contact["mwx_clickedurls"] == "https://a.example/1\nhttps://a.example/2"
    assert contact["subject"] == "Newsletter März: geöffnet, geklickt"  # tenant language: de
    assert contact["mwx_firstoccurredon"] == "2026-03-02T09:01:00Z"
    assert contact["mwx_lastoccurredon"] == "2026-03-02T09:08:00Z"
    lead = on_campaign[f"{campaign.pk}-{subs['lead'].pk}"]
    assert (lead["mwx_bounces"], lead["mwx_bouncetype"]) == (2, 100000001)  # the last: hard
    assert lead["subject"] == "Newsletter März: unzustellbar"


def test_S4_a_campaign_without_a_crm_campaign_gets_one_first(
        tenant: Tenant, reaction_unit: BusinessUnit, crm_client: DataverseClient,
        no_dispatch: list[int], crm_admin: EmulatorAdmin, reaction_team: str) -> None:
    campaign = create_campaign(tenant, "Summer offers", recipients=2)
    sub = linked_subscriber(tenant, crm_client, "summer@s4.example")
    react(tenant, [reaction(campaign, sub, "open")])
    assert export(tenant).status == JobStatus.SUCCEEDED
    campaign.refresh_from_db()
    assert campaign.crm_campaign_id is not None
    row = crm_client.get("campaigns", str(campaign.crm_campaign_id))
    assert row["name"] == "Summer offers"
    assert row["_ownerid_value"] == reaction_team
    assert row["mwx_opens"] == 1
    assert list(activities(crm_client, f"_mwx_campaignid_value eq {campaign.crm_campaign_id}"))
    react(tenant, [reaction(campaign, sub, "click")])
    assert export(tenant).status == JobStatus.SUCCEEDED
    assert len(list(crm_client.query("campaigns", filter="name eq 'Summer offers'"))) == 1


def test_S4_exactly_once_across_two_runs(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient, no_dispatch: list[int],
        crm_admin: EmulatorAdmin) -> None:
    subs = [linked_subscriber(tenant, crm_client, f"r{i}@twice.example") for i in range(3)]
    react(tenant, [reaction(campaign, s, k) for s in subs for k in ("open", "click")])
    assert export(tenant).status == JobStatus.SUCCEEDED
    before = writes(crm_admin)
    second = export(tenant)
    assert second.status == JobStatus.SUCCEEDED
    assert writes(crm_admin) == before  # nothing written: the CRM saw no request at all
    assert second.counters["reactions"].get("written", 0) == 0
    assert second.counters["reactions"]["unchanged"] == 3
    assert crm_counts(activities(crm_client)) == expected_counts(tenant)


def test_S4_exactly_once_across_a_crash_between_the_crm_write_and_the_cursor_update(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient, no_dispatch: list[int],
        monkeypatch: pytest.MonkeyPatch, client_class: Any) -> None:
    subs = [linked_subscriber(tenant, crm_client, f"c{i}@crash.example") for i in range(3)]
    react(tenant, [reaction(campaign, s, "open") for s in subs])
    real = client_class.upsert_multiple

    def write_then_crash(self: DataverseClient, *args: Any, **kwargs: Any) -> Any:
        real(self, *args, **kwargs)  # the CRM wrote the activities; the answer is lost
        raise ConnectionResetError("worker lost its connection")
    monkeypatch.setattr(client_class, "upsert_multiple", write_then_crash)
    assert export(tenant).status == JobStatus.FAILED
    assert not ReactionExport.objects.exists()  # nothing recorded, the cursor did not move
    assert SyncCursor.objects.get(tenant=tenant, name="reactions").watermark is None
    monkeypatch.setattr(client_class, "upsert_multiple", real)
    react(tenant, [reaction(campaign, subs[0], "open"), reaction(campaign, subs[1], "click")])
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    counts = crm_counts(activities(crm_client))
    assert counts == expected_counts(tenant)
    assert counts[f"{campaign.pk}-{subs[0].pk}"] == (2, 0, 0)


def test_S4_new_reactions_after_a_run_update_the_same_activity(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient,
        no_dispatch: list[int]) -> None:
    sub = linked_subscriber(tenant, crm_client, "again@s4.example")
    react(tenant, [reaction(campaign, sub, "open", minute=1)])
    assert export(tenant).status == JobStatus.SUCCEEDED
    first = activities(crm_client)[f"{campaign.pk}-{sub.pk}"]
    react(tenant, [reaction(campaign, sub, "open", minute=9),
                   reaction(campaign, sub, "click", minute=10),
                   reaction(campaign, sub, "bounce", minute=11)])
    assert export(tenant).status == JobStatus.SUCCEEDED
    rows = activities(crm_client)
    assert list(rows) == [f"{campaign.pk}-{sub.pk}"]
    row = rows[f"{campaign.pk}-{sub.pk}"]
    assert row["activityid"] == first["activityid"]
    assert (row["mwx_opens"], row["mwx_clicks"], row["mwx_bounces"]) == (2, 1, 1)
    assert row["mwx_lastoccurredon"] == "2026-03-02T09:11:00Z"
    assert row["subject"] == "Newsletter März: geöffnet, geklickt, unzustellbar"


def test_S4_a_merged_subscriber_is_not_counted_twice(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient,
        no_dispatch: list[int]) -> None:
    survivor = linked_subscriber(tenant, crm_client, "same@merge.example")
    source = linked_subscriber(tenant, crm_client, "same@merge.example")
    react(tenant, [reaction(campaign, survivor, "open"), reaction(campaign, source, "open"),
                   reaction(campaign, source, "click")])
    assert export(tenant).status == JobStatus.SUCCEEDED
    assert len(crm_counts(activities(crm_client))) == 2
    merge_subscribers(source, survivor)
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counters["reactions"]["cleared"] == 1
    rows = activities(crm_client)
    assert crm_counts(rows) == {f"{campaign.pk}-{survivor.pk}": (2, 1, 0)}
    emptied = rows[f"{campaign.pk}-{source.pk}"]
    assert (emptied["mwx_opens"], emptied["mwx_clicks"], emptied["statecode"]) == (0, 0, 2)
    assert crm_client.get("campaigns", str(campaign.crm_campaign_id))["mwx_opens"] == 1
    assert export(tenant).counters["reactions"].get("cleared", 0) == 0  # done once


def test_S4_an_unlinked_subscriber_waits_and_is_exported_once_linked(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient,
        no_dispatch: list[int]) -> None:
    sub = create_subscriber(tenant, {"email": "later@s4.example"})
    react(tenant, [reaction(campaign, sub, "open")])
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED
    assert run.counters["reactions"]["skipped"] == {
        "subscriber not linked to a CRM record yet": 1}
    assert activities(crm_client) == {}
    assert ReactionExport.objects.get().state == ReactionExportState.PENDING
    # Long after the cursor passed the reaction, the link arrives (the match step).
    SyncCursor.objects.filter(tenant=tenant, name="reactions").update(last_key="999999999")
    link(sub, "contact", crm_record(crm_client, "contact", "later@s4.example"))
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED
    assert crm_counts(activities(crm_client)) == {f"{campaign.pk}-{sub.pk}": (1, 0, 0)}
    assert ReactionExport.objects.get().state == ReactionExportState.EXPORTED


def test_S4_a_refused_activity_is_an_issue_and_the_others_are_written(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient,
        no_dispatch: list[int]) -> None:
    good = linked_subscriber(tenant, crm_client, "good@issue.example")
    gone = linked_subscriber(tenant, crm_client, "gone@issue.example")
    crm_client.delete("contacts", str(gone.crm_links.get().crm_id))
    react(tenant, [reaction(campaign, good, "open"), reaction(campaign, gone, "open")])
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert crm_counts(activities(crm_client)) == {f"{campaign.pk}-{good.pk}": (1, 0, 0)}
    issue = SyncIssue.objects.get(tenant=tenant, step="reactions")
    assert issue.subscriber_id == gone.pk
    assert "Newsletter März" in issue.reason and "Traceback" not in issue.reason
    assert ReactionExport.objects.get(subscriber=gone).state == ReactionExportState.PENDING


def test_S4_a_retry_after_a_lost_answer_needs_no_assign_privilege(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient, crm: Any,
        no_dispatch: list[int], monkeypatch: pytest.MonkeyPatch, client_class: Any,
        reaction_team: str, crm_org: str) -> None:
    # The connector signs in with the "mailworx User" role: no assign on activities (an
    # application user Online, the domain's sync account on-premise).
    domain, user, password = credentials.NTLM_USERS[1]
    limited = {"client_id": credentials.LIMITED_CLIENT_ID,
               "client_secret": credentials.LIMITED_CLIENT_SECRET} if crm_org == "contoso" \
        else {"onprem_username": f"{domain}\\{user}", "onprem_password": password}
    configure_tenant_for_emulator(tenant, crm, org=crm_org, **limited)
    OrgSettings.objects.filter(tenant=tenant).update(check_passed_at=timezone.now(),
                                                     sync_started_at=timezone.now())
    sub = linked_subscriber(tenant, crm_client, "limited@s4.example")
    react(tenant, [reaction(campaign, sub, "open")])
    real = client_class.upsert_multiple

    def write_then_crash(self: DataverseClient, *args: Any, **kwargs: Any) -> Any:
        real(self, *args, **kwargs)
        raise ConnectionResetError("worker lost its connection")
    monkeypatch.setattr(client_class, "upsert_multiple", write_then_crash)
    assert export(tenant).status == JobStatus.FAILED
    monkeypatch.setattr(client_class, "upsert_multiple", real)
    react(tenant, [reaction(campaign, sub, "click")])
    run = export(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert not SyncIssue.objects.exists()
    row = activities(crm_client)[f"{campaign.pk}-{sub.pk}"]
    assert (row["mwx_opens"], row["mwx_clicks"], row["_ownerid_value"]) == (1, 1, reaction_team)


def test_N1_reactions_of_a_subscriber_waiting_for_a_retry_are_not_lost(
        tenant: Tenant, campaign: Campaign, crm_client: DataverseClient,
        no_dispatch: list[int]) -> None:
    """A subscriber whose activity the CRM refused until the attempts ran out is held back;
    reactions it gets meanwhile (another campaign) must still reach the CRM after the retry,
    even when the cursor moved far past them."""
    from audience.models import Reaction
    from syncjobs.engine.issues import retry_issue
    from syncjobs.models import LinkState, RecordLink

    sub = linked_subscriber(tenant, crm_client, "held@retry.example")
    crm_client.delete("contacts", str(sub.crm_links.get().crm_id))
    react(tenant, [reaction(campaign, sub, "open")])
    for _attempt in range(3):
        assert export(tenant).status == JobStatus.SUCCEEDED
    second = create_campaign(tenant, "Newsletter April", recipients=4)
    second.crm_campaign_id = campaign.crm_campaign_id
    second.save()
    react(tenant, [reaction(second, sub, "click")])
    assert export(tenant).counters["reactions"]["skipped"]
    # Everything ages far past the overlap window: only the remembered pairs bring them back.
    old = timezone.now() - timezone.timedelta(days=1)
    Reaction.objects.filter(tenant=tenant).update(created_at=old)
    SyncCursor.objects.filter(tenant=tenant, name="reactions").update(watermark=timezone.now())
    assert export(tenant).status == JobStatus.SUCCEEDED

    fixed = crm_client.create("contacts", {"lastname": "Held",
                                           "emailaddress1": "held@retry.example"})
    RecordLink.objects.filter(subscriber=sub, state=LinkState.ACTIVE).update(crm_id=fixed)
    retry_issue(SyncIssue.objects.get(tenant=tenant, step="reactions"))
    assert export(tenant).status == JobStatus.SUCCEEDED
    assert crm_counts(activities(crm_client)) == {f"{campaign.pk}-{sub.pk}": (1, 0, 0),
                                                  f"{second.pk}-{sub.pk}": (0, 1, 0)}
