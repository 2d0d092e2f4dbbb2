"""The lists step against the emulator: S1 marked lists → groups, S2 through a list, S6
lists per group, S10 membership both ways, N2 request counts, N3 issues."""

from __future__ import annotations

from typing import Any

import pytest

from audience.groups import add_members, remove_member
from audience.models import Subscriber, SubscriberGroup
from dynamics import DataverseClient
from orgsettings.models import OrgSettings
from syncjobs.models import (
    CrmList,
    JobStatus,
    LinkOrigin,
    ListLink,
    ListLinkState,
    RecordLink,
    SyncIssue,
)
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn
from tests.syncjobs.engine.list_helpers import (
    add_to_list,
    crm_list,
    crm_members,
    group_emails,
    lists_named,
    make_list,
    record,
    remove_from_list,
    s6_group,
)

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def linked_group(list_id: str) -> SubscriberGroup:
    return ListLink.objects.get(list_id=list_id, state=ListLinkState.ACTIVE).group


def member_reads(counters: dict[str, int]) -> int:
    return sum(n for key, n in counters.items() if "_association" in key)


# -- S1 ----------------------------------------------------------------------------------------


def test_S1_marked_list_becomes_a_group_with_its_members(dv: DataverseClient,
                                                         sync: SyncFn) -> None:
    ids = [record(dv, f"m{i}@s1.example", firstname=f"F{i}") for i in range(3)]
    list_id = make_list(dv, "Spring Offers", ids)
    unmarked = make_list(dv, "Not for mailworx", [record(dv, "x@s1.example")], marked=False)
    run = sync("lists")
    assert run.status == JobStatus.SUCCEEDED, run.error
    group = linked_group(list_id)
    assert group.name == "Spring Offers"
    assert group_emails(group) == {f"m{i}@s1.example" for i in range(3)}
    assert not ListLink.objects.filter(list_id=unmarked).exists()
    assert not Subscriber.objects.filter(email_normalised="x@s1.example").exists()
    # Written back to the CRM: the group id and the time of the sync.
    row = crm_list(dv, list_id)
    assert row["mwx_mailworxgroupid"] == str(group.pk) and row["mwx_lastsyncon"]
    # The cache the UI shows: both lists, the marked one with its group.
    cached = CrmList.objects.get(list_id=list_id)
    assert (cached.name, cached.member_type, cached.marked, cached.member_count) == (
        "Spring Offers", "contact", True, 3)
    assert CrmList.objects.get(list_id=unmarked).marked is False
    assert run.counters["lists"]["lists_discovered"] == 1


def test_S1_unmarked_or_deactivated_list_stops_syncing_and_a_deleted_one_closes(
        dv: DataverseClient, sync: SyncFn) -> None:
    first = make_list(dv, "Unmark me", [record(dv, "u@s1.example")])
    second = make_list(dv, "Deactivate me", [record(dv, "d@s1.example")])
    third = make_list(dv, "Delete me", [record(dv, "del@s1.example")])
    sync("lists")
    groups = [linked_group(i) for i in (first, second, third)]
    dv.update("lists", first, {"mwx_syncwithmailworx": False})
    dv.set_state("lists", second, 1, 1)
    dv.delete("lists", third)
    add_to_list(dv, first, [record(dv, "late@s1.example")])
    run = sync("lists")
    states = {str(link.list_id): link.state for link in ListLink.objects.all()}
    assert states == {first: ListLinkState.STOPPED, second: ListLinkState.STOPPED,
                      third: ListLinkState.CLOSED}
    assert not Subscriber.objects.filter(email_normalised="late@s1.example").exists()
    assert all(SubscriberGroup.objects.filter(pk=g.pk).exists() for g in groups)
    messages = " ".join(run.log_lines.values_list("message", flat=True))
    assert "no longer marked" in messages and "deactivated" in messages
    assert "deleted in the CRM" in messages
    # Marked again: the list syncs again and brings what it missed.
    dv.update("lists", first, {"mwx_syncwithmailworx": True})
    sync("lists")
    assert "late@s1.example" in group_emails(groups[0])


def test_S1_a_taken_group_name_is_not_taken_over(dv: DataverseClient, sync: SyncFn,
                                                 tenant: Any) -> None:
    from audience.groups import create_group
    mine = create_group(tenant, "VIP")
    list_id = make_list(dv, "VIP", [record(dv, "vip@s1.example")])
    sync("lists")
    assert linked_group(list_id).name == "VIP (2)"
    assert not mine.memberships.exists()


# -- S2 ----------------------------------------------------------------------------------------


def test_S2_a_qualified_lead_in_a_marked_list_is_never_synced(dv: DataverseClient,
                                                              sync: SyncFn) -> None:
    good = record(dv, "open@lead.example", "lead")
    qualified = record(dv, "qualified@lead.example", "lead")
    dv.set_state("leads", qualified, 1, 3)
    list_id = make_list(dv, "Fair leads", [good, qualified], entity="lead")
    run = sync("lists")
    assert group_emails(linked_group(list_id)) == {"open@lead.example"}
    assert not Subscriber.objects.filter(email_normalised="qualified@lead.example").exists()
    assert any("S2" in reason for reason in run.counters["lists"]["skipped"])
    # Left alone in the CRM list too (never removed because mailworx lacks it).
    add_to_list(dv, list_id, [record(dv, "second@lead.example", "lead")], "lead")
    sync("lists")
    assert qualified in crm_members(dv, list_id, "lead")
    assert not Subscriber.objects.filter(email_normalised="qualified@lead.example").exists()


# -- S6 ----------------------------------------------------------------------------------------


def test_S6_one_list_per_member_type_present_named_after_the_group_and_linked_back(
        dv: DataverseClient, group: SubscriberGroup, sync: SyncFn) -> None:
    ids = s6_group(group, dv)
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    links = {link.member_type: link for link in ListLink.objects.filter(group=group)}
    assert set(links) == {"contact", "lead"}  # no account among the members: no list
    for entity, link in links.items():
        (row,) = lists_named(dv, f"Newsletter – {entity}")
        assert row["listid"] == str(link.list_id)
        assert row["createdfromcode"] == {"contact": 2, "lead": 4}[entity]
        assert row["mwx_syncwithmailworx"] is True  # C6 on: linked back
        assert row["mwx_mailworxgroupid"] == str(group.pk)
        assert link.origin == LinkOrigin.MAILWORX_GROUP and link.state == ListLinkState.ACTIVE
    new = RecordLink.objects.get(subscriber__email_normalised="new@s6.example").crm_id
    assert crm_members(dv, str(links["contact"].list_id)) == {ids["contact"], str(new)}
    assert crm_members(dv, str(links["lead"].list_id), "lead") == {ids["lead"]}
    # Another run makes no further list (at most one per type).
    sync()
    assert ListLink.objects.filter(group=group).count() == 2
    assert len(lists_named(dv, "Newsletter – contact")) == 1


def test_S6_no_duplicate_list_after_a_crash_right_after_the_create(
        dv: DataverseClient, group: SubscriberGroup, sync: SyncFn,
        monkeypatch: pytest.MonkeyPatch) -> None:
    s6_group(group, dv)
    client_class: Any = type(dv)  # the Web API or the Organization Service client
    original = client_class.create

    def create_then_crash(self: Any, entity_set: str, data: dict[str, Any],
                          id: str | None = None) -> str:
        made = original(self, entity_set, data, id)
        if entity_set == "lists":
            raise RuntimeError("worker killed after the CRM created the list")
        return made
    monkeypatch.setattr(client_class, "create", create_then_crash)
    assert sync().status == JobStatus.FAILED
    assert len(lists_named(dv, "Newsletter – contact")) == 1
    monkeypatch.setattr(client_class, "create", original)
    assert sync().status == JobStatus.SUCCEEDED
    assert len(lists_named(dv, "Newsletter – contact")) == 1
    assert len(lists_named(dv, "Newsletter – lead")) == 1
    link = ListLink.objects.get(group=group, member_type="contact")
    assert link.state == ListLinkState.ACTIVE
    assert len(crm_members(dv, str(link.list_id))) == 2


def test_S6_with_bidirectional_sync_off_lists_are_not_linked_back_and_crm_changes_stay(
        dv: DataverseClient, group: SubscriberGroup, sync: SyncFn, org: OrgSettings) -> None:
    OrgSettings.objects.filter(pk=org.pk).update(bidirectional_sync=False)
    s6_group(group, dv)
    sync()
    link = ListLink.objects.get(group=group, member_type="contact")
    list_id = str(link.list_id)
    row = crm_list(dv, list_id)
    assert not row["mwx_syncwithmailworx"] and not row["mwx_mailworxgroupid"]
    # A CRM user adds and removes members: not taken into the group (C6 off).
    stranger = record(dv, "stranger@s6.example")
    add_to_list(dv, list_id, [stranger])
    c_link = RecordLink.objects.get(subscriber__email_normalised="c@s6.example")
    remove_from_list(dv, list_id, str(c_link.crm_id))
    sync()
    assert group_emails(group) == {"c@s6.example", "l@s6.example", "new@s6.example"}
    assert not Subscriber.objects.filter(email_normalised="stranger@s6.example").exists()
    # mailworx → CRM still flows: a member removed in mailworx leaves the list.
    new = Subscriber.objects.get(email_normalised="new@s6.example")
    remove_member(group, new)
    sync()
    assert str(RecordLink.objects.get(subscriber=new).crm_id) not in crm_members(dv, list_id)


# -- S10 ---------------------------------------------------------------------------------------


def test_S10_adds_and_removals_flow_both_ways(dv: DataverseClient, sync: SyncFn) -> None:
    ids = [record(dv, f"s10-{i}@list.example") for i in range(4)]
    list_id = make_list(dv, "Members", ids[:3])
    other = make_list(dv, "Others", [ids[3]])
    sync("lists")
    group = linked_group(list_id)
    # CRM side: one added, one removed.
    fresh = record(dv, "crm-added@list.example")
    add_to_list(dv, list_id, [fresh])
    remove_from_list(dv, list_id, ids[0])
    # mailworx side: one removed, one linked subscriber (from the other list) added.
    remove_member(group, Subscriber.objects.get(email_normalised="s10-1@list.example"))
    add_members(group, [Subscriber.objects.get(email_normalised="s10-3@list.example").pk])
    run = sync("lists")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert group_emails(group) == {"s10-2@list.example", "s10-3@list.example",
                                   "crm-added@list.example"}
    assert crm_members(dv, list_id) == {ids[2], ids[3], fresh}
    counters = run.counters["lists"]
    assert (counters["group_members_added"], counters["group_members_removed"],
            counters["crm_members_added"], counters["crm_members_removed"]) == (1, 1, 1, 1)
    assert crm_members(dv, other) == {ids[3]}  # the other list is untouched
    link = ListLink.objects.get(list_id=list_id)
    assert {str(i) for i in link.snapshot.values_list("crm_id", flat=True)} == {
        ids[2], ids[3], fresh}


def test_S10_members_of_the_wrong_type_or_without_link_are_skipped_with_a_reason(
        dv: DataverseClient, sync: SyncFn, tenant: Any) -> None:
    from audience.subscribers import create_subscriber
    list_id = make_list(dv, "Contacts only", [record(dv, "one@type.example")])
    leads = make_list(dv, "Leads", [record(dv, "lead@type.example", "lead")], entity="lead")
    sync("lists")
    group = linked_group(list_id)
    lead_sub = Subscriber.objects.get(email_normalised="lead@type.example")
    loose = create_subscriber(tenant, {"email": "loose@type.example"})
    add_members(group, [lead_sub.pk, loose.pk])
    run = sync("lists")
    skipped = run.counters["lists"]["skipped"]
    assert skipped["group member not linked to a CRM record"] == 1
    assert any("linked to a lead" in reason for reason in skipped)
    assert len(crm_members(dv, list_id)) == 1
    assert crm_members(dv, leads, "lead") and "crm_members_added" not in run.counters["lists"]


def test_N3_a_locked_list_becomes_an_issue_an_admin_understands(
        dv: DataverseClient, sync: SyncFn, crm_admin: EmulatorAdmin, crm_org: str) -> None:
    list_id = make_list(dv, "Locked one", [record(dv, "a@lock.example")])
    other = make_list(dv, "Other one", [record(dv, "b@lock.example")])
    sync("lists")
    crm_admin.patch(crm_org, "lists", list_id, {"lockstatus": True})
    group = linked_group(list_id)
    add_members(group, [Subscriber.objects.get(email_normalised="b@lock.example").pk])
    run = sync("lists")
    assert run.status == JobStatus.SUCCEEDED, run.error
    issue = SyncIssue.objects.get(crm_id=list_id)
    assert "locked" in issue.reason and "Unlock" in issue.hint
    crm_admin.patch(crm_org, "lists", list_id, {"lockstatus": False})
    sync("lists")
    issue.refresh_from_db()
    assert issue.state == "resolved"
    assert len(crm_members(dv, list_id)) == 2 and len(crm_members(dv, other)) == 1


# -- N2 ----------------------------------------------------------------------------------------


@pytest.mark.webapi_only  # Web API request counts (and change tracking's quiet delta)
def test_N2_a_second_run_without_change_reads_no_list_members(
        dv: DataverseClient, group: SubscriberGroup, sync: SyncFn,
        crm_admin: EmulatorAdmin) -> None:
    s6_group(group, dv)
    make_list(dv, "Quiet", [record(dv, f"q{i}@n2.example") for i in range(30)])
    sync()
    sync()  # the first pull starts change tracking
    before = crm_admin.counters()
    quiet = sync("lists")
    after = crm_admin.counters()
    spent = {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}
    assert spent == {"contoso GET lists": 1}, spent
    assert quiet.counters["http"]["round_trips"] == 1
    # One CRM-side change: only that list's members are read, once.
    list_id = str(ListLink.objects.get(list_name="Quiet").list_id)
    add_to_list(dv, list_id, [record(dv, "late@n2.example")])
    before = crm_admin.counters()
    sync("lists")
    after = crm_admin.counters()
    assert member_reads({k: n - before.get(k, 0) for k, n in after.items()}) == 1


@pytest.mark.webapi_only  # a fault on the Web API's list path: SOAP's one service cannot
# single out the list write
def test_N3_a_refused_list_create_is_an_issue_and_the_run_goes_on(
        dv: DataverseClient, group: SubscriberGroup, sync: SyncFn,
        crm_admin: EmulatorAdmin) -> None:
    s6_group(group, dv)
    crm_admin.session.post(f"{crm_admin.base}/faults", json={"enabled": True, "fail_next": [
        {"method": "PATCH", "path": "lists\\(", "count": 1, "status": 403}]},
        timeout=10).raise_for_status()
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert "campaigns" in run.counters  # the steps after the lists step still ran
    issue = SyncIssue.objects.get(step="lists", entity_type="list")
    assert "Newsletter –" in issue.reason and "Traceback" not in issue.reason
    assert ListLink.objects.filter(group=group, state=ListLinkState.PENDING).count() == 1
    crm_admin.session.post(f"{crm_admin.base}/faults/reset", timeout=10).raise_for_status()
    assert sync().status == JobStatus.SUCCEEDED
    assert not ListLink.objects.filter(group=group, state=ListLinkState.PENDING).exists()
    assert len(lists_named(dv, "Newsletter – contact")) == 1
    issue.refresh_from_db()
    assert issue.state == "resolved"
