"""QualifyLead, Merge and mailworx campaign distribution over real HTTPS."""

from __future__ import annotations

NS = "Microsoft.Dynamics.CRM."


def _new(api, base: str, set_name: str, body: dict) -> str:
    resp = api.post(base + set_name, json=body)
    assert resp.status_code == 204, resp.text
    return resp.headers["OData-EntityId"].rsplit("(", 1)[1].rstrip(")")


def test_qualify_lead(api, base) -> None:
    lead = _new(api, base, "leads", {"subject": "Interest", "firstname": "Lea", "lastname":
                                     "Lead", "companyname": "Lead GmbH",
                                     "emailaddress1": "lea@lead.example"})
    resp = api.post(base + f"leads({lead})/{NS}QualifyLead",
                    json={"CreateAccount": True, "CreateContact": True,
                          "CreateOpportunity": False, "Status": 3})
    assert resp.status_code == 200, resp.text
    created = resp.json()["value"]
    assert [c["@odata.type"] for c in created] == [f"#{NS}account", f"#{NS}contact"]
    contact = api.get(base + f"contacts({created[1]['contactid']})?$select=fullname,emailaddress1,"
                             "_parentcustomerid_value,_originatingleadid_value").json()
    assert contact["fullname"] == "Lea Lead" and contact["emailaddress1"] == "lea@lead.example"
    assert contact["_parentcustomerid_value"] == created[0]["accountid"]
    assert contact["_originatingleadid_value"] == lead
    got = api.get(base + f"leads({lead})?$select=statecode,statuscode").json()
    assert (got["statecode"], got["statuscode"]) == (1, 3)
    again = api.post(base + f"leads({lead})/{NS}QualifyLead",
                     json={"CreateContact": True, "Status": 3})
    assert again.status_code == 400


def test_merge_contacts(api, base) -> None:
    lists = api.get(base + "lists?$select=listid&$filter=createdfromcode eq 2 and lockstatus eq "
                           "false and type eq false").json()["value"]
    master = _new(api, base, "contacts", {"lastname": "Master", "emailaddress1": "m@x.example"})
    sub = _new(api, base, "contacts", {"lastname": "Sub", "emailaddress1": "s@x.example"})
    api.post(base + f"lists({lists[0]['listid']})/{NS}AddMemberList", json={"EntityId": sub})
    resp = api.post(base + "Merge", json={
        "Target": {"@odata.type": f"{NS}contact", "contactid": master},
        "Subordinate": {"@odata.type": f"{NS}contact", "contactid": sub},
        "UpdateContent": {"@odata.type": f"{NS}contact", "emailaddress2": "s@x.example"},
        "PerformParentingChecks": False})
    assert resp.status_code == 204, resp.text
    s = api.get(base + f"contacts({sub})?$select=statecode,merged,_masterid_value").json()
    assert (s["statecode"], s["merged"], s["_masterid_value"]) == (1, True, master)
    m = api.get(base + f"contacts({master})?$select=emailaddress2").json()
    assert m["emailaddress2"] == "s@x.example"
    members = api.get(base + f"lists({lists[0]['listid']})/listcontact_association"
                             f"?$select=contactid&$filter=contactid eq {master}").json()["value"]
    assert len(members) == 1
    again = api.post(base + "Merge", json={
        "Target": {"@odata.type": f"{NS}contact", "contactid": master},
        "Subordinate": {"@odata.type": f"{NS}contact", "contactid": sub},
        "PerformParentingChecks": False})
    assert again.status_code == 400
    mixed = api.post(base + "Merge", json={
        "Target": {"@odata.type": f"{NS}contact", "contactid": master},
        "Subordinate": {"@odata.type": f"{NS}account",
                        "accountid": api.get(base + "accounts?$top=1&$select=accountid")
                        .json()["value"][0]["accountid"]}})
    assert mixed.status_code == 400


def test_distribute_through_mailworx_channel(api, base) -> None:
    acts = api.get(base + "campaignactivities?$select=activityid,channeltypecode,"
                          "mwx_distributionrequested,mwx_takenoveron").json()["value"]
    other = next(a for a in acts if a["channeltypecode"] != 100000000)
    campaign = api.get(base + "campaigns?$select=campaignid&$top=1").json()["value"][0]
    act = _new(api, base, "campaignactivities", {
        "subject": "Newsletter Mai", "channeltypecode": 100000000,
        "regardingobjectid_campaign_campaignactivity@odata.bind":
            f"/campaigns({campaign['campaignid']})"})
    resp = api.post(base + "DistributeCampaignActivity",
                    json={"CampaignActivityId": act, "Propagate": True, "SendEmail": False})
    assert resp.status_code == 400 and resp.json()["error"]["code"] == "0x80048454"
    lst = api.get(base + "lists?$select=listid&$filter=mwx_syncwithmailworx eq true&$top=1"
                  ).json()["value"][0]["listid"]
    ref = api.post(base + f"campaignactivities({act})/campaignactivitylist_association/$ref",
                   json={"@odata.id": base + f"lists({lst})"})
    assert ref.status_code == 204
    resp = api.post(base + "DistributeCampaignActivity",
                    json={"CampaignActivityId": act, "Propagate": True, "SendEmail": False})
    assert resp.status_code == 200 and "BulkOperationId" in resp.json()
    got = api.get(base + f"campaignactivities({act})?$select=mwx_distributionrequested").json()
    assert got["mwx_distributionrequested"] is True
    assert other["mwx_distributionrequested"] in (False, None)
