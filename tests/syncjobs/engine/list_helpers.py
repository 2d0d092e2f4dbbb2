"""CRM-side helpers for the lists tests: make lists and records, read members."""

from __future__ import annotations

from typing import Any

from audience.groups import add_members
from audience.models import Subscriber, SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics import DataverseClient

CODES = {"account": 1, "contact": 2, "lead": 4}


def record(client: DataverseClient, email: str, entity: str = "contact", **extra: Any) -> str:
    body: dict[str, Any] = {"emailaddress1": email, **extra}
    if entity == "account":
        body.setdefault("name", email.split("@")[0])
    else:
        body.setdefault("lastname", email.split("@")[0])
    if entity == "lead":
        body.setdefault("subject", "Interest")
    return client.create(f"{entity}s", body)


def add_to_list(client: DataverseClient, list_id: str, ids: list[str],
                entity: str = "contact") -> None:
    client.call_action("AddListMembersList", {
        "List": {"@odata.type": "Microsoft.Dynamics.CRM.list", "listid": list_id},
        "Members": [{"@odata.type": f"Microsoft.Dynamics.CRM.{entity}", f"{entity}id": i}
                    for i in ids]})


def remove_from_list(client: DataverseClient, list_id: str, member: str) -> None:
    client.call_action(f"lists({list_id})/Microsoft.Dynamics.CRM.RemoveMemberList",
                       {"EntityId": member})


def make_list(client: DataverseClient, name: str, members: list[str], *,
              entity: str = "contact", marked: bool = True) -> str:
    list_id = client.create("lists", {"listname": name, "type": False,
                                      "createdfromcode": CODES[entity],
                                      "mwx_syncwithmailworx": marked})
    if members:
        add_to_list(client, list_id, members, entity)
    return list_id


def crm_members(client: DataverseClient, list_id: str, entity: str = "contact") -> set[str]:
    return {str(row[f"{entity}id"]) for row in client.query(
        f"lists({list_id})/list{entity}_association", select=[f"{entity}id"])}


def crm_list(client: DataverseClient, list_id: str) -> dict[str, Any]:
    return client.get("lists", list_id)


def lists_named(client: DataverseClient, name: str) -> list[dict[str, Any]]:
    return [row for row in client.query("lists", filter="type eq false")
            if row["listname"] == name]


def group_emails(group: SubscriberGroup) -> set[str]:
    return set(Subscriber.objects.live().filter(memberships__group=group)
               .values_list("email_normalised", flat=True))


def s6_group(group: SubscriberGroup, dv: DataverseClient) -> dict[str, str]:
    """Group members that match a contact, a lead and nothing (created as contacts)."""
    ids = {"contact": record(dv, "c@s6.example"),
           "lead": record(dv, "l@s6.example", "lead")}
    subs = [create_subscriber(group.tenant, {"email": e}) for e in
            ("c@s6.example", "l@s6.example", "new@s6.example")]
    add_members(group, [s.pk for s in subs])
    return ids
