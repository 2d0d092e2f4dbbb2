"""The dry-run transport: reads reach the emulator, writes never do, answers look real."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dynamics import BatchOperation, DataverseClient, FakeClock, Transaction, errors
from tests.dynamics.conftest import online_connection


@pytest.fixture
def dry(server: Any, creds: Any) -> Iterator[DataverseClient]:
    with DataverseClient(online_connection(server, creds), clock=FakeClock(),
                         simulate_writes=True) as client:
        yield client


def writes(admin: Any) -> int:
    return sum(n for key, n in admin.counters().items()
               if key.split()[0] in ("POST", "PATCH", "PUT", "DELETE"))


def test_single_writes_are_answered_and_recorded_but_never_sent(
        dry: DataverseClient, crm: DataverseClient, admin: Any) -> None:
    before = writes(admin)
    new_id = str(uuid.uuid4())
    assert dry.create("contacts", {"lastname": "Dry"}, id=new_id) == new_id
    posted = dry.create("contacts", {"lastname": "Posted"})
    existing = next(iter(crm.query("contacts", select=["contactid"], top=1)))["contactid"]
    dry.update("contacts", existing, {"lastname": "Changed"})
    dry.delete("contacts", existing)
    dry.call_action("AddListMembersList", {"List": {"listid": str(uuid.uuid4())},
                                           "Members": []})
    assert writes(admin) == before
    with pytest.raises(errors.NotFound):
        crm.get("contacts", new_id, select=["lastname"])
    assert crm.get("contacts", existing, select=["lastname"])["lastname"] != "Changed"
    kinds = [(w.kind, w.entity_set) for w in dry.simulated_writes]
    assert kinds == [("create", "contacts"), ("create", "contacts"), ("update", "contacts"),
                     ("delete", "contacts"), ("action", "AddListMembersList")]
    assert uuid.UUID(posted)  # a POST create gets an id of its own
    assert dry.simulated_writes[2].body == {"lastname": "Changed"}


def test_bulk_and_batch_writes_are_simulated_while_batch_reads_are_real(
        dry: DataverseClient, crm: DataverseClient, admin: Any) -> None:
    before = writes(admin)
    created = dry.create_multiple("contacts", "contact",
                                  [{"lastname": f"Bulk {i}"} for i in range(3)])
    assert all(r.ok and r.entity_id for r in created)
    existing = next(iter(crm.query("contacts", select=["contactid", "lastname"], top=1)))
    results = dry.batch([
        BatchOperation("GET", f"contacts({existing['contactid']})?$select=lastname"),
        Transaction([BatchOperation("PATCH", f"contacts({existing['contactid']})",
                                    {"lastname": "Batch"}, headers={"If-Match": "*"})]),
    ])
    assert results[0].ok and results[0].body["lastname"] == existing["lastname"]
    assert results[1].ok
    assert writes(admin) == before
    assert [w.kind for w in dry.simulated_writes] == ["create"] * 3 + ["update"]
    assert crm.get("contacts", existing["contactid"],
                   select=["lastname"])["lastname"] == existing["lastname"]


def test_a_real_client_records_no_simulated_writes(crm: DataverseClient) -> None:
    crm.create("contacts", {"lastname": "Real"}, id=str(uuid.uuid4()))
    assert crm.simulated_writes == []


def test_a_failing_read_inside_a_batch_is_reported_like_the_crm_does(
        dry: DataverseClient) -> None:
    results = dry.batch([BatchOperation("GET", f"contacts({uuid.uuid4()})?$select=lastname")])
    assert results[0].status == 404 and isinstance(results[0].error, errors.NotFound)
