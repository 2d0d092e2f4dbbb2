"""Customer Insights – Journeys consent tables: in contoso only (docs/crm-solution.md §7)."""

from __future__ import annotations

import requests
from requests_ntlm import HttpNtlmAuth

from dynamics_emulator import EmulatorServer
from dynamics_emulator.seed import LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET
from dynamics_emulator.testing import trusted_session, web_api_session

TABLE = "msdynmkt_contactpointconsent4"
SET = "msdynmkt_contactpointconsent4s"
EMAIL, OPTED_IN, OPTED_OUT, PURPOSE_LEVEL = 534120000, 534120001, 534120002, 534120000


def _commercial(api: requests.Session, base: str) -> str:
    rows = api.get(f"{base}msdynmkt_purposes?$select=msdynmkt_name&$filter=msdynmkt_type eq "
                   "534120000 and statecode eq 0", timeout=10).json()["value"]
    assert [r["msdynmkt_name"] for r in rows] == ["Commercial communications"]
    return str(rows[0]["msdynmkt_purposeid"])


def _consent(purpose: str, address: str, value: int) -> dict[str, object]:
    return {"msdynmkt_contactpointvalue": address, "msdynmkt_contactpointtype": EMAIL,
            "msdynmkt_value": value, "msdynmkt_contactpointconsenttype": PURPOSE_LEVEL,
            "msdynmkt_source": 534120000, "msdynmkt_logicalreason": 534119999,
            "msdynmkt_reason": "test", "msdynmkt_purposeId@odata.bind":
                f"/msdynmkt_purposes({purpose})"}


def test_the_table_and_its_choices_are_in_the_metadata(api: requests.Session,
                                                       base: str) -> None:
    found = api.get(f"{base}EntityDefinitions?$select=LogicalName,EntitySetName,"
                    f"PrimaryNameAttribute,ChangeTrackingEnabled&$filter=LogicalName eq '{TABLE}'",
                    timeout=10).json()["value"]
    assert [(f["EntitySetName"], f["PrimaryNameAttribute"], f["ChangeTrackingEnabled"])
            for f in found] == [(SET, "msdynmkt_contactpointvalue", True)]
    url = (f"{base}EntityDefinitions(LogicalName='{TABLE}')/Attributes(LogicalName="
           "'msdynmkt_value')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$expand=OptionSet")
    options = api.get(url, timeout=10).json()["OptionSet"]["Options"]
    assert {o["Value"]: o["Label"]["UserLocalizedLabel"]["Label"] for o in options} == {
        534120000: "Not Set", OPTED_IN: "Opted In", OPTED_OUT: "Opted Out"}
    navs = api.get(f"{base}EntityDefinitions(LogicalName='{TABLE}')/ManyToOneRelationships",
                   timeout=10).json()["value"]
    assert {"msdynmkt_purposeId", "msdynmkt_topicId"} <= {
        n["ReferencingEntityNavigationPropertyName"] for n in navs}


def test_consent_rows_are_written_and_found_by_address(api: requests.Session,
                                                       base: str) -> None:
    purpose = _commercial(api, base)
    created = api.post(f"{base}{SET}", json=_consent(purpose, "Ann@Example.com", OPTED_IN),
                       timeout=10)
    assert created.status_code == 204, created.text
    row_url = created.headers["OData-EntityId"]
    api.patch(row_url, json={"msdynmkt_value": OPTED_OUT}, headers={"If-Match": "*"},
              timeout=10).raise_for_status()
    flt = ('Microsoft.Dynamics.CRM.In(PropertyName=\'msdynmkt_contactpointvalue\','
           'PropertyValues=["ann@example.com","bob@example.com"]) and '
           f"_msdynmkt_purposeid_value eq {purpose} and _msdynmkt_topicid_value eq null")
    rows = api.get(f"{base}{SET}", params={"$filter": flt, "$select":
                   "msdynmkt_contactpointvalue,msdynmkt_value,_msdynmkt_purposeid_value"},
                   timeout=10).json()["value"]
    # Text follows the organisation's case-insensitive collation, as on real orgs.
    assert [(r["msdynmkt_contactpointvalue"], r["msdynmkt_value"]) for r in rows] == \
        [("Ann@Example.com", OPTED_OUT)]
    assert rows[0]["_msdynmkt_purposeid_value"] == purpose


def test_the_lookup_binds_only_under_its_navigation_name(api: requests.Session,
                                                         base: str) -> None:
    purpose = _commercial(api, base)
    body = _consent(purpose, "x@example.com", OPTED_IN)
    body["msdynmkt_purposeid@odata.bind"] = body.pop("msdynmkt_purposeId@odata.bind")
    assert api.post(f"{base}{SET}", json=body, timeout=10).status_code == 400
    body = _consent(purpose, "x@example.com", 7)
    assert api.post(f"{base}{SET}", json=body, timeout=10).status_code == 400


def test_bulk_create_and_the_connector_user_role(emulator: EmulatorServer, base: str) -> None:
    limited = web_api_session(emulator, client_id=LIMITED_CLIENT_ID,
                              secret=LIMITED_CLIENT_SECRET)
    purpose = _commercial(limited, base)
    targets = [{**_consent(purpose, f"p{i}@example.com", OPTED_OUT),
                "@odata.type": f"Microsoft.Dynamics.CRM.{TABLE}"} for i in range(3)]
    resp = limited.post(f"{base}{SET}/Microsoft.Dynamics.CRM.CreateMultiple",
                        json={"Targets": targets}, timeout=10)
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["Ids"]) == 3
    # The limited connector role writes consent but may not delete it.
    assert limited.delete(f"{base}{SET}({resp.json()['Ids'][0]})",
                          timeout=10).status_code == 403


def test_an_organisation_without_journeys_has_no_such_table(emulator: EmulatorServer) -> None:
    http = trusted_session(emulator)
    http.auth = HttpNtlmAuth("FABRIKAM\\crmadmin", "Pass@word1")
    base = emulator.web_api_url("fabrikam")
    found = http.get(f"{base}EntityDefinitions?$select=LogicalName&$filter=LogicalName eq "
                     f"'{TABLE}'", timeout=10)
    assert found.status_code == 200 and found.json()["value"] == []
    missing = http.get(f"{base}{SET}", timeout=10)
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == f"Resource not found for the segment '{SET}'."
    assert http.get(f"{base}EntityDefinitions(LogicalName='{TABLE}')",
                    timeout=10).status_code == 404
