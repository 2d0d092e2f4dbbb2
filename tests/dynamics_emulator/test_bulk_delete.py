"""The BulkDelete action and the system job it creates (docs/dataverse-webapi.md §Bulk delete)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import requests

from dynamics_emulator import EmulatorServer
from dynamics_emulator.clock import fmt_dt
from dynamics_emulator.seed import LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET
from dynamics_emulator.testing import web_api_session


def _request(job: str, conditions: list[dict[str, Any]], start: str | None = None
             ) -> dict[str, Any]:
    body: dict[str, Any] = {
        "QuerySet": [{"@odata.type": "Microsoft.Dynamics.CRM.QueryExpression",
                      "EntityName": "contact", "ColumnSet": {"AllColumns": True},
                      "Distinct": False,
                      "Criteria": {"FilterOperator": "And", "Conditions": conditions}}],
        "JobName": job, "SendEmailNotification": False, "ToRecipients": [],
        "CCRecipients": [], "RecurrencePattern": ""}
    if start:
        body["StartDateTime"] = start
    return body


GONE = [{"AttributeName": "lastname", "Operator": "Equal",
         "Values": [{"Value": "BULK GONE", "Type": "System.String"}]}]


def _seed(api: requests.Session, base: str) -> None:
    for last in ("Bulk Gone", "Bulk Gone", "bulk gone", "Bulk Keep"):
        assert api.post(base + "contacts", json={"lastname": last}, timeout=10).ok


def _left(api: requests.Session, base: str) -> list[str]:
    rows = api.get(base + "contacts?$select=lastname&$filter=startswith(lastname,'Bulk')",
                   timeout=10).json()["value"]
    return sorted(r["lastname"] for r in rows)


def test_bulk_delete_runs_a_system_job(api: requests.Session, base: str) -> None:
    _seed(api, base)
    resp = api.post(base + "BulkDelete", json=_request("Alte Kontakte", GONE), timeout=10)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse")
    job = body["JobId"]
    assert _left(api, base) == ["Bulk Keep"]
    op = api.get(f"{base}asyncoperations({job})?$select=name,operationtype,statecode,"
                 "statuscode,completedon", timeout=10).json()
    assert (op["name"], op["operationtype"], op["statecode"], op["statuscode"]) == \
        ("Alte Kontakte", 13, 3, 30)
    assert op["completedon"]
    bdo = api.get(f"{base}bulkdeleteoperations?$select=successcount,failurecount,statecode"
                  f"&$filter=_asyncoperationid_value eq {job}", timeout=10).json()["value"]
    assert [(b["successcount"], b["failurecount"], b["statecode"]) for b in bdo] == [(3, 0, 3)]


def test_bulk_delete_with_a_later_start_waits(emulator: EmulatorServer, api: requests.Session,
                                              plain: requests.Session, base: str) -> None:
    _seed(api, base)
    start = fmt_dt(emulator.emulator.clock.now() + timedelta(seconds=60))
    job = api.post(base + "BulkDelete", json=_request("Später", GONE, start),
                   timeout=10).json()["JobId"]
    waiting = api.get(f"{base}asyncoperations({job})?$select=statecode,statuscode",
                      timeout=10).json()
    assert (waiting["statecode"], waiting["statuscode"]) == (1, 10)
    assert len(_left(api, base)) == 4
    assert plain.post(emulator.base_url + "/_admin/clock", json={"offset_seconds": 120},
                      timeout=10).ok
    done = api.get(f"{base}asyncoperations({job})?$select=statecode,statuscode",
                   timeout=10).json()
    assert (done["statecode"], done["statuscode"]) == (3, 30)
    assert _left(api, base) == ["Bulk Keep"]


def test_bulk_delete_operators_and_errors(emulator: EmulatorServer, api: requests.Session,
                                          base: str) -> None:
    _seed(api, base)
    begins = [{"AttributeName": "lastname", "Operator": "BeginsWith", "Values": ["bulk"]},
              {"AttributeName": "lastname", "Operator": "NotEqual", "Values": ["Bulk Keep"]}]
    assert api.post(base + "BulkDelete", json=_request("b", begins), timeout=10).ok
    assert _left(api, base) == ["Bulk Keep"]
    unknown = [{"AttributeName": "nosuch", "Operator": "Equal", "Values": ["x"]}]
    assert api.post(base + "BulkDelete", json=_request("x", unknown),
                    timeout=10).status_code == 400
    no_name = _request("x", GONE)
    del no_name["JobName"]
    assert api.post(base + "BulkDelete", json=no_name, timeout=10).status_code == 400
    assert api.get(base + "BulkDelete", timeout=10).status_code == 404
    limited = web_api_session(emulator, client_id=LIMITED_CLIENT_ID, secret=LIMITED_CLIENT_SECRET)
    denied = limited.post(base + "BulkDelete", json=_request("x", GONE), timeout=10)
    assert denied.status_code == 403 and denied.json()["error"]["code"] == "0x80042f09"
