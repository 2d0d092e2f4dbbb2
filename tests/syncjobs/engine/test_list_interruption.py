"""N1 for the lists step: a run stopped at any batch boundary of the step, or right after a
CRM write before the local save, resumes and ends as an uninterrupted run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from audience.groups import add_members, remove_member
from audience.models import Subscriber, SubscriberGroup
from dynamics import DataverseClient
from syncjobs.engine import lists_members
from syncjobs.models import JobStatus, ListLink, ListLinkState
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


def changed_on_both_sides(dv: DataverseClient, sync: SyncFn) -> tuple[str, dict[str, str]]:
    """A synced list, then a member added and one removed on each side."""
    ids = {f"s{i}": record(dv, f"s{i}@n1.example") for i in range(4)}
    list_id = make_list(dv, "Members", [ids["s0"], ids["s1"], ids["s2"]])
    make_list(dv, "Others", [ids["s3"]])
    assert sync("lists").status == JobStatus.SUCCEEDED
    group = ListLink.objects.get(list_id=list_id).group
    ids["fresh"] = record(dv, "fresh@n1.example")
    add_to_list(dv, list_id, [ids["fresh"]])
    remove_from_list(dv, list_id, ids["s0"])
    remove_member(group, Subscriber.objects.get(email_normalised="s1@n1.example"))
    add_members(group, [Subscriber.objects.get(email_normalised="s3@n1.example").pk])
    return list_id, ids


def assert_end_state(dv: DataverseClient, sync: SyncFn, admin: EmulatorAdmin,
                     list_id: str, ids: dict[str, str]) -> None:
    link = ListLink.objects.get(list_id=list_id)
    assert group_emails(link.group) == {"s2@n1.example", "s3@n1.example", "fresh@n1.example"}
    expected = {ids["s2"], ids["s3"], ids["fresh"]}
    assert crm_members(dv, list_id) == expected
    assert {str(i) for i in link.snapshot.values_list("crm_id", flat=True)} == expected
    assert Subscriber.objects.filter(email_normalised="fresh@n1.example").count() == 1
    # As after an uninterrupted run: the next run has nothing to read or write.
    assert link.synced_version == int(crm_list(dv, list_id)["versionnumber"])
    before = admin.counters()
    soap = dv.protocol == "soap"
    # Over SOAP the run also reads the list table's column types once (RetrieveEntity).
    assert sync("lists").counters["http"]["round_trips"] == (2 if soap else 1)
    after = admin.counters()
    changed = {k for k, n in after.items() if n != before.get(k, 0)}
    # One read of the lists (a GET on the Web API, a RetrieveMultiple over SOAP).
    soap_reads = {f"legacy2015 POST Organization.svc/web Execute({m})"
                  for m in ("RetrieveMultiple", "RetrieveEntity")}
    assert changed == (soap_reads if soap else {"contoso GET lists"})


def test_n1_uninterrupted_run_reaches_the_end_state(
        dv: DataverseClient, sync: SyncFn, crm_admin: EmulatorAdmin) -> None:
    list_id, ids = changed_on_both_sides(dv, sync)
    assert sync("lists").status == JobStatus.SUCCEEDED
    assert_end_state(dv, sync, crm_admin, list_id, ids)


# Boundaries of a lists run here: step start, after the CRM adds were taken, after the CRM
# removals were taken, after the adds went to the CRM, after the removals, step end.
@pytest.mark.parametrize("nth", [1, 2, 3, 4, 5, 6])
def test_n1_interrupted_at_a_lists_boundary_resumes_to_the_same_end_state(
        dv: DataverseClient, sync: SyncFn, crm_admin: EmulatorAdmin,
        interrupt: Callable[[str, int], None], nth: int) -> None:
    list_id, ids = changed_on_both_sides(dv, sync)
    interrupt("lists", nth)
    failed = sync("lists")
    assert failed.status == JobStatus.FAILED and "Traceback" not in failed.error
    assert sync("lists").status == JobStatus.SUCCEEDED
    assert_end_state(dv, sync, crm_admin, list_id, ids)


def crash_after(monkeypatch: pytest.MonkeyPatch, owner: Any, name: str,
                when: Callable[..., bool]) -> None:
    """``owner.name`` does its work, then the worker dies (once) before the local save."""
    original = getattr(owner, name)
    fired = {"done": False}

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        if not fired["done"] and when(*args, **kwargs):
            fired["done"] = True
            raise RuntimeError(f"worker killed after {name}")
        return result
    monkeypatch.setattr(owner, name, wrapper)


@pytest.mark.parametrize("write", ["add members", "remove members", "write back"])
def test_n1_a_crash_between_a_crm_write_and_the_local_save_ends_the_same(
        dv: DataverseClient, sync: SyncFn, crm_admin: EmulatorAdmin,
        monkeypatch: pytest.MonkeyPatch, write: str) -> None:
    list_id, ids = changed_on_both_sides(dv, sync)
    if write == "add members":
        crash_after(monkeypatch, type(dv), "batch",
                    lambda self, ops, *a, **k: ops[0].path == "AddListMembersList")
    elif write == "remove members":
        crash_after(monkeypatch, type(dv), "batch",
                    lambda self, ops, *a, **k: "RemoveMemberList" in ops[0].path
                    or ops[0].path.endswith("$ref"))
    else:
        crash_after(monkeypatch, lists_members, "patch_list", lambda *a, **k: True)
    assert sync("lists").status == JobStatus.FAILED
    monkeypatch.undo()
    assert sync("lists").status == JobStatus.SUCCEEDED
    assert_end_state(dv, sync, crm_admin, list_id, ids)


@pytest.mark.parametrize("nth", [1, 2, 3, 4])
def test_n1_s6_interrupted_while_creating_group_lists_makes_each_list_once(
        dv: DataverseClient, group: SubscriberGroup, sync: SyncFn,
        interrupt: Callable[[str, int], None], nth: int) -> None:
    s6_group(group, dv)
    interrupt("lists", nth)
    assert sync().status == JobStatus.FAILED
    assert sync().status == JobStatus.SUCCEEDED
    for entity, size in (("contact", 2), ("lead", 1)):
        (row,) = lists_named(dv, f"Newsletter – {entity}")
        link = ListLink.objects.get(group=group, member_type=entity)
        assert link.state == ListLinkState.ACTIVE and row["listid"] == str(link.list_id)
        assert len(crm_members(dv, row["listid"], entity)) == size
