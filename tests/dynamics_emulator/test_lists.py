"""Marketing lists: members by action, by $ref, reading members, errors; 8.x differences."""

from __future__ import annotations

from typing import Any

import requests
from requests_ntlm import HttpNtlmAuth

from dynamics_emulator import EmulatorServer
from dynamics_emulator.testing import trusted_session

NS = "Microsoft.Dynamics.CRM."


def _list(api: requests.Session, base: str, name: str) -> dict[str, Any]:
    url = f"{base}lists?$select=listname,membercount,createdfromcode&$filter=listname eq '{name}'"
    return dict(api.get(url, timeout=10).json()["value"][0])


def _ids(api: requests.Session, base: str, set_name: str, key: str, flt: str) -> list[str]:
    url = f"{base}{set_name}?$select={key}&$filter={flt}"
    return [v[key] for v in api.get(url, timeout=10).json()["value"]]


def test_synced_lists_are_marked(api: requests.Session, base: str) -> None:
    names = {v["listname"] for v in api.get(
        base + "lists?$select=listname&$filter=mwx_syncwithmailworx eq true", timeout=10
    ).json()["value"]}
    assert names == {"Newsletter DE", "Newsletter EN", "Key Accounts", "Trade Fair Leads 2024"}


def test_add_member_list_and_read_members_both_ways(api: requests.Session, base: str) -> None:
    lst = _list(api, base, "Internal distribution (not synced)")
    contact = _ids(api, base, "contacts", "contactid", "statecode eq 0")[-1]
    resp = api.post(f"{base}lists({lst['listid']})/{NS}AddMemberList",
                    json={"EntityId": contact}, timeout=10)
    assert resp.status_code == 200
    assert resp.json()["@odata.context"].endswith("#Microsoft.Dynamics.CRM.AddMemberListResponse")
    member_id = resp.json()["Id"]
    assert _list(api, base, lst["listname"])["membercount"] == lst["membercount"] + 1
    via_nav = api.get(f"{base}lists({lst['listid']})/listcontact_association?$select=fullname",
                      timeout=10).json()["value"]
    assert contact in {v["contactid"] for v in via_nav}
    rows = api.get(f"{base}listmembers?$select=_entityid_value,entitytype&$filter=_listid_value "
                   f"eq {lst['listid']}", timeout=10).json()["value"]
    row = next(r for r in rows if r["listmemberid"] == member_id)
    assert (row["_entityid_value"], row["entitytype"]) == (contact, "contact")


def test_add_list_members_list_unbound(api: requests.Session, base: str) -> None:
    lst = _list(api, base, "Key Accounts")
    accounts = _ids(api, base, "accounts", "accountid", "statecode eq 0")[-3:]
    body = {"List": {"@odata.type": f"{NS}list", "listid": lst["listid"]},
            "Members": [{"@odata.type": f"{NS}account", "accountid": a} for a in accounts]}
    assert api.post(base + "AddListMembersList", json=body, timeout=10).status_code == 204
    members = api.get(f"{base}lists({lst['listid']})/listaccount_association?$select=name",
                      timeout=10).json()["value"]
    assert set(accounts) <= {m["accountid"] for m in members}


def test_member_type_mismatch_locked_and_dynamic_lists(api: requests.Session, base: str) -> None:
    contacts_list = _list(api, base, "Newsletter DE")
    lead = _ids(api, base, "leads", "leadid", "statecode eq 0")[0]
    mismatch = api.post(f"{base}lists({contacts_list['listid']})/{NS}AddMemberList",
                        json={"EntityId": lead}, timeout=10)
    assert mismatch.status_code == 400 and "member type" in mismatch.json()["error"]["message"]
    locked = _list(api, base, "Locked export 2023")
    contact = _ids(api, base, "contacts", "contactid", "statecode eq 0")[-1]
    resp = api.post(f"{base}lists({locked['listid']})/{NS}AddMemberList",
                    json={"EntityId": contact}, timeout=10)
    assert resp.status_code == 400 and "locked" in resp.json()["error"]["message"]


def test_remove_member_list_and_ref_disassociate(api: requests.Session, base: str) -> None:
    lst = _list(api, base, "Newsletter DE")
    members = api.get(f"{base}lists({lst['listid']})/listcontact_association?$select=contactid",
                      timeout=10).json()["value"]
    first, second = members[0]["contactid"], members[1]["contactid"]
    assert api.post(f"{base}lists({lst['listid']})/{NS}RemoveMemberList",
                    json={"EntityId": first}, timeout=10).status_code == 204
    again = api.post(f"{base}lists({lst['listid']})/{NS}RemoveMemberList",
                     json={"EntityId": first}, timeout=10)
    assert again.status_code == 400 and again.json()["error"]["code"] == "0x80048458"
    assert api.delete(f"{base}lists({lst['listid']})/listcontact_association({second})/$ref",
                      timeout=10).status_code == 204
    assert _list(api, base, "Newsletter DE")["membercount"] == lst["membercount"] - 2


def test_ref_associate_adds_member(api: requests.Session, base: str) -> None:
    lst = _list(api, base, "Newsletter EN")
    contact = _ids(api, base, "contacts", "contactid", "statecode eq 0")[-2]
    resp = api.post(f"{base}lists({lst['listid']})/listcontact_association/$ref",
                    json={"@odata.id": f"{base}contacts({contact})"}, timeout=10)
    assert resp.status_code == 204
    assert _list(api, base, "Newsletter EN")["membercount"] == lst["membercount"] + 1


def test_campaign_activity_through_mailworx_channel(api: requests.Session, base: str) -> None:
    acts = api.get(base + "campaignactivities?$select=subject,channeltypecode,"
                   "mwx_distributionrequested,_regardingobjectid_value&$filter=channeltypecode eq "
                   "100000000 and mwx_distributionrequested eq true&$expand="
                   "campaignactivitylist_association($select=listname)",
                   headers={"Prefer": 'odata.include-annotations="*"'}, timeout=10).json()["value"]
    assert len(acts) == 1
    act = acts[0]
    assert act["channeltypecode@OData.Community.Display.V1.FormattedValue"] == "mailworx campaign"
    assert [v["listname"] for v in act["campaignactivitylist_association"]] == ["Newsletter DE"]
    taken = api.patch(f"{base}campaignactivities({act['activityid']})",
                      json={"mwx_takenoveron": "2025-03-01T12:00:00Z",
                            "mwx_mailworxcampaignid": "4711"}, timeout=10)
    assert taken.status_code == 204


def test_v82_org_lists_without_remove_action(emulator: EmulatorServer) -> None:
    http = trusted_session(emulator)
    http.auth = HttpNtlmAuth("FABRIKAM\\crmadmin", "Pass@word1")
    base = emulator.web_api_url("fabrikam")
    lst = _list(http, base, "Newsletter DE")
    members = http.get(f"{base}lists({lst['listid']})/listcontact_association?$select=contactid",
                       timeout=10).json()["value"]
    gone = http.post(f"{base}lists({lst['listid']})/{NS}RemoveMemberList",
                     json={"EntityId": members[0]["contactid"]}, timeout=10)
    assert gone.status_code == 404
    # What 8.x allowed: delete the listmember row (or the $ref association).
    row = http.get(f"{base}listmembers?$select=listmemberid&$filter=_listid_value eq "
                   f"{lst['listid']} and _entityid_value eq {members[0]['contactid']}",
                   timeout=10).json()["value"][0]
    assert http.delete(f"{base}listmembers({row['listmemberid']})", timeout=10).status_code == 204
    assert _list(http, base, "Newsletter DE")["membercount"] == lst["membercount"] - 1


def test_failed_add_list_members_rolls_back_the_whole_request(api: requests.Session,
                                                              base: str) -> None:
    lst = _list(api, base, "Newsletter EN")
    contact = _ids(api, base, "contacts", "contactid", "statecode eq 0")[-5]
    lead = _ids(api, base, "leads", "leadid", "statecode eq 0")[0]
    body = {"List": {"@odata.type": f"{NS}list", "listid": lst["listid"]},
            "Members": [{"@odata.type": f"{NS}contact", "contactid": contact},
                        {"@odata.type": f"{NS}lead", "leadid": lead}]}
    assert api.post(base + "AddListMembersList", json=body, timeout=10).status_code == 400
    assert _list(api, base, "Newsletter EN")["membercount"] == lst["membercount"]
