"""`$batch` and bulk messages against the emulator, over real HTTPS."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dynamics import (
    BatchOperation,
    DataverseClient,
    FakeClock,
    Transaction,
    errors,
)
from tests.dynamics.conftest import online_connection


def _new_contact(last: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    cid = str(uuid.uuid4())
    return cid, {"contactid": cid, "lastname": last, **extra}


def _exists(crm: DataverseClient, entity_set: str, rid: str) -> bool:
    try:
        crm.get(entity_set, rid, select=["createdon"])
    except errors.NotFound:
        return False
    return True


# -- $batch ---------------------------------------------------------------------------------

def test_a_failing_changeset_is_rolled_back(crm: DataverseClient, admin: Any) -> None:
    id1, body1 = _new_contact("Batch One")
    id2, body2 = _new_contact("Batch Two")
    changeset = Transaction([
        BatchOperation("POST", "contacts", body1),
        BatchOperation("POST", "contacts", body2),
        BatchOperation("POST", "contacts", {"lastname": "Bad", "no_such_column": 1}),
    ])
    results = crm.batch([changeset])
    assert len(results) == 3
    assert not any(r.ok for r in results)
    assert isinstance(results[2].error, errors.BadRequest) and results[2].status == 400
    for r in results[:2]:
        assert isinstance(r.error, errors.RolledBack) and r.status is None
    # The rollback is real: the first two creates left nothing behind.
    assert not _exists(crm, "contacts", id1)
    assert not _exists(crm, "contacts", id2)
    assert admin.count("contoso POST $batch") == 1


@pytest.mark.parametrize("org", ["crm", "onprem"])
def test_a_failure_in_the_middle_of_a_changeset_rolls_back_both_sides(
        org: str, request: pytest.FixtureRequest) -> None:
    client: DataverseClient = request.getfixturevalue(org)
    id1, body1 = _new_contact("Middle One")
    id3, body3 = _new_contact("Middle Three")
    existing = next(client.query("contacts", select=["contactid"], top=1))["contactid"]
    results = client.batch([Transaction([
        BatchOperation("POST", "contacts", body1),
        BatchOperation("PATCH", f"contacts({existing})", {"lastname": "x" * 500}),
        BatchOperation("POST", "contacts", body3)])])
    assert [type(r.error).__name__ for r in results] == ["RolledBack", "BadRequest",
                                                          "RolledBack"]
    assert not _exists(client, "contacts", id1) and not _exists(client, "contacts", id3)
    assert client.get("contacts", existing, ["lastname"])["lastname"] != "x" * 500


def test_without_continue_on_error_later_operations_are_not_executed(
        crm: DataverseClient) -> None:
    id_after, body_after = _new_contact("After The Failure")
    results = crm.batch([
        Transaction([BatchOperation("POST", "contacts", {"lastname": "Bad", "nope": 1})]),
        BatchOperation("POST", "contacts", body_after),
    ])
    assert isinstance(results[0].error, errors.BadRequest)
    assert isinstance(results[1].error, errors.NotExecuted) and results[1].status is None
    assert not _exists(crm, "contacts", id_after)


def test_continue_on_error_runs_independent_operations(crm: DataverseClient) -> None:
    id_before, body_before = _new_contact("Before")
    id_cs, body_cs = _new_contact("In Failing Changeset")
    id_after, body_after = _new_contact("After")
    id_good_cs, body_good_cs = _new_contact("In Good Changeset")
    some = next(crm.query("contacts", select=["contactid", "lastname"], top=1))
    results = crm.batch([
        BatchOperation("POST", "contacts", body_before),
        Transaction([BatchOperation("POST", "contacts", body_cs),
                     BatchOperation("PATCH", f"contacts({uuid.uuid4()})", {"lastname": "x"},
                                    {"If-Match": "*"})]),
        BatchOperation("POST", "contacts", body_after),
        Transaction([BatchOperation("POST", "contacts", body_good_cs)]),
        BatchOperation("GET", f"contacts({some['contactid']})?$select=lastname"),
    ], continue_on_error=True)
    assert [r.ok for r in results] == [True, False, False, True, True, True]
    assert isinstance(results[1].error, errors.RolledBack)
    assert isinstance(results[2].error, errors.NotFound) and results[2].status == 404
    assert results[0].entity_id == id_before and results[3].entity_id == id_after
    assert results[5].body["lastname"] == some["lastname"]
    assert _exists(crm, "contacts", id_before) and _exists(crm, "contacts", id_after)
    assert _exists(crm, "contacts", id_good_cs)
    assert not _exists(crm, "contacts", id_cs)


def test_a_get_outside_changesets_returns_data(crm: DataverseClient) -> None:
    rows = list(crm.query("contacts", select=["contactid", "fullname"], top=2,
                          orderby="contactid"))
    results = crm.batch([BatchOperation("GET", f"contacts({r['contactid']})?$select=fullname")
                         for r in rows]
                        + [BatchOperation("GET", "contacts?$select=contactid&$top=3")])
    assert all(r.ok and r.status == 200 for r in results)
    assert [r.body["fullname"] for r in results[:2]] == [r["fullname"] for r in rows]
    assert len(results[2].body["value"]) == 3


def test_a_changeset_can_reference_an_earlier_operation(crm: DataverseClient) -> None:
    results = crm.batch([Transaction([
        BatchOperation("POST", "accounts", {"name": "Ref Account"}, content_id="a1"),
        BatchOperation("POST", "contacts", {"lastname": "Ref Contact",
                                            "parentcustomerid_account@odata.bind": "$a1"}),
    ])])
    assert all(r.ok for r in results)
    account_id, contact_id = results[0].entity_id, results[1].entity_id
    assert account_id and contact_id
    row = crm.get("contacts", contact_id, ["_parentcustomerid_value"])
    assert row["_parentcustomerid_value"] == account_id


def test_non_ascii_text_survives_a_batch_round_trip(crm: DataverseClient) -> None:
    cid, body = _new_contact("Müller-Lüdenscheidt", firstname="Zoë", jobtitle="Geschäftsführerin")
    results = crm.batch([
        Transaction([BatchOperation("POST", "contacts", body)]),
        BatchOperation("GET", f"contacts({cid})?$select=fullname,jobtitle"),
    ])
    assert all(r.ok for r in results)
    assert results[1].body["fullname"] == "Zoë Müller-Lüdenscheidt"
    assert results[1].body["jobtitle"] == "Geschäftsführerin"


def test_more_than_1000_operations_are_split_into_several_batches(
        crm: DataverseClient, admin: Any) -> None:
    ids = []
    ops: list[Any] = []
    for i in range(1203):
        cid, body = _new_contact(f"Split {i}", emailaddress1=f"split{i}@example.com")
        ids.append(cid)
        ops.append(BatchOperation("POST", "contacts", body))
    results = crm.batch(ops)
    assert len(results) == 1203 and all(r.ok for r in results)
    assert [r.entity_id for r in results] == ids
    assert admin.count("contoso POST $batch") == 2
    batches = [r for r in crm.log.records if r.entity_set == "$batch"]
    assert [r.operations for r in batches] == [1000, 203]
    found = list(crm.lookup_in("contacts", "contactid", ids, select=["contactid"]))
    assert len(found) == 1203


# -- bulk messages --------------------------------------------------------------------------

def test_bulk_messages_are_detected_on_v9(crm: DataverseClient, admin: Any) -> None:
    assert crm.supports_bulk("contact") is True
    assert crm.supports_bulk("contact") is True  # cached: one probe
    assert admin.count("contoso GET sdkmessagefilters") == 1
    assert crm.supports_bulk("listmember") is False


def test_create_multiple_creates_in_one_request(crm: DataverseClient, admin: Any) -> None:
    records = [{"contactid": str(uuid.uuid4()), "lastname": f"Bulk {i}",
                "emailaddress1": f"bulk{i}@example.com"} for i in range(25)]
    results = crm.create_multiple("contacts", "contact", records)
    assert len(results) == 25 and all(r.ok for r in results)
    assert [r.entity_id for r in results] == [r["contactid"] for r in records]
    # Spread over the parallel requests, at least 20 records each: 13 + 12.
    assert admin.count("CreateMultiple") == 2
    assert admin.count("contoso POST $batch") == 0
    assert admin.counters().get("contoso POST contacts", 0) == 0
    found = {r["contactid"]: r["lastname"] for r in crm.lookup_in(
        "contacts", "contactid", [r["contactid"] for r in records], select=["lastname"])}
    assert found == {r["contactid"]: r["lastname"] for r in records}
    totals = crm.log.totals()
    assert totals.operations >= 25


def test_create_multiple_sends_chunks_of_500(server: Any, creds: Any, clock: FakeClock,
                                             admin: Any) -> None:
    # One request at a time (CRM_CONCURRENCY=1): full chunks of 500, in order.
    with DataverseClient(online_connection(server, creds, concurrency=1),
                         clock=clock) as crm:
        records = [{"lastname": f"Chunk {i}"} for i in range(1001)]
        results = crm.create_multiple("contacts", "contact", records)
        assert len(results) == 1001 and all(r.ok for r in results)
        assert len({r.entity_id for r in results}) == 1001
        assert admin.count("CreateMultiple") == 3
        assert [r.operations for r in crm.log.records if r.method == "POST"] == [500, 500, 1]


def test_create_multiple_spreads_a_small_load_over_the_dop_hint(
        crm: DataverseClient, admin: Any) -> None:
    # The emulator's dop hint is 5: 1,001 records go as five requests of at most 201
    # instead of two full ones and a straggler; results stay in input order.
    records = [{"contactid": str(uuid.uuid4()), "lastname": f"Spread {i}"} for i in range(1001)]
    results = crm.create_multiple("contacts", "contact", records)
    assert [r.entity_id for r in results] == [r["contactid"] for r in records]
    assert admin.count("CreateMultiple") == 5
    assert sorted(r.operations for r in crm.log.records if r.method == "POST") == [
        197, 201, 201, 201, 201]


def test_update_and_upsert_multiple(crm: DataverseClient, admin: Any) -> None:
    records = [{"contactid": str(uuid.uuid4()), "lastname": f"Up {i}"} for i in range(5)]
    crm.create_multiple("contacts", "contact", records)
    updates = [{"contactid": r["contactid"], "jobtitle": "Updated"} for r in records]
    assert all(r.ok for r in crm.update_multiple("contacts", "contact", updates))
    assert admin.count("UpdateMultiple") == 1
    new_id = str(uuid.uuid4())
    upserts = [{"contactid": records[0]["contactid"], "jobtitle": "Upserted"},
               {"contactid": new_id, "lastname": "Upsert New"}]
    results = crm.upsert_multiple("contacts", "contact", upserts)
    assert all(r.ok for r in results)
    assert [r.entity_id for r in results] == [records[0]["contactid"], new_id]
    assert admin.count("UpsertMultiple") == 1
    assert admin.count("$batch") == 0
    assert crm.get("contacts", records[1]["contactid"], ["jobtitle"])["jobtitle"] == "Updated"
    assert crm.get("contacts", records[0]["contactid"], ["jobtitle"])["jobtitle"] == "Upserted"
    assert crm.get("contacts", new_id, ["lastname"])["lastname"] == "Upsert New"


def test_update_multiple_with_a_missing_record_is_all_or_nothing_then_batch(
        crm: DataverseClient, admin: Any) -> None:
    records = [{"contactid": str(uuid.uuid4()), "lastname": f"Aon {i}"} for i in range(3)]
    crm.create_multiple("contacts", "contact", records)
    ghost = str(uuid.uuid4())
    updates = [{"contactid": r["contactid"], "jobtitle": "Changed"} for r in records]
    updates.insert(1, {"contactid": ghost, "jobtitle": "Changed"})
    results = crm.update_multiple("contacts", "contact", updates)
    assert [r.ok for r in results] == [True, False, True, True]
    assert isinstance(results[1].error, errors.NotFound)
    assert admin.count("UpdateMultiple") == 1 and admin.count("contoso POST $batch") == 1
    # The good records were saved by the $batch fallback, the missing one not created.
    for r in records:
        assert crm.get("contacts", r["contactid"], ["jobtitle"])["jobtitle"] == "Changed"
    assert not _exists(crm, "contacts", ghost)


def test_create_multiple_with_an_invalid_target_creates_nothing_in_bulk_then_falls_back(
        crm: DataverseClient, admin: Any) -> None:
    good = [{"contactid": str(uuid.uuid4()), "lastname": f"Good {i}"} for i in range(3)]
    bad = {"contactid": str(uuid.uuid4()), "lastname": "Bad", "no_such_column": "x"}
    records = [good[0], bad, good[1], good[2]]
    # The bulk message alone is all-or-nothing: it rolls back every target.
    with pytest.raises(errors.BadRequest):
        crm._bulk_chunk("CreateMultiple", "contacts", "contact",
                        [{"contactid": r["contactid"], **r} for r in records], "contactid")
    assert not any(_exists(crm, "contacts", r["contactid"]) for r in records)
    admin.session.post(f"{admin.base}/counters/reset", timeout=10).raise_for_status()
    # The client's designed answer: CreateMultiple fails, $batch saves the good ones and
    # reports the bad one per record, in input order.
    results = crm.create_multiple("contacts", "contact", records)
    assert [r.ok for r in results] == [True, False, True, True]
    assert isinstance(results[1].error, errors.BadRequest)
    assert admin.count("CreateMultiple") == 1 and admin.count("contoso POST $batch") == 1
    assert all(_exists(crm, "contacts", r["contactid"]) for r in good)
    assert not _exists(crm, "contacts", bad["contactid"])


def test_on_v82_bulk_calls_fall_back_to_batch(onprem: DataverseClient, admin: Any) -> None:
    assert onprem.supports_bulk("contact") is False
    records = [{"contactid": str(uuid.uuid4()), "lastname": f"Onprem {i}"} for i in range(4)]
    results = onprem.create_multiple("contacts", "contact", records)
    assert len(results) == 4 and all(r.ok for r in results)
    assert [r.entity_id for r in results] == [r["contactid"] for r in records]
    updates = [{"contactid": r["contactid"], "jobtitle": "On-prem"} for r in records]
    assert all(r.ok for r in onprem.update_multiple("contacts", "contact", updates))
    new_id = str(uuid.uuid4())
    upserted = onprem.upsert_multiple("contacts", "contact",
                                      [{"contactid": new_id, "lastname": "Onprem New"}])
    assert [r.entity_id for r in upserted] == [new_id] and upserted[0].ok
    assert admin.count("fabrikam POST $batch") == 3
    assert admin.count("Multiple") == 0
    assert admin.count("sdkmessagefilters") == 0
    for r in records:
        assert onprem.get("contacts", r["contactid"], ["jobtitle"])["jobtitle"] == "On-prem"
    assert onprem.get("contacts", new_id, ["lastname"])["lastname"] == "Onprem New"


@pytest.mark.parametrize("org", ["crm", "onprem"])
def test_upsert_multiple_by_alternate_key_has_one_result_shape(
        org: str, request: pytest.FixtureRequest, admin: Any) -> None:
    # Client fix: the bulk path named alternate-key records `mwx_emailreactions()`.
    client: DataverseClient = request.getfixturevalue(org)
    refs = [f"mwx_emailreactions(mwx_reactionkey='alt/{i}')" for i in range(2)]
    for subject in ("first", "second"):
        results = client.upsert_multiple(
            "mwx_emailreactions", "mwx_emailreaction",
            [{"@odata.id": ref, "subject": f"{subject} {i}"} for i, ref in enumerate(refs)])
        assert all(r.ok for r in results)
        api_url = client.transport.connection.api_url
        assert [r.headers["OData-EntityId"] for r in results] == [api_url + r for r in refs]
    rows = list(client.query("mwx_emailreactions", select=["subject", "mwx_reactionkey"],
                             filter="startswith(mwx_reactionkey,'alt/')",
                             orderby="mwx_reactionkey"))
    assert [r["subject"] for r in rows] == ["second 0", "second 1"]
    assert admin.count("UpsertMultiple") == (2 if org == "crm" else 0)


def test_lookup_in_many_sends_every_look_up_in_one_batch(crm: DataverseClient,
                                                         admin: Any) -> None:
    from dynamics.bulk import InLookup

    contacts = [r["emailaddress1"] for r in crm.query(
        "contacts", select=["emailaddress1"], filter="emailaddress1 ne null", top=250)]
    leads = [r["emailaddress1"] for r in crm.query(
        "leads", select=["emailaddress1"], filter="emailaddress1 ne null", top=20)]
    before = len(crm.log.records)
    found = crm.lookup_in_many([
        InLookup("contacts", "emailaddress1", contacts, ["contactid", "emailaddress1"]),
        InLookup("leads", "emailaddress1", [*leads, "nobody@example.invalid"],
                 ["leadid", "emailaddress1"]),
        InLookup("accounts", "emailaddress1", [], ["accountid"])])
    assert len(crm.log.records) - before == 1  # one $batch round trip
    assert crm.log.records[-1].operations == 3  # 250 addresses: two GETs, leads one
    assert {r["emailaddress1"].lower() for r in found[0]} == {e.lower() for e in contacts}
    assert {r["emailaddress1"].lower() for r in found[1]} == {e.lower() for e in leads}
    assert found[2] == []
