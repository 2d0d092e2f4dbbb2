"""Change tracking over real HTTPS: delta links, deletes, restrictions, expiry, switching."""

from __future__ import annotations

import re
from urllib.parse import unquote

import pytest

TRACK = {"Prefer": "odata.track-changes"}


def _initial(api, base: str, query: str, headers: dict | None = None) -> dict:
    resp = api.get(base + query, headers={**TRACK, **(headers or {})})
    assert resp.status_code == 200, resp.text
    assert "odata.track-changes" in resp.headers["Preference-Applied"]
    return resp.json()


def test_doc_example_accounts_delta(api, base, emulator) -> None:
    first = _initial(api, base, "accounts?$select=name,accountnumber,telephone1,fax")
    link = first["@odata.deltaLink"]
    assert link.startswith(base + "accounts?$select=name,accountnumber,telephone1,fax"
                                  "&$deltatoken=")
    token = unquote(link.split("$deltatoken=")[1])
    assert re.fullmatch(r"\d+!\d\d/\d\d/\d{4} \d\d:\d\d:\d\d", token)
    assert len(first["value"]) == 80
    # Nothing changed yet: empty value, a new delta link.
    same = api.get(link).json()
    assert same["value"] == [] and "$deltatoken=" in same["@odata.deltaLink"]
    created = api.post(base + "accounts", json={"name": "Delta Neu"})
    new_id = created.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")
    victim, changed = first["value"][0]["accountid"], first["value"][1]["accountid"]
    assert api.patch(base + f"accounts({changed})", json={"telephone1": "555"}).status_code == 204
    assert api.delete(base + f"accounts({victim})").status_code == 204
    delta = api.get(link)
    assert delta.status_code == 200
    body = delta.json()
    assert body["@odata.context"] == \
        base + "$metadata#accounts(name,accountnumber,telephone1,fax)/$delta"
    rows = body["value"]
    assert [r.get("accountid") for r in rows[:2]] == [new_id, changed]
    assert rows[1]["telephone1"] == "555" and set(rows[1]) >= {"name", "fax", "@odata.etag"}
    assert rows[2] == {"@odata.context": base + "$metadata#accounts/$deletedEntity",
                       "id": victim, "reason": "deleted"}
    assert len(rows) == 3
    count = api.get(base + "accounts/$count?$deltatoken=" + link.split("$deltatoken=")[1])
    assert count.status_code == 200 and count.text == "3"
    # The new link starts after these changes.
    assert api.get(body["@odata.deltaLink"]).json()["value"] == []


def test_delta_link_on_the_last_page(api, base) -> None:
    page = _initial(api, base, "contacts?$select=lastname",
                    {"Prefer": "odata.track-changes,odata.maxpagesize=200"})
    assert "@odata.deltaLink" not in page and "@odata.nextLink" in page
    seen = len(page["value"])
    # A change made while paging must show up in the delta started on the first page.
    early = page["value"][0]["contactid"]
    api.patch(base + f"contacts({early})", json={"jobtitle": "while paging"})
    while "@odata.nextLink" in page:
        page = api.get(page["@odata.nextLink"],
                       headers={"Prefer": "odata.track-changes,odata.maxpagesize=200"}).json()
        seen += len(page["value"])
    assert seen == 300
    delta = api.get(page["@odata.deltaLink"]).json()["value"]
    assert [r["contactid"] for r in delta] == [early]


@pytest.mark.parametrize("option", ["$filter=lastname eq 'x'", "$orderby=lastname", "$top=5",
                                    "$expand=parentcustomerid_account($select=name)"])
def test_restrictions(api, base, option) -> None:
    resp = api.get(base + f"contacts?$select=lastname&{option}", headers=TRACK)
    assert resp.status_code == 400
    name = option.split("=")[0]
    assert resp.json()["error"]["message"] == \
        f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.'


def test_untracked_table_and_admin_switch(api, base, emulator, plain) -> None:
    resp = api.get(base + "systemusers?$select=fullname", headers=TRACK)
    assert resp.status_code == 400
    assert resp.json()["error"] == {"code": "0x80072491",
                                    "message": "Entity systemuser isn't enabled for change "
                                               "tracking."}
    admin = emulator.base_url + "/_admin/tracking"
    r = plain.post(admin, json={"org": "contoso", "entity": "lead", "enabled": False})
    assert r.status_code == 200 and r.json()["contoso"]["entities"]["lead"] is False
    meta = api.get(base + "EntityDefinitions(LogicalName='lead')?$select=ChangeTrackingEnabled")
    assert meta.json()["ChangeTrackingEnabled"] is False
    assert api.get(base + "leads?$select=subject", headers=TRACK).json()["error"]["code"] == \
        "0x80072491"
    plain.post(admin, json={"org": "contoso", "entity": "lead", "enabled": True})
    assert api.get(base + "leads?$select=subject", headers=TRACK).status_code == 200


def test_token_expiry_uses_emulator_clock_and_retention(api, base, emulator, plain) -> None:
    link = _initial(api, base, "contacts?$select=lastname")["@odata.deltaLink"]
    r = plain.post(emulator.base_url + "/_admin/tracking",
                   json={"org": "contoso", "retention_days": 1})
    assert r.json()["contoso"]["retention_days"] == 1
    plain.post(emulator.base_url + "/_admin/clock", json={"offset_seconds": 86400 + 60})
    from dynamics_emulator.testing import web_api_session
    fresh = web_api_session(emulator)  # the old bearer token expired too
    resp = fresh.get(link)
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "0x80044352"


def test_list_membership_changes_are_visible(api, base) -> None:
    lists = api.get(base + "lists?$select=listid,membercount&$filter=mwx_syncwithmailworx eq true"
                           " and createdfromcode eq 2").json()["value"]
    lst = lists[0]["listid"]
    members = _initial(api, base, "listmembers?$select=_listid_value,_entityid_value")
    list_link = _initial(api, base, "lists?$select=membercount")["@odata.deltaLink"]
    contact = api.get(base + "contacts?$select=contactid&$top=1&$filter=statecode eq 0"
                             " and donotbulkemail eq false").json()["value"][0]["contactid"]
    api.post(base + f"lists({lst})/Microsoft.Dynamics.CRM.AddMemberList",
             json={"EntityId": contact})
    added = api.get(members["@odata.deltaLink"]).json()
    assert [(r["_listid_value"], r["_entityid_value"]) for r in added["value"]] == \
        [(lst, contact)]
    api.post(base + f"lists({lst})/Microsoft.Dynamics.CRM.RemoveMemberList",
             json={"EntityId": contact})
    removed = api.get(added["@odata.deltaLink"]).json()["value"]
    assert removed[0]["reason"] == "deleted" and removed[0]["id"] == added["value"][0][
        "listmemberid"]
    # The list itself shows up as changed (membercount / versionnumber moved).
    assert [r["listid"] for r in api.get(list_link).json()["value"]] == [lst]


def test_not_on_8_2(emulator) -> None:
    from requests_ntlm import HttpNtlmAuth

    from dynamics_emulator.testing import trusted_session
    s = trusted_session(emulator)
    s.auth = HttpNtlmAuth("FABRIKAM\\crmadmin", "Pass@word1")
    resp = s.get(emulator.web_api_url("fabrikam") + "contacts?$select=lastname", headers=TRACK)
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "0x80072491"
