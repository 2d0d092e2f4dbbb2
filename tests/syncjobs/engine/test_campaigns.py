"""campaigns: campaign activities distributed through the mailworx channel become a mailworx
campaign with a recipients group (S3), found by polling (S12), never lost and never taken
twice (N1) — against the emulator over HTTP."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest

from audience.groups import create_group, save_sync_setting
from audience.models import Campaign, GroupMembership, Subscriber, SubscriberGroup
from businessunits.models import BusinessUnit
from businessunits.services import create_unit
from crmevents.models import CrmEvent, CrmEventKind
from crmevents.services import record_event
from dynamics import DataverseClient
from dynamics.crm_api import CrmApi
from syncjobs import runner
from syncjobs.engine.start import start_sync
from syncjobs.engine.steps.campaigns import DISTRIBUTED, MAILWORX_CHANNEL
from syncjobs.models import JobStatus, SyncIssue
from syncjobs.models.sync import IssueState
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn, at_boundary

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]
ACT_COLUMNS = ["activityid", "subject", "mwx_takenoveron", "mwx_mailworxcampaignid",
               "mwx_distributionrequested"]


@dataclass
class Activity:
    id: str
    parent: str
    emails: set[str] = field(default_factory=set)  # who must become a recipient


class Crm:
    """What a CRM user does: records, marketing lists, campaigns and their activities —
    through the connector's client where it can, and through the emulator's admin routes
    for what only a CRM user does (associating lists, the "Distribute" command), so the
    same set-up works on a Web API and on an Organization Service organisation."""

    def __init__(self, client: CrmApi, admin: EmulatorAdmin, org: str) -> None:
        self.client, self.admin, self.org = client, admin, org
        self.n = 0

    def contact(self, email: str, **extra: Any) -> str:
        return self.client.create("contacts", {"lastname": email.split("@")[0],
                                               "emailaddress1": email, **extra})

    def lead(self, email: str, *, qualified: bool = False) -> str:
        lead = self.client.create("leads", {"lastname": email.split("@")[0], "subject": "s",
                                            "emailaddress1": email})
        if qualified:
            self.client.set_state("leads", lead, 1, 3)
        return lead

    def static_list(self, entity: str, members: list[str], **extra: Any) -> str:
        self.n += 1
        code = {"account": 1, "contact": 2, "lead": 4}[entity]
        list_id = self.client.create("lists", {"listname": f"List {self.n}", "type": False,
                                               "createdfromcode": code, **extra})
        if members:
            self.client.call_action("AddListMembersList", {
                "List": {"listid": list_id},
                "Members": [{f"{entity}id": m} for m in members]})
        return list_id

    def dynamic_list(self, query: str = "<fetch/>") -> str:
        return self.client.create("lists", {"listname": "Dynamic", "type": True,
                                            "createdfromcode": 2, "query": query})

    def activity(self, subject: str, lists: list[str], *, channel: int = MAILWORX_CHANNEL,
                 distribute: bool = True) -> Activity:
        parent = self.client.create("campaigns", {"name": f"Campaign for {subject}"})
        aid = self.client.create("campaignactivities", {
            "subject": subject, "channeltypecode": channel,
            "regardingobjectid_campaign_campaignactivity@odata.bind": f"/campaigns({parent})"})
        for list_id in lists:
            self.add_list(aid, list_id)
        if distribute:
            self.distribute(aid)
        return Activity(aid, parent)

    def add_list(self, aid: str, list_id: str) -> None:
        self.admin.associate(self.org, "campaignactivities", aid,
                             "campaignactivitylist_association", list_id)

    def distribute(self, aid: str) -> None:
        """The standard "Distribute Campaign Activity" command (docs/crm-solution.md §2)."""
        self.admin.action(self.org, "DistributeCampaignActivity", {"CampaignActivityId": aid})

    def read(self, aid: str) -> dict[str, Any]:
        return self.client.get("campaignactivities", aid, ACT_COLUMNS)


@pytest.fixture
def crm_user(crm_client: CrmApi, crm_admin: EmulatorAdmin, crm_org: str) -> Crm:
    return Crm(crm_client, crm_admin, crm_org)


@pytest.fixture
def newsletter(crm_user: Crm, unit: BusinessUnit, names: None) -> Activity:
    """An activity with a contact list and a lead list: 3 contacts, an open lead, a
    qualified lead (S2: not a recipient) and one contact in both lists' worth of overlap."""
    contacts = [crm_user.contact(f"c{i}@campaign.example") for i in range(3)]
    open_lead = crm_user.lead("open.lead@campaign.example")
    qualified = crm_user.lead("qualified@campaign.example", qualified=True)
    first = crm_user.static_list("contact", contacts)
    second = crm_user.static_list("contact", contacts[:1])  # the same person twice
    leads = crm_user.static_list("lead", [open_lead, qualified])
    activity = crm_user.activity("Newsletter April", [first, second, leads])
    activity.emails = {f"c{i}@campaign.example" for i in range(3)} | {
        "open.lead@campaign.example"}
    return activity


def assert_taken_over(tenant: Tenant, crm_user: Crm, activity: Activity) -> Campaign:
    """What an uninterrupted take-over leaves behind, on both sides."""
    campaign = Campaign.objects.get(tenant=tenant, crm_campaign_activity_id=activity.id)
    assert campaign.crm_taken_over_at is not None
    assert str(campaign.crm_campaign_id) == activity.parent
    assert campaign.group is not None
    members = set(GroupMembership.objects.filter(group=campaign.group)
                  .values_list("subscriber__email_normalised", flat=True))
    assert members == activity.emails
    assert campaign.recipients == len(activity.emails)
    row = crm_user.read(activity.id)
    assert row["mwx_takenoveron"] is not None
    assert row["mwx_mailworxcampaignid"] == str(campaign.pk)
    for email in activity.emails:  # no subscriber twice
        assert Subscriber.objects.live().filter(tenant=tenant,
                                                email_normalised=email).count() == 1
    return campaign


def test_S3_distributed_activity_becomes_one_campaign_with_exactly_the_lists_members(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, newsletter: Activity,
        unit: BusinessUnit) -> None:
    by_email = crm_user.activity("Only by e-mail", [crm_user.static_list(
        "contact", [crm_user.contact("email.channel@campaign.example")])], channel=7)
    crm_user.client.update("campaignactivities", by_email.id, {
        "mwx_distributionrequested": True})  # requested, but not on the mailworx channel
    not_requested = crm_user.activity("Not yet", [crm_user.static_list(
        "contact", [crm_user.contact("later@campaign.example")])], distribute=False)

    run = sync("campaigns")
    assert run.status == JobStatus.SUCCEEDED, run.error
    campaign = assert_taken_over(tenant, crm_user, newsletter)
    assert (campaign.name, campaign.subject) == ("Newsletter April", "Newsletter April")
    assert campaign.business_unit == unit  # the tenant's default unit: no group linked
    assert Campaign.objects.filter(tenant=tenant).count() == 1
    for ignored in (by_email, not_requested):
        assert crm_user.read(ignored.id)["mwx_takenoveron"] is None
    counters = run.counters["campaigns"]
    assert (counters["discovered"], counters["taken_over"], counters["recipients"]) == (1, 1, 4)
    assert any("S2" in reason for reason in counters["skipped"])
    assert not Subscriber.objects.filter(email_normalised="qualified@campaign.example").exists()
    assert run.log_lines.filter(message__contains="Newsletter April").exists()

    again = sync("campaigns")
    assert again.status == JobStatus.SUCCEEDED, again.error
    assert again.counters["campaigns"]["discovered"] == 0
    assert Campaign.objects.filter(tenant=tenant).count() == 1
    assert SubscriberGroup.objects.filter(tenant=tenant).count() == 1
    assert_taken_over(tenant, crm_user, newsletter)


def test_S3_campaign_belongs_to_the_unit_of_the_group_its_list_is_linked_to(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, unit: BusinessUnit, names: None) -> None:
    marketing = create_unit(tenant, name="Marketing", owner_id="00000000-0000-0000-0000-0000000"
                            "00002", owner_name="Marketing", owner_type="team")
    group = create_group(tenant, "Customers")
    save_sync_setting(group, business_unit=marketing)
    linked = crm_user.static_list("contact", [crm_user.contact("unit@campaign.example")],
                                  mwx_syncwithmailworx=True, mwx_mailworxgroupid=str(group.pk))
    activity = crm_user.activity("Unit test", [linked])
    assert sync("campaigns").status == JobStatus.SUCCEEDED
    campaign = Campaign.objects.get(crm_campaign_activity_id=activity.id)
    assert campaign.business_unit == marketing and campaign.group != group


def test_S3_a_dynamic_list_gives_the_records_its_query_finds(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, unit: BusinessUnit, names: None) -> None:
    for i in range(2):
        crm_user.contact(f"dyn{i}@campaign.example", address1_city="Campaignville")
    crm_user.contact("elsewhere@campaign.example", address1_city="Elsewhere")
    dynamic = crm_user.dynamic_list(
        '<fetch><entity name="contact"><attribute name="fullname"/><filter>'
        '<condition attribute="address1_city" operator="eq" value="Campaignville"/>'
        '</filter></entity></fetch>')
    static = crm_user.static_list("contact", [crm_user.contact("static@campaign.example")])
    activity = crm_user.activity("Dynamic mailing", [dynamic, static])
    activity.emails = {"dyn0@campaign.example", "dyn1@campaign.example",
                       "static@campaign.example"}
    run = sync("campaigns")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert_taken_over(tenant, crm_user, activity)
    assert "skipped" not in run.counters["campaigns"]


@pytest.mark.parametrize("intruder", ["another worker", "a user's edit"])
def test_S3_activity_changed_between_discovery_and_take_over(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, newsletter: Activity,
        crm_admin: EmulatorAdmin, monkeypatch: pytest.MonkeyPatch, intruder: str,
        crm_org: str, client_class: Any) -> None:
    real = client_class.update

    def meanwhile(self: DataverseClient, entity_set: str, id: str, data: dict[str, Any],
                  if_match: str | None = "*") -> None:
        if entity_set == "campaignactivities" and "mwx_takenoveron" in data:
            monkeypatch.setattr(client_class, "update", real)
            # The row's ETag changes before our PATCH arrives.
            crm_admin.patch(crm_org, "campaignactivities", id, (
                {"mwx_takenoveron": "2025-04-01T10:00:00Z", "mwx_mailworxcampaignid": "w2-77"}
                if intruder == "another worker" else {"subject": "Newsletter April"}))
        real(self, entity_set, id, data, if_match)
    monkeypatch.setattr(client_class, "update", meanwhile)

    run = sync("campaigns")
    assert run.status == JobStatus.SUCCEEDED, run.error
    if intruder == "another worker":
        assert crm_user.read(newsletter.id)["mwx_mailworxcampaignid"] == "w2-77"
        assert not Campaign.objects.filter(tenant=tenant).exists()
        assert not SubscriberGroup.objects.filter(tenant=tenant).exists()
        assert any("someone else" in r for r in run.counters["campaigns"]["skipped"])
        assert "taken_over" not in run.counters["campaigns"]
    else:  # still waiting: taken over with the row's new ETag
        assert_taken_over(tenant, crm_user, newsletter)
    assert sync("campaigns").counters["campaigns"]["discovered"] == 0


@pytest.mark.parametrize("crm_org", ["legacy2013"], indirect=True)
@pytest.mark.parametrize("later_writer", [False, True])
def test_S3_a_crm_without_row_versions_takes_over_and_the_last_writer_wins(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, newsletter: Activity,
        crm_admin: EmulatorAdmin, monkeypatch: pytest.MonkeyPatch, client_class: Any,
        crm_org: str, later_writer: bool) -> None:
    # CRM 2013 has no RowVersion: its rows carry no ETag, and no write can be exclusive.
    assert "@odata.etag" not in crm_user.read(newsletter.id)
    real = client_class.update

    def another_worker_after_us(self: DataverseClient, entity_set: str, id: str,
                                data: dict[str, Any], if_match: str | None = "*") -> None:
        real(self, entity_set, id, data, if_match)
        if entity_set == "campaignactivities" and later_writer:
            monkeypatch.setattr(client_class, "update", real)
            crm_admin.patch(crm_org, "campaignactivities", id, {
                "mwx_takenoveron": "2025-04-01T10:00:00Z", "mwx_mailworxcampaignid": "w2-77"})
    monkeypatch.setattr(client_class, "update", another_worker_after_us)

    run = sync("campaigns")
    assert run.status == JobStatus.SUCCEEDED, run.error
    if later_writer:  # its take-over stands; ours is withdrawn
        assert crm_user.read(newsletter.id)["mwx_mailworxcampaignid"] == "w2-77"
        assert not Campaign.objects.filter(tenant=tenant).exists()
        assert any("someone else" in r for r in run.counters["campaigns"]["skipped"])
    else:
        assert run.counters["campaigns"]["taken_over"] == 1
        assert_taken_over(tenant, crm_user, newsletter)
    assert sync("campaigns").counters["campaigns"]["discovered"] == 0


@pytest.mark.parametrize("lists", ["none", "dynamic with a broken query", "empty or unusable"])
def test_S3_activity_without_usable_lists_is_an_issue_and_taken_over_once_fixed(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, unit: BusinessUnit, names: None,
        lists: str) -> None:
    linked = {"none": [], "dynamic with a broken query": [crm_user.dynamic_list()],
              "empty or unusable": [
                  crm_user.static_list("contact", []),
                  crm_user.static_list("lead", [crm_user.lead("q@campaign.example",
                                                              qualified=True)])]}[lists]
    activity = crm_user.activity("Broken", linked, distribute=False)
    # Set directly by the CRM user ("Distribute through mailworx"): the command itself
    # refuses an activity without lists.
    crm_user.client.update("campaignactivities", activity.id,
                           {"mwx_distributionrequested": True})
    run = sync("campaigns")
    assert run.status == JobStatus.SUCCEEDED, run.error
    issue = SyncIssue.objects.get(tenant=tenant, step="campaigns")
    assert (issue.entity_type, str(issue.crm_id)) == ("campaignactivity", activity.id)
    assert "Broken" in issue.reason and issue.hint
    assert "Traceback" not in issue.reason
    assert crm_user.read(activity.id)["mwx_takenoveron"] is None
    assert not Campaign.objects.filter(tenant=tenant).exists()
    assert not SubscriberGroup.objects.filter(tenant=tenant).exists()

    if lists == "dynamic with a broken query":  # corrected in the CRM (it finds nobody)
        crm_user.client.update("lists", linked[0], {"query": (
            '<fetch><entity name="contact"><filter><condition attribute="emailaddress1" '
            'operator="eq" value="nobody@campaign.example"/></filter></entity></fetch>')})
    fixed = crm_user.static_list("contact", [crm_user.contact("fixed@campaign.example")])
    crm_user.add_list(activity.id, fixed)
    assert sync("campaigns").status == JobStatus.SUCCEEDED
    activity.emails = {"fixed@campaign.example"}
    assert_taken_over(tenant, crm_user, activity)
    issue.refresh_from_db()
    assert issue.state == IssueState.RESOLVED


@pytest.mark.parametrize("nth", [1, 2, 3, 4, 5, 6])
def test_n1_interrupted_at_a_campaigns_boundary_ends_as_an_uninterrupted_run(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, newsletter: Activity,
        interrupt: Callable[[str, int], None], nth: int) -> None:
    # Boundaries: step start, after each of the three lists' pages, after the campaign was
    # recorded (before the take-over), after the activity.
    interrupt("campaigns", nth)
    failed = sync("campaigns")
    assert failed.status == JobStatus.FAILED
    assert "Traceback" not in failed.error
    run = sync("campaigns")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert_taken_over(tenant, crm_user, newsletter)
    assert Campaign.objects.filter(tenant=tenant).count() == 1
    assert SubscriberGroup.objects.filter(tenant=tenant).count() == 1


def test_n1_interrupted_before_the_take_over_leaves_the_campaign_recorded_first(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, newsletter: Activity,
        interrupt: Callable[[str, int], None]) -> None:
    interrupt("campaigns", 5)  # right after the campaign was recorded
    assert sync("campaigns").status == JobStatus.FAILED
    waiting = Campaign.objects.get(tenant=tenant)
    assert waiting.crm_taken_over_at is None and waiting.recipients == 4
    assert crm_user.read(newsletter.id)["mwx_takenoveron"] is None  # the CRM heard nothing
    assert sync("campaigns").status == JobStatus.SUCCEEDED
    assert assert_taken_over(tenant, crm_user, newsletter).pk == waiting.pk


def test_n1_a_crash_right_after_the_take_over_patch_takes_nothing_twice(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, newsletter: Activity,
        monkeypatch: pytest.MonkeyPatch, client_class: Any) -> None:
    real = client_class.update

    def patch_then_crash(self: DataverseClient, entity_set: str, *args: Any,
                         **kwargs: Any) -> None:
        real(self, entity_set, *args, **kwargs)  # the CRM took it; the answer never arrives
        if entity_set == "campaignactivities":
            raise ConnectionResetError("worker lost its connection")
    monkeypatch.setattr(client_class, "update", patch_then_crash)
    assert sync("campaigns").status == JobStatus.FAILED
    waiting = Campaign.objects.get(tenant=tenant)
    assert waiting.crm_taken_over_at is None
    assert crm_user.read(newsletter.id)["mwx_mailworxcampaignid"] == str(waiting.pk)
    monkeypatch.setattr(client_class, "update", real)
    run = sync("campaigns")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counters["campaigns"]["taken_over"] == 1
    assert assert_taken_over(tenant, crm_user, newsletter).pk == waiting.pk
    assert Campaign.objects.filter(tenant=tenant).count() == 1


def test_S12_an_incremental_run_finds_a_distributed_activity_without_being_told(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, newsletter: Activity) -> None:
    assert not CrmEvent.objects.exists()
    run = sync("incremental")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert [name for name in run.counters if name in ("push", "campaigns")] == [
        "push", "campaigns"]
    assert_taken_over(tenant, crm_user, newsletter)


def test_S12_a_run_for_one_activity_takes_only_that_one_and_marks_its_event(
        tenant: Tenant, sync: SyncFn, crm_user: Crm, newsletter: Activity) -> None:
    other = crm_user.activity("Other", [crm_user.static_list(
        "contact", [crm_user.contact("other@campaign.example")])])
    told, _created = record_event(tenant, CrmEventKind.ACTIVITY_DISTRIBUTED, newsletter.id)
    waiting, _created = record_event(tenant, CrmEventKind.ACTIVITY_DISTRIBUTED, other.id)
    run = sync("campaigns", activity_id=newsletter.id)
    assert run.params["activity_id"] == newsletter.id
    assert_taken_over(tenant, crm_user, newsletter)
    assert crm_user.read(other.id)["mwx_takenoveron"] is None
    told.refresh_from_db()
    waiting.refresh_from_db()
    assert told.processed_at is not None and waiting.processed_at is None
    # The next polling run takes the other one over and answers its waiting event.
    assert sync("campaigns").status == JobStatus.SUCCEEDED
    waiting.refresh_from_db()
    assert waiting.processed_at is not None
    other.emails = {"other@campaign.example"}
    assert_taken_over(tenant, crm_user, other)


def test_the_polling_filter_is_the_documented_one() -> None:
    # docs/crm-solution.md §2 is the contract both the CRM side and the engine follow.
    assert DISTRIBUTED == ("channeltypecode eq 100000000 and mwx_distributionrequested eq "
                           "true and mwx_takenoveron eq null")


class WorkerKilled(BaseException):
    """Stands for a SIGKILL: nothing in the worker handles it, the run stays 'running'."""


def test_n1_a_resumed_run_counts_each_activity_once(
        tenant: Tenant, crm_user: Crm, newsletter: Activity, no_dispatch: list[int],
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = {"boundaries": 0}

    def kill_while_reading_its_lists(step: str) -> None:
        if step == "campaigns":
            seen["boundaries"] += 1
            if seen["boundaries"] == 3:
                raise WorkerKilled
    with monkeypatch.context() as patched:
        at_boundary(patched, kill_while_reading_its_lists)
        run = start_sync(tenant, "campaigns")
        with pytest.raises(WorkerKilled):
            runner.execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.RUNNING
    assert run.counters["campaigns"]["discovered"] == 1
    later = run.lease_expires_at + timedelta(seconds=1)  # type: ignore[operator]
    assert runner.reap_expired(now=later) == [(run.pk, "resumed")]
    assert runner.execute(run.pk) == JobStatus.SUCCEEDED
    run.refresh_from_db()
    assert run.attempts == 2
    assert run.counters["campaigns"]["discovered"] == 1  # not once per attempt
    assert run.counters["campaigns"]["taken_over"] == 1
    assert_taken_over(tenant, crm_user, newsletter)
