"""Create, update, upsert, delete, concurrency, binds, state changes and validation errors."""

from __future__ import annotations

import uuid

import requests

from dynamics_emulator import EmulatorServer
from dynamics_emulator.credentials import LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET
from dynamics_emulator.testing import web_api_session

REP = {"Prefer": "return=representation"}


def _first(api: requests.Session, base: str, set_name: str, key: str) -> str:
    return str(api.get(f"{base}{set_name}?$select={key}&$top=1", timeout=10)
               .json()["value"][0][key])


def test_create_returns_204_with_odata_entityid(api: requests.Session, base: str) -> None:
    """Microsoft's basic create example: 204, OData-EntityId, no body."""
    resp = api.post(base + "accounts", json={"name": "Sample Account", "revenue": 5000000},
                    timeout=10)
    assert resp.status_code == 204 and resp.content == b""
    assert resp.headers["OData-Version"] == "4.0"
    entity_id = resp.headers["OData-EntityId"]
    assert entity_id.startswith(base + "accounts(")
    created = api.get(entity_id + "?$select=name,revenue,statecode,statuscode,createdon",
                      timeout=10).json()
    assert created["name"] == "Sample Account" and created["revenue"] == 5000000
    assert (created["statecode"], created["statuscode"]) == (0, 1)
    assert created["createdon"].endswith("Z")


def test_create_with_return_representation(api: requests.Session, base: str) -> None:
    """Microsoft's example: 201 Created, Preference-Applied, body with context and etag."""
    resp = api.post(base + "accounts?$select=name", json={"name": "Sample Account"}, headers=REP,
                    timeout=10)
    assert resp.status_code == 201
    assert resp.headers["Preference-Applied"] == "return=representation"
    body = resp.json()
    assert body["@odata.context"] == base + "$metadata#accounts(name)/$entity"
    assert body["@odata.etag"].startswith('W/"') and body["name"] == "Sample Account"
    assert uuid.UUID(body["accountid"])


def test_contact_fullname_is_composed_and_binds_set_lookups(api: requests.Session,
                                                            base: str) -> None:
    acc = _first(api, base, "accounts", "accountid")
    team = _first(api, base, "teams", "teamid")
    resp = api.post(base + "contacts?$select=fullname,_parentcustomerid_value,_ownerid_value",
                    headers={"Prefer": 'return=representation,odata.include-annotations="*"'},
                    json={"firstname": "Jürgen", "lastname": "Öztürk",
                          "parentcustomerid_account@odata.bind": f"/accounts({acc})",
                          "ownerid@odata.bind": f"/teams({team})"}, timeout=10)
    body = resp.json()
    assert body["fullname"] == "Jürgen Öztürk"
    assert body["_parentcustomerid_value"] == acc
    assert body["_ownerid_value"] == team
    assert body["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "team"


def test_client_supplied_id_and_duplicate_key(api: requests.Session, base: str) -> None:
    ident = str(uuid.uuid4())
    assert api.post(base + "contacts", json={"contactid": ident, "lastname": "A"},
                    timeout=10).headers["OData-EntityId"].endswith(f"contacts({ident})")
    again = api.post(base + "contacts", json={"contactid": ident, "lastname": "B"}, timeout=10)
    assert again.status_code == 412
    assert again.json()["error"] == {"code": "0x80040237",
                                     "message": "A record with matching key values already exists."}


def test_update_upsert_and_conditions(api: requests.Session, base: str) -> None:
    cid = _first(api, base, "contacts", "contactid")
    url = f"{base}contacts({cid})"
    assert api.patch(url, json={"jobtitle": "CTO"}, headers={"If-Match": "*"},
                     timeout=10).status_code == 204
    rep = api.patch(url + "?$select=jobtitle", json={"jobtitle": "CFO"}, headers=REP, timeout=10)
    assert rep.status_code == 200 and rep.json()["jobtitle"] == "CFO"
    missing = f"{base}contacts({uuid.uuid4()})"
    resp = api.patch(missing, json={"lastname": "X"}, headers={"If-Match": "*"}, timeout=10)
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "0x80040217"
    created = api.patch(missing, json={"lastname": "Upserted"}, timeout=10)
    assert created.status_code == 204 and created.headers["OData-EntityId"] == missing
    blocked = api.patch(missing, json={"lastname": "Y"}, headers={"If-None-Match": "*"},
                        timeout=10)
    assert blocked.status_code == 412
    assert blocked.json()["error"]["message"] == \
        "A record with matching key values already exists."
    new_rep = api.patch(f"{base}contacts({uuid.uuid4()})", json={"lastname": "Z"},
                        headers=REP, timeout=10)
    assert new_rep.status_code == 201


def test_optimistic_concurrency(api: requests.Session, base: str) -> None:
    cid = _first(api, base, "contacts", "contactid")
    url = f"{base}contacts({cid})"
    tag = api.get(url + "?$select=fullname", timeout=10).json()["@odata.etag"]
    assert api.patch(url, json={"jobtitle": "A"}, headers={"If-Match": tag},
                     timeout=10).status_code == 204
    stale = api.patch(url, json={"jobtitle": "B"}, headers={"If-Match": tag}, timeout=10)
    assert stale.status_code == 412
    assert stale.json()["error"]["code"] == "0x80060882"
    assert api.delete(url, headers={"If-Match": tag}, timeout=10).status_code == 412


def test_modifiedon_and_versionnumber_advance(api: requests.Session, base: str) -> None:
    cid = _first(api, base, "contacts", "contactid")
    url = f"{base}contacts({cid})?$select=modifiedon,versionnumber"
    before = api.get(url, timeout=10).json()
    api.patch(f"{base}contacts({cid})", json={"jobtitle": "X"}, timeout=10)
    after = api.get(url, timeout=10).json()
    assert after["versionnumber"] > before["versionnumber"]
    assert after["modifiedon"] > before["modifiedon"]


def test_delete_and_method_not_allowed_on_collection(api: requests.Session, base: str) -> None:
    lid = _first(api, base, "leads", "leadid")
    assert api.delete(f"{base}leads({lid})", timeout=10).status_code == 204
    assert api.delete(f"{base}leads({lid})", timeout=10).status_code == 404
    assert api.patch(base + "leads", json={}, timeout=10).status_code == 405
    assert api.delete(base + "leads", timeout=10).status_code == 405


def test_state_changes_validate_pairs(api: requests.Session, base: str) -> None:
    lid = _first(api, base, "leads", "leadid")
    url = f"{base}leads({lid})"
    assert api.patch(url, json={"statecode": 2, "statuscode": 6}, timeout=10).status_code == 204
    bad = api.patch(url, json={"statecode": 0, "statuscode": 3}, timeout=10)
    assert bad.status_code == 400 and "not a valid status code" in bad.json()["error"]["message"]
    assert api.patch(url, json={"statecode": 0, "statuscode": 1}, timeout=10).status_code == 204
    cid = _first(api, base, "contacts", "contactid")
    assert api.patch(f"{base}contacts({cid})", json={"statecode": 1, "statuscode": 2},
                     timeout=10).status_code == 204
    body = api.get(f"{base}contacts({cid})?$select=statecode,statuscode", timeout=10).json()
    assert (body["statecode"], body["statuscode"]) == (1, 2)


def test_validation_errors(api: requests.Session, base: str) -> None:
    long = api.post(base + "contacts", json={"lastname": "x" * 51}, timeout=10)
    assert long.status_code == 400 and long.json()["error"]["code"] == "0x80044331"
    assert "exceeded the maximum allowed length of '50'" in long.json()["error"]["message"]
    unknown = api.post(base + "contacts", json={"lastname": "x", "nofield": 1}, timeout=10)
    assert unknown.status_code == 400 and unknown.json()["error"]["code"] == "0x80048d19"
    assert "The property 'nofield' does not exist" in unknown.json()["error"]["message"]
    readonly = api.post(base + "contacts", timeout=10,
                        json={"lastname": "x", "createdon": "2020-01-01T00:00:00Z"})
    assert readonly.status_code == 400
    lookup_value = api.post(base + "contacts", json={"_parentcustomerid_value": str(uuid.uuid4())},
                            timeout=10)
    assert lookup_value.status_code == 400
    picklist = api.post(base + "contacts", json={"lastname": "x", "mwx_salutation": 5}, timeout=10)
    assert picklist.status_code == 400 and picklist.json()["error"]["code"] == "0x8004431A"
    bind = api.post(base + "contacts", json={"lastname": "x", "parentcustomerid_account@odata.bind":
                                             f"/accounts({uuid.uuid4()})"}, timeout=10)
    assert bind.status_code == 404


def test_multiselect_and_dateonly_round_trip(api: requests.Session, base: str) -> None:
    body = api.post(base + "contacts?$select=mwx_topics,birthdate,mwx_consenton", headers=REP,
                    json={"lastname": "T", "mwx_topics": "100000001,100000003",
                          "birthdate": "1990-05-17", "mwx_consenton": "2024-02-01T10:00:00Z"},
                    timeout=10).json()
    assert body["mwx_topics"] == "100000001,100000003"
    assert body["birthdate"] == "1990-05-17"
    assert body["mwx_consenton"] == "2024-02-01T10:00:00Z"


def test_reaction_alternate_key_upsert_never_duplicates(api: requests.Session, base: str) -> None:
    cid = _first(api, base, "contacts", "contactid")
    url = f"{base}mwx_emailreactions(mwx_reactionkey='wave-1/subscriber-9')"
    payload = {"subject": "Opened newsletter", "mwx_opens": 1,
               "regardingobjectid_contact_mwx_emailreaction@odata.bind": f"/contacts({cid})"}
    first = api.patch(url, json=payload, timeout=10)
    assert first.status_code == 204
    assert api.patch(url, json={**payload, "mwx_opens": 2}, timeout=10).status_code == 204
    rows = api.get(base + "mwx_emailreactions?$select=mwx_opens,mwx_reactionkey,"
                   "_regardingobjectid_value", timeout=10).json()["value"]
    assert len(rows) == 1
    assert rows[0]["mwx_opens"] == 2 and rows[0]["mwx_reactionkey"] == "wave-1/subscriber-9"
    assert rows[0]["_regardingobjectid_value"] == cid
    assert api.get(url, timeout=10).status_code == 200
    dup = api.post(base + "mwx_emailreactions", json={"subject": "x",
                                                      "mwx_reactionkey": "wave-1/subscriber-9"},
                   timeout=10)
    assert dup.status_code == 412 and dup.json()["error"]["code"] == "0x80060892"
    bad_key = api.get(f"{base}contacts(emailaddress1='a@b.c')", timeout=10)
    assert bad_key.status_code == 400
    assert "The key in the request URI is not valid" in bad_key.json()["error"]["message"]


def test_missing_privilege_gives_403(emulator: EmulatorServer, base: str) -> None:
    limited = web_api_session(emulator, client_id=LIMITED_CLIENT_ID, secret=LIMITED_CLIENT_SECRET)
    cid = _first(limited, base, "contacts", "contactid")
    resp = limited.delete(f"{base}contacts({cid})", timeout=10)
    assert resp.status_code == 403
    err = resp.json()["error"]
    assert err["code"] == "0x80042f09" and "is missing prvDeleteContact privilege" in err["message"]


def test_lookup_ref_set_and_clear(api: requests.Session, base: str) -> None:
    cid = _first(api, base, "contacts", "contactid")
    acc = _first(api, base, "accounts", "accountid")
    url = f"{base}contacts({cid})"
    assert api.put(url + "/parentcustomerid_account/$ref",
                   json={"@odata.id": f"{base}accounts({acc})"}, timeout=10).status_code == 204
    assert api.get(url + "?$select=_parentcustomerid_value",
                   timeout=10).json()["_parentcustomerid_value"] == acc
    assert api.delete(url + "/parentcustomerid_account/$ref", timeout=10).status_code == 204
    assert api.get(url + "?$select=_parentcustomerid_value",
                   timeout=10).json()["_parentcustomerid_value"] is None
    assert api.patch(url, json={"parentcustomerid_account@odata.bind": f"/accounts({acc})"},
                     timeout=10).status_code == 204
    assert api.patch(url, json={"parentcustomerid_account@odata.bind": None},
                     timeout=10).status_code == 204
