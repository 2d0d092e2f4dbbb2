"""The standard task activity through the Web API (docs/dataverse-webapi.md §Tasks)."""

from __future__ import annotations

import requests

ANN = {"Prefer": 'odata.include-annotations="*"'}


def _first(api: requests.Session, base: str, entity_set: str, key: str) -> str:
    return str(api.get(f"{base}{entity_set}?$select={key}&$top=1", timeout=10)
               .json()["value"][0][key])


def test_task_create_read_update_delete(api: requests.Session, base: str) -> None:
    contact = _first(api, base, "contacts", "contactid")
    created = api.post(base + "tasks?$select=subject,statecode,statuscode,activitytypecode,"
                       "_regardingobjectid_value,_ownerid_value,scheduledend",
                       json={"subject": "Rückruf", "description": "Wegen Newsletter",
                             "scheduledend": "2025-03-01T10:00:00Z", "prioritycode": 2,
                             "regardingobjectid_contact_task@odata.bind":
                                 f"/contacts({contact})"},
                       headers={"Prefer": "return=representation"}, timeout=10)
    assert created.status_code == 201, created.text
    task = created.json()
    task_id = task["activityid"]
    assert task["statecode"] == 0 and task["statuscode"] == 2  # Open / Not Started
    assert task["activitytypecode"] == "task"
    assert task["_regardingobjectid_value"] == contact and task["_ownerid_value"]
    assert task["scheduledend"] == "2025-03-01T10:00:00Z"

    read = api.get(f"{base}tasks({task_id})?$select=subject,_regardingobjectid_value"
                   "&$expand=regardingobjectid_contact_task($select=fullname)",
                   headers=ANN, timeout=10).json()
    assert read["_regardingobjectid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "contact"
    assert read["regardingobjectid_contact_task"]["contactid"] == contact

    lead = _first(api, base, "leads", "leadid")
    assert api.patch(f"{base}tasks({task_id})",
                     json={"regardingobjectid_lead_task@odata.bind": f"/leads({lead})",
                           "statecode": 1, "statuscode": 5}, timeout=10).status_code == 204
    done = api.get(f"{base}tasks({task_id})?$select=statecode,statuscode,"
                   "_regardingobjectid_value", headers=ANN, timeout=10).json()
    assert (done["statecode"], done["statuscode"]) == (1, 5)
    assert done["statuscode@OData.Community.Display.V1.FormattedValue"] == "Completed"
    assert done["_regardingobjectid_value"] == lead
    listed = api.get(f"{base}tasks?$select=subject&$filter=_regardingobjectid_value eq {lead}",
                     timeout=10).json()["value"]
    assert [t["subject"] for t in listed] == ["Rückruf"]

    bad = api.patch(f"{base}tasks({task_id})", json={"statecode": 0, "statuscode": 5},
                    timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "0x80040278"
    assert api.delete(f"{base}tasks({task_id})", timeout=10).status_code == 204
    assert api.get(f"{base}tasks({task_id})", timeout=10).status_code == 404


def test_task_metadata_and_wrong_regarding_target(api: requests.Session, base: str) -> None:
    meta = api.get(base + "EntityDefinitions(LogicalName='task')?$select=LogicalName,"
                   "EntitySetName,IsActivity,PrimaryIdAttribute", timeout=10).json()
    assert (meta["EntitySetName"], meta["IsActivity"], meta["PrimaryIdAttribute"]) == \
        ("tasks", True, "activityid")
    user = _first(api, base, "systemusers", "systemuserid")
    resp = api.post(base + "tasks", json={"subject": "x", "regardingobjectid_contact_task"
                                          "@odata.bind": f"/systemusers({user})"}, timeout=10)
    assert resp.status_code == 400
