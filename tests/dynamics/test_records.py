"""Reads, writes, paging, `In` lookups, metadata and security against the emulator."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dynamics import DataverseClient, errors


def test_it_pages_by_next_link(crm: DataverseClient) -> None:
    rows = list(crm.query("contacts", select=["fullname", "emailaddress1"], page_size=50,
                          orderby="contactid"))
    pages = [r for r in crm.log.records if r.entity_set == "contacts"]
    assert len(pages) >= 3 and len(rows) > 100
    assert len(pages) == -(-len(rows) // 50)  # ceil: exactly one request per page
    ids = [r["contactid"] for r in rows]
    assert len(set(ids)) == len(ids)  # no row twice across pages
    assert set(rows[0]) >= {"fullname", "emailaddress1", "contactid"}


def test_it_creates_reads_updates_and_deletes(crm: DataverseClient) -> None:
    new_id = crm.create("contacts", {"firstname": "Anna", "lastname": "O'Brien",
                                     "emailaddress1": "anna.obrien@example.com"})
    row = crm.get("contacts", new_id, select=["fullname", "lastname"])
    assert row["lastname"] == "O'Brien" and row["contactid"] == new_id
    crm.update("contacts", new_id, {"jobtitle": "CTO"})
    assert crm.get("contacts", new_id, select=["jobtitle"])["jobtitle"] == "CTO"
    crm.set_state("contacts", new_id, 1, 2)
    assert crm.get("contacts", new_id, select=["statecode"])["statecode"] == 1
    crm.delete("contacts", new_id)
    with pytest.raises(errors.NotFound):
        crm.get("contacts", new_id)
    # If-Match: * keeps an update from resurrecting the deleted row.
    with pytest.raises(errors.NotFound) as exc:
        crm.update("contacts", new_id, {"jobtitle": "ghost"})
    assert exc.value.code == "0x80040217"


def test_a_retried_create_with_a_client_id_makes_one_record(crm: DataverseClient) -> None:
    record_id = str(uuid.uuid4())
    data = {"lastname": "Idempotent", "emailaddress1": "idem@example.com"}
    assert crm.create("contacts", data, id=record_id) == record_id
    assert crm.create("contacts", data, id=record_id) == record_id  # the "retry"
    rows = list(crm.query("contacts", select=["contactid"],
                          filter="emailaddress1 eq 'idem@example.com'"))
    assert [r["contactid"] for r in rows] == [record_id]


def test_it_upserts(crm: DataverseClient) -> None:
    record_id = str(uuid.uuid4())
    crm.upsert("contacts", record_id, {"lastname": "Upsert"})
    crm.upsert("contacts", record_id, {"lastname": "Upserted"})
    assert crm.get("contacts", record_id, select=["lastname"])["lastname"] == "Upserted"


def test_it_looks_up_many_values_in_chunks(crm: DataverseClient, admin: Any) -> None:
    emails = [r["emailaddress1"] for r in crm.query(
        "contacts", select=["emailaddress1"], filter="emailaddress1 ne null", top=120)]
    crm.create("contacts", {"lastname": "Quote", "emailaddress1": "o'hara&co+1@example.com"})
    wanted = [*emails, "o'hara&co+1@example.com", "nobody@example.invalid"]
    before = admin.count("GET contacts")
    found = list(crm.lookup_in("contacts", "emailaddress1", wanted,
                               select=["emailaddress1"], max_values=25))
    assert {r["emailaddress1"].lower() for r in found} == {e.lower() for e in wanted[:-1]}
    assert admin.count("GET contacts") - before == -(-len(wanted) // 25)


def test_it_reads_attribute_metadata_with_labels_and_types(crm: DataverseClient) -> None:
    attrs = {a.logical_name: a for a in crm.entity_attributes("contact")}
    email = attrs["emailaddress1"]
    assert email.max_length == 100 and email.valid_for_update
    assert email.labels == {1033: "Email", 1031: "E-Mail"}
    assert set(attrs["parentcustomerid"].targets) == {"account", "contact"}
    assert attrs["birthdate"].date_time_behavior == "DateOnly"
    assert attrs["mwx_topics"].is_multi_select
    assert not attrs["createdon"].valid_for_update


def test_it_reads_the_callers_privileges_and_roles(crm: DataverseClient) -> None:
    me = crm.who_am_i()
    names = {p.name for p in crm.user_privileges(me.user_id)}
    assert {"prvReadContact", "prvWriteContact"} <= names
    assert crm.user_roles(me.user_id)


def test_it_lists_users_and_teams_for_the_owner_picker(crm: DataverseClient) -> None:
    users, teams = crm.users(), crm.teams()
    assert users and teams
    assert all(u.kind == "systemuser" and len(u.id) == 36 for u in users)
    assert all(t.kind == "team" for t in teams)


def test_it_manages_marketing_list_members(crm: DataverseClient) -> None:
    list_id = crm.create("lists", {"listname": "Newsletter", "createdfromcode": 2,
                                   "type": False})
    contacts = [crm.create("contacts", {"lastname": f"Member {i}"}) for i in range(3)]
    assert crm.add_member_list(list_id, contacts[0])
    crm.add_list_members(list_id, "contact", contacts[1:])
    members = list(crm.query(f"lists({list_id})/listcontact_association",
                             select=["contactid"]))
    assert {m["contactid"] for m in members} == set(contacts)
    crm.remove_member_list(list_id, contacts[0])
    members = list(crm.query(f"lists({list_id})/listcontact_association",
                             select=["contactid"]))
    assert {m["contactid"] for m in members} == set(contacts[1:])


def test_it_reports_change_tracking_per_table(crm: DataverseClient,
                                              onprem: DataverseClient) -> None:
    assert crm.change_tracking_enabled("contact")
    assert not onprem.change_tracking_enabled("contact")
