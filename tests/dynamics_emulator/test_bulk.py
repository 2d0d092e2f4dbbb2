"""CreateMultiple / UpdateMultiple / UpsertMultiple and the sdkmessagefilters probe."""

from __future__ import annotations

import uuid

import pytest

CT = "Microsoft.Dynamics.CRM.contact"


def test_doc_example_create_multiple(api, base) -> None:
    own_id = str(uuid.uuid4())
    targets = [{"@odata.type": CT, "lastname": "BulkA", "emailaddress1": "a@bulk.example"},
               {"@odata.type": CT, "lastname": "BulkB", "contactid": own_id}]
    resp = api.post(base + "contacts/Microsoft.Dynamics.CRM.CreateMultiple",
                    json={"Targets": targets})
    assert resp.status_code == 200
    assert resp.headers["OData-Version"] == "4.0"
    assert resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["@odata.context"] == \
        base + "$metadata#Microsoft.Dynamics.CRM.CreateMultipleResponse"
    assert len(body["Ids"]) == 2 and body["Ids"][1] == own_id  # client-supplied key honoured
    got = api.get(base + f"contacts({body['Ids'][0]})?$select=lastname,emailaddress1").json()
    assert got["lastname"] == "BulkA" and got["emailaddress1"] == "a@bulk.example"


def test_create_multiple_is_all_or_nothing(api, base) -> None:
    targets = [{"@odata.type": CT, "lastname": "Rollback1"},
               {"@odata.type": CT, "lastname": "y" * 51}]
    resp = api.post(base + "contacts/Microsoft.Dynamics.CRM.CreateMultiple",
                    json={"Targets": targets})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "0x80044331"
    found = api.get(base + "contacts?$filter=lastname eq 'Rollback1'").json()["value"]
    assert found == []


@pytest.mark.parametrize("target", [{"lastname": "NoType"},
                                    {"@odata.type": "Microsoft.Dynamics.CRM.account",
                                     "name": "Wrong"}])
def test_targets_need_the_right_odata_type(api, base, target) -> None:
    resp = api.post(base + "contacts/Microsoft.Dynamics.CRM.CreateMultiple",
                    json={"Targets": [target]})
    assert resp.status_code == 400
    assert resp.json()["error"]["code"] == "0x80048d19"


def test_update_and_upsert_multiple(api, base) -> None:
    ids = api.post(base + "contacts/Microsoft.Dynamics.CRM.CreateMultiple", json={"Targets": [
        {"@odata.type": CT, "lastname": "U1"}, {"@odata.type": CT, "lastname": "U2"}]}
    ).json()["Ids"]
    resp = api.post(base + "contacts/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": [
        {"@odata.type": CT, "contactid": i, "jobtitle": "Updated"} for i in ids]})
    assert resp.status_code == 204 and resp.content == b""
    titles = [api.get(base + f"contacts({i})?$select=jobtitle").json()["jobtitle"] for i in ids]
    assert titles == ["Updated", "Updated"]
    missing = str(uuid.uuid4())
    resp = api.post(base + "contacts/Microsoft.Dynamics.CRM.UpdateMultiple", json={"Targets": [
        {"@odata.type": CT, "contactid": ids[0], "jobtitle": "Never"},
        {"@odata.type": CT, "contactid": missing, "jobtitle": "x"}]})
    assert resp.status_code == 404
    assert api.get(base + f"contacts({ids[0]})?$select=jobtitle").json()["jobtitle"] == "Updated"
    # UpsertMultiple: alternate key via @odata.id creates, then updates the same row.
    rt = "Microsoft.Dynamics.CRM.mwx_emailreaction"
    for subject in ("first", "second"):
        resp = api.post(base + "mwx_emailreactions/Microsoft.Dynamics.CRM.UpsertMultiple",
                        json={"Targets": [{"@odata.type": rt, "subject": subject,
                                           "@odata.id": "mwx_emailreactions(mwx_reactionkey="
                                                        "'bulk/1')"}]})
        assert resp.status_code == 204
    rows = api.get(base + "mwx_emailreactions?$filter=mwx_reactionkey eq 'bulk/1'"
                          "&$select=subject").json()["value"]
    assert [r["subject"] for r in rows] == ["second"]


def test_sdkmessagefilters_probe(api, base, emulator) -> None:
    def probe(table: str, message: str = "CreateMultiple") -> list:
        url = (base + "sdkmessagefilters?$select=sdkmessagefilterid&$filter=sdkmessageid/name eq "
               f"'{message}' and primaryobjecttypecode eq '{table}'")
        resp = api.get(url)
        assert resp.status_code == 200
        return resp.json()["value"]

    for table in ("contact", "account", "lead", "mwx_emailreaction"):
        assert len(probe(table)) == 1
    assert probe("listmember") == [] and probe("list") == []
    assert probe("contact", "UpsertMultiple") == []  # as documented: no rows for it
    aliased = api.get(base + "sdkmessagefilters?$select=sdkmessagefilterid&$filter=sdkmessageid"
                             "/name eq @message and primaryobjecttypecode eq @table"
                             "&@message='CreateMultiple'&@table='contact'").json()["value"]
    assert len(aliased) == 1 and "sdkmessagefilterid" in aliased[0]


def test_not_on_8_2(emulator) -> None:
    from requests_ntlm import HttpNtlmAuth

    from dynamics_emulator.testing import trusted_session
    s = trusted_session(emulator)
    s.auth = HttpNtlmAuth("FABRIKAM\\crmadmin", "Pass@word1")
    s.headers["Accept"] = "application/json"
    base = emulator.web_api_url("fabrikam")
    resp = s.post(base + "contacts/Microsoft.Dynamics.CRM.CreateMultiple",
                  json={"Targets": [{"@odata.type": CT, "lastname": "Old"}]})
    assert resp.status_code == 404 and resp.json()["error"]["code"] == "0x8006088a"
    probe = s.get(base + "sdkmessagefilters?$filter=sdkmessageid/name eq 'CreateMultiple' and "
                         "primaryobjecttypecode eq 'contact'")
    assert probe.json()["value"] == []
