"""WhoAmI, RetrieveVersion, privileges and roles of a user."""

from __future__ import annotations

import requests

from dynamics_emulator import EmulatorServer
from dynamics_emulator.credentials import CLIENT_ID


def test_whoami_matches_microsoft_example(api: requests.Session, base: str) -> None:
    resp = api.get(base + "WhoAmI", timeout=10)
    assert resp.status_code == 200
    assert resp.headers["OData-Version"] == "4.0"
    body = resp.json()
    assert list(body) == ["@odata.context", "BusinessUnitId", "UserId", "OrganizationId"]
    assert body["@odata.context"] == base + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse"
    user = api.get(f"{base}systemusers({body['UserId']})?$select=applicationid,"
                   "_businessunitid_value", timeout=10).json()
    assert user["applicationid"] == CLIENT_ID
    assert user["_businessunitid_value"] == body["BusinessUnitId"]
    assert user["ownerid"] == body["UserId"]
    assert api.get(base + "WhoAmI()", timeout=10).json()["UserId"] == body["UserId"]


def test_retrieve_version_per_org(emulator: EmulatorServer, api: requests.Session,
                                  base: str) -> None:
    body = api.get(base + "RetrieveVersion()", timeout=10).json()
    assert body["Version"].startswith("9.2.")
    assert body["@odata.context"].endswith("#Microsoft.Dynamics.CRM.RetrieveVersionResponse")


def test_user_privileges_and_roles(api: requests.Session, base: str) -> None:
    me = api.get(base + "WhoAmI", timeout=10).json()["UserId"]
    privs = api.get(f"{base}systemusers({me})/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()",
                    timeout=10).json()["RolePrivileges"]
    names = {p["PrivilegeName"] for p in privs}
    assert {"prvReadContact", "prvWriteContact", "prvCreatemwx_emailreaction",
            "prvAppendToList"} <= names
    assert all(p["Depth"] == "Global" for p in privs)
    roles = api.get(f"{base}systemusers({me})/systemuserroles_association?$select=name",
                    timeout=10).json()["value"]
    assert [r["name"] for r in roles] == ["mailworx Administrator"]
    with_privs = api.get(f"{base}roles({roles[0]['roleid']})?$select=name&$expand="
                         "roleprivileges_association($select=name)", timeout=10).json()
    assert "prvReadContact" in {p["name"] for p in with_privs["roleprivileges_association"]}
    all_roles = {r["name"] for r in api.get(base + "roles?$select=name", timeout=10)
                 .json()["value"]}
    assert {"mailworx User", "mailworx Administrator"} <= all_roles


def test_v82_org_version_and_no_change_tracking(emulator: EmulatorServer) -> None:
    from requests_ntlm import HttpNtlmAuth

    from dynamics_emulator.testing import trusted_session
    http = trusted_session(emulator)
    http.auth = HttpNtlmAuth("FABRIKAM\\crmadmin", "Pass@word1")
    base = emulator.web_api_url("fabrikam")
    assert http.get(base + "RetrieveVersion()", timeout=10).json()["Version"] == "8.2.2.112"
    md = http.get(base + "EntityDefinitions(LogicalName='contact')?$select=ChangeTrackingEnabled",
                  timeout=10).json()
    assert md["ChangeTrackingEnabled"] is False
    assert http.get(emulator.web_api_url("fabrikam", "v9.0") + "WhoAmI()",
                    timeout=10).status_code == 404
    created = http.post(base + "contacts?$select=fullname", json={"lastname": "Onprem"},
                        headers={"Prefer": "return=representation"}, timeout=10)
    assert created.status_code == 201 and created.json()["fullname"] == "Onprem"
