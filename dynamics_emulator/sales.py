"""Messages a sync meets besides CRUD: QualifyLead, Merge, DistributeCampaignActivity.

Choices (README "Unconfirmed behaviour"): QualifyLead copies the lead's name, e-mail,
phone, job title, address and subscriber id; `CreateOpportunity: true` is refused
(the emulator has no opportunity table). Merge re-parents contacts of a merged account
and carries the subordinate's static list memberships over to the master.
DistributeCampaignActivity on the mailworx channel only sets `mwx_distributionrequested`
(docs/crm-solution.md §2); other channels create no activities here.
"""

from __future__ import annotations

import uuid
from typing import Any

from dynamics_emulator import lists, writes
from dynamics_emulator.http_types import DataverseError, Response, bad_request, not_found
from dynamics_emulator.orgs import Ctx
from dynamics_emulator.schema.model import Entity

NS = "Microsoft.Dynamics.CRM."
MAILWORX_CHANNEL = 100000000
_COPY = ("firstname", "lastname", "emailaddress1", "emailaddress2", "emailaddress3",
         "telephone1", "jobtitle", "address1_line1", "address1_city", "address1_postalcode",
         "address1_country", "donotbulkemail", "donotemail", "mwx_subscriberid")
MERGEABLE = ("account", "contact", "lead")


def _ref(ent: Entity, key: str) -> dict[str, Any]:
    return {"@odata.type": f"#{NS}{ent.name}", ent.primary_id: key}


def qualify_lead(ctx: Ctx, lead: dict[str, Any]) -> Response:
    body = ctx.request.json() or {}
    schema = ctx.org.schema
    lead_ent = schema.entity("lead")
    ctx.require("Write", lead_ent)
    if lead["statecode"] != 0:
        raise DataverseError(400, "0x80040203", "The lead is already closed. Only open leads "
                                                "can be qualified.")
    if body.get("CreateOpportunity"):
        raise bad_request("CreateOpportunity is not supported by this emulator (no "
                          "opportunity table).")
    status = int(body.get("Status", 3))
    created: list[dict[str, Any]] = []
    lead_changes: dict[str, Any] = {"statecode": 1, "statuscode": status}
    account_id: str | None = None
    lead_ref = f"/leads({lead['leadid']})"
    if body.get("CreateAccount") and lead.get("companyname"):
        acc_ent = schema.entity("account")
        acc = writes.create(ctx, acc_ent, {
            "name": lead["companyname"], "originatingleadid@odata.bind": lead_ref,
            **{k: lead[k] for k in ("emailaddress1", "telephone1", "address1_line1",
                                    "address1_city", "address1_postalcode",
                                    "address1_country") if lead.get(k) is not None}})
        account_id = acc["accountid"]
        created.append(_ref(acc_ent, account_id))
        lead_changes["parentaccountid@odata.bind"] = f"/accounts({account_id})"
    if body.get("CreateContact"):
        con_ent = schema.entity("contact")
        data = {k: bool(lead[k]) if k.startswith("donot") else lead[k]
                for k in _COPY if lead.get(k) is not None}
        data["originatingleadid@odata.bind"] = lead_ref
        if account_id:
            data["parentcustomerid_account@odata.bind"] = f"/accounts({account_id})"
        con = writes.create(ctx, con_ent, data)
        created.append(_ref(con_ent, con["contactid"]))
        lead_changes["parentcontactid@odata.bind"] = f"/contacts({con['contactid']})"
    writes.update(ctx, lead_ent, lead, lead_changes)
    return Response.json({"@odata.context": f"{ctx.base_url}$metadata#Collection({NS}"
                                            f"crmbaseentity)", "value": created})


def _load(ctx: Ctx, ref: Any, what: str) -> tuple[Entity, dict[str, Any]]:
    if not isinstance(ref, dict):
        raise bad_request(f"Request message has unresolved parameters: {what}.")
    name = str(ref.get("@odata.type", "")).lstrip("#").removeprefix(NS)
    if name not in MERGEABLE:
        raise bad_request(f"Merge is not supported for entity '{name}'.", "0x80040203")
    ent = ctx.org.schema.entity(name)
    key = str(ref.get(ent.primary_id) or "").lower()
    row = ctx.org.store.get(ent, key)
    if row is None:
        raise not_found(ent.name, key)
    return ent, row


def merge(ctx: Ctx) -> Response:
    body = ctx.request.json() or {}
    ent, master = _load(ctx, body.get("Target"), "Target")
    sub_ent, sub = _load(ctx, body.get("Subordinate"), "Subordinate")
    if sub_ent is not ent:
        raise bad_request("The master and subordinate records must be of the same entity type.",
                          "0x80040203")
    pk = ent.primary_id
    if master[pk] == sub[pk]:
        raise bad_request("The master and subordinate records cannot be the same.", "0x80040203")
    if sub.get("merged"):
        raise bad_request("The subordinate record has already been merged.", "0x80040203")
    ctx.require("Write", ent)
    store = ctx.org.store
    content = {k: v for k, v in (body.get("UpdateContent") or {}).items()
               if not k.startswith("@") and k != pk}
    if content:
        master = writes.update(ctx, ent, master, content)
    if ent.name == "account":
        contact_ent = ctx.org.schema.entity("contact")
        for child in store.fetch("SELECT * FROM contact WHERE parentcustomerid = ?", (sub[pk],)):
            writes.update(ctx, contact_ent, child,
                          {"parentcustomerid_account@odata.bind": f"/accounts({master[pk]})"})
    for row in store.fetch("SELECT listid FROM listmember WHERE entityid = ?", (sub[pk],)):
        lst = lists.load_list(ctx, row["listid"])
        if not lst["lockstatus"]:
            lists.add_member(ctx, lst, master[pk])
    inactive = {"account": (1, 2), "contact": (1, 2), "lead": (2, 7)}[ent.name]
    writes.update(ctx, ent, sub, {"statecode": inactive[0], "statuscode": inactive[1]})
    store.update(ent, sub[pk], {"masterid": master[pk], "masterid_t": ent.name, "merged": 1,
                                "versionnumber": store.next_version()})
    return Response.empty(204)


def distribute(ctx: Ctx) -> Response:
    body = ctx.request.json() or {}
    ent = ctx.org.schema.entity("campaignactivity")
    key = str(body.get("CampaignActivityId") or "").lower()
    row = ctx.org.store.get(ent, key)
    if row is None:
        raise not_found(ent.name, key)
    linked = ctx.org.store.scalar("SELECT COUNT(*) FROM campaignactivityitem WHERE "
                                  "campaignactivityid = ?", (key,))
    if not linked:
        raise bad_request("The campaign activity has no marketing lists associated with it.",
                          "0x80048454")
    if row["channeltypecode"] == MAILWORX_CHANNEL and not row["mwx_takenoveron"]:
        writes.update(ctx, ent, row, {"mwx_distributionrequested": True})
    return Response.json({"@odata.context": f"{ctx.base_url}$metadata#{NS}"
                                            f"DistributeCampaignActivityResponse",
                          "BulkOperationId": str(uuid.uuid4())})
