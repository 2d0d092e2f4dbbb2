"""Dynamic marketing lists (S1) against the emulator: the members are the results of the
list's FetchXML query, evaluated each run through the Web API (paged with the cookie), and
flow CRM → mailworx only; a query the CRM refuses is an issue (N3); a dry run writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from audience.groups import add_members, remove_member
from audience.models import Subscriber, SubscriberGroup
from dynamics import DataverseClient, fetchxml
from syncjobs.models import CrmList, JobStatus, ListLink, ListLinkState, SyncIssue
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn
from tests.syncjobs.engine.list_helpers import group_emails, make_list, record

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]

MEMBER_WRITES = ("AddListMembersList", "AddMemberList", "RemoveMemberList", "$batch",
                 "listmember")


def city_query(city: str) -> str:
    """What Advanced Find saves: own columns and order, a filter, and an outer link-entity
    with columns of its own (the rewrite drops the columns, keeps the join)."""
    return ('<fetch version="1.0" mapping="logical" distinct="false">'
            '<entity name="contact"><attribute name="fullname"/>'
            '<attribute name="telephone1"/><order attribute="fullname" descending="false"/>'
            '<filter type="and">'
            f'<condition attribute="address1_city" operator="eq" value="{city}"/>'
            '<condition attribute="statecode" operator="eq" value="0"/></filter>'
            '<link-entity name="account" from="accountid" to="parentcustomerid" '
            'link-type="outer" alias="acc"><attribute name="name"/></link-entity>'
            '</entity></fetch>')


def dynamic_list(dv: DataverseClient, name: str, query: str, *, marked: bool = True) -> str:
    return dv.create("lists", {"listname": name, "type": True, "createdfromcode": 2,
                               "query": query, "mwx_syncwithmailworx": marked})


def in_city(dv: DataverseClient, email: str, city: str) -> str:
    return record(dv, email, address1_city=city)


def linked_group(list_id: str) -> SubscriberGroup:
    return ListLink.objects.get(list_id=list_id, state=ListLinkState.ACTIVE).group


def spent(admin: EmulatorAdmin, before: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in admin.counters().items()
            if n != before.get(k, 0) and k.startswith("contoso ")}


def member_writes(requests: dict[str, int]) -> dict[str, int]:
    return {k: n for k, n in requests.items() if any(w in k for w in MEMBER_WRITES)}


@pytest.mark.webapi_only  # Web API request counts
def test_S1_a_marked_dynamic_list_becomes_a_group_of_its_query_results_read_page_by_page(
        dv: DataverseClient, sync: SyncFn, crm_admin: EmulatorAdmin,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fetchxml, "PAGE_SIZE", 2)  # five members: three pages
    for i in range(5):
        in_city(dv, f"g{i}@dyn.example", "Alphaville")
    in_city(dv, "linz@dyn.example", "Betatown")
    list_id = dynamic_list(dv, "Alphaville (dynamic)", city_query("Alphaville"))
    before = crm_admin.counters()
    run = sync("lists")
    assert run.status == JobStatus.SUCCEEDED, run.error
    group = linked_group(list_id)
    assert group.name == "Alphaville (dynamic)"
    assert group_emails(group) == {f"g{i}@dyn.example" for i in range(5)}
    requests = spent(crm_admin, before)
    assert requests["contoso GET contacts"] == 3
    assert not member_writes(requests), requests
    assert run.counters["lists"]["members_read"] == 5
    cached = CrmList.objects.get(list_id=list_id)
    assert cached.dynamic and "Alphaville" in cached.query
    # The subscribers got the mapped fields from the query's rows (last name mapped).
    sub = Subscriber.objects.get(email_normalised="g0@dyn.example")
    assert sub.values.filter(field__key="last_name", value="g0").exists()


@pytest.mark.webapi_only  # Web API request counts
def test_S1_records_that_start_or_stop_matching_join_or_leave_the_group_and_nothing_is_written_when_nothing_changed(  # noqa: E501
        dv: DataverseClient, sync: SyncFn, crm_admin: EmulatorAdmin) -> None:
    stays = in_city(dv, "stays@dyn.example", "Alphaville")
    leaves = in_city(dv, "leaves@dyn.example", "Alphaville")
    joins = in_city(dv, "joins@dyn.example", "Betatown")
    list_id = dynamic_list(dv, "Alphaville", city_query("Alphaville"))
    sync("lists")
    group = linked_group(list_id)
    link = ListLink.objects.get(list_id=list_id)
    # Unchanged results: one read of the lists, one page of results, nothing written.
    before, updated = crm_admin.counters(), link.updated_at
    quiet = sync("lists")
    assert spent(crm_admin, before) == {"contoso GET lists": 1, "contoso GET contacts": 1}
    link.refresh_from_db()
    assert link.updated_at == updated
    assert "group_members_added" not in quiet.counters["lists"]
    # The CRM changes records, not the list: the next run still sees it.
    dv.update("contacts", joins, {"address1_city": "Alphaville"})
    dv.update("contacts", leaves, {"address1_city": "Gammaburg"})
    run = sync("lists")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert group_emails(group) == {"stays@dyn.example", "joins@dyn.example"}
    counters = run.counters["lists"]
    assert (counters["group_members_added"], counters["group_members_removed"]) == (1, 1)
    assert {str(i) for i in link.snapshot.values_list("crm_id", flat=True)} == {stays, joins}
    assert Subscriber.objects.filter(email_normalised="leaves@dyn.example").exists()


def test_S1_a_changed_query_brings_its_new_members_and_drops_the_others(
        dv: DataverseClient, sync: SyncFn) -> None:
    in_city(dv, "graz@dyn.example", "Alphaville")
    in_city(dv, "linz1@dyn.example", "Betatown")
    in_city(dv, "linz2@dyn.example", "Betatown")
    list_id = dynamic_list(dv, "City", city_query("Alphaville"))
    sync("lists")
    dv.update("lists", list_id, {"query": city_query("Betatown")})
    run = sync("lists")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert group_emails(linked_group(list_id)) == {"linz1@dyn.example", "linz2@dyn.example"}
    assert "Betatown" in CrmList.objects.get(list_id=list_id).query


def test_S1_group_changes_in_mailworx_are_never_written_into_the_dynamic_list(
        dv: DataverseClient, sync: SyncFn, crm_admin: EmulatorAdmin) -> None:
    in_city(dv, "a@dyn.example", "Alphaville")
    in_city(dv, "b@dyn.example", "Alphaville")
    list_id = dynamic_list(dv, "Alphaville", city_query("Alphaville"))
    make_list(dv, "Static", [record(dv, "other@dyn.example")])
    sync("lists")
    group = linked_group(list_id)
    add_members(group, [Subscriber.objects.get(email_normalised="other@dyn.example").pk])
    remove_member(group, Subscriber.objects.get(email_normalised="a@dyn.example"))
    before = crm_admin.counters()
    run = sync("lists")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert not member_writes(spent(crm_admin, before))
    assert group_emails(group) == {"b@dyn.example", "other@dyn.example"}  # mailworx's own
    skipped = run.counters["lists"]["skipped"]
    assert skipped["group member added in mailworx; a dynamic list is not changed"] == 1
    assert skipped["group member removed in mailworx; a dynamic list is not changed"] == 1
    assert not SyncIssue.objects.exists()
    assert "crm_members_added" not in run.counters["lists"]


@pytest.mark.parametrize("query, words", [
    (city_query("Alphaville").replace("address1_city", "no_such_column"), "no_such_column"),
    ('<fetch><entity name="account"><attribute name="name"/></entity></fetch>',
     "reads the table “account”"),
    ("not FetchXML at all", "no query the connector can read"),
])
def test_N3_a_query_that_cannot_be_evaluated_is_an_explained_issue_and_the_group_stays(
        dv: DataverseClient, sync: SyncFn, query: str, words: str) -> None:
    in_city(dv, "kept@dyn.example", "Alphaville")
    list_id = dynamic_list(dv, "Broken later", city_query("Alphaville"))
    other = make_list(dv, "Static", [record(dv, "s@dyn.example")])
    sync("lists")
    dv.update("lists", list_id, {"query": query})
    run = sync("lists")
    assert run.status == JobStatus.SUCCEEDED, run.error
    issue = SyncIssue.objects.get(crm_id=list_id)
    assert words in issue.reason and "Broken later" in issue.reason
    assert "Traceback" not in issue.reason and "query" in issue.hint
    assert run.counters["lists"]["lists_failed"] == 1
    assert group_emails(linked_group(list_id)) == {"kept@dyn.example"}
    assert group_emails(linked_group(other)) == {"s@dyn.example"}  # the run went on
    dv.update("lists", list_id, {"query": city_query("Alphaville")})
    assert sync("lists").status == JobStatus.SUCCEEDED
    issue.refresh_from_db()
    assert issue.state == "resolved"


def test_a_dry_run_of_a_dynamic_list_writes_nothing_and_reports_its_members(
        tenant: Any, dv: DataverseClient, sync: SyncFn, crm_admin: EmulatorAdmin) -> None:
    in_city(dv, "d1@dyn.example", "Alphaville")
    in_city(dv, "d2@dyn.example", "Alphaville")
    list_id = dynamic_list(dv, "Alphaville", city_query("Alphaville"))
    before = crm_admin.counters()
    dry = sync("lists", dry_run=True)
    assert dry.status == JobStatus.SUCCEEDED, dry.error
    requests = spent(crm_admin, before)
    assert all(k.split()[1] == "GET" for k in requests), requests
    report = dry.result["dry_run"]
    assert report["mailworx"]["subscribers_created"]["count"] == 2
    assert report["crm"]["by_kind"] == {"lists:update": 1}  # mwx_lastsyncon, link-back
    assert not ListLink.objects.filter(list_id=list_id).exists()
    assert not Subscriber.objects.filter(tenant=tenant).exists()
    real = sync("lists")
    assert real.counters["lists"] == dry.counters["lists"]


def test_S1_marking_a_dynamic_list_whose_query_is_refused_ends_with_its_explanation(
        dv: DataverseClient, sync: SyncFn) -> None:
    list_id = dynamic_list(dv, "Typo", city_query("X").replace("address1_city", "address1_cty"),
                           marked=False)
    run = sync("lists", list_id=list_id, mark=True)
    assert run.status == JobStatus.SUCCEEDED, run.error
    outcome = run.result["list_outcome"]
    assert outcome["ok"] is False
    assert "address1_cty" in outcome["message"] and "Typo" in outcome["message"]
    assert SyncIssue.objects.get(crm_id=list_id).state == "open"
