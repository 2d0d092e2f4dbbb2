"""Seeding for ``chaos.py``: on top of ``sync_seed`` (tenant, two synced groups, names and
company mapped, subscribers with 2 % duplicate addresses) an option set, a lookup and the
language mapping with CRM values to carry, a marked static marketing list, reactions for
linked subscribers in a fixed order, and the changes on both sides between runs."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sync_bench_emulator import Emulator

SALUTATIONS = {100000000: "mr", 100000001: "ms", 100000002: "dr", 100000003: "diverse"}
LANGUAGES = {1: "de", 2: "en"}  # the emulator's contact has no language column: a stand-in
LIST_NAME = "Chaos VIP"


def seed_mappings(tenant: Any) -> None:
    from audience.models import FieldType, SubscriberField, SubscriberFieldOption
    from businessunits.models import BusinessUnit
    from fieldmapping.models import CrmAttribute
    from fieldmapping.services import MappingInput, save_mapping

    unit = BusinessUnit.objects.get(tenant=tenant, is_default=True)
    salutation = SubscriberField.objects.create(
        tenant=tenant, key="salutation", label_en="Salutation", label_de="Anrede",
        field_type=FieldType.SINGLE_SELECT)
    for value in SALUTATIONS.values():
        SubscriberFieldOption.objects.create(field=salutation, value=value, label_en=value,
                                             label_de=value)
    fields = {f.key: f for f in SubscriberField.objects.filter(tenant=tenant)}

    def attr(entity: str, name: str) -> CrmAttribute:
        return CrmAttribute.objects.get(tenant=tenant, entity=entity, logical_name=name)

    def options(field: Any, values: dict[int, str]) -> dict[int, Any]:
        return {code: field.options.get(value=value) for code, value in values.items()}

    save_mapping(unit, "contact", MappingInput(
        attr("contact", "mwx_salutation"), fields["salutation"],
        option_map=options(fields["salutation"], SALUTATIONS)))
    save_mapping(unit, "contact", MappingInput(
        attr("contact", "gendercode"), fields["language"],
        option_map=options(fields["language"], LANGUAGES)))
    # A lookup (CRM → mailworx only): the contact's company is its parent account's name.
    # Contacts get the company from their account; accounts keep their own name mapping.
    save_mapping(unit, "contact", MappingInput(
        attr("contact", "parentcustomerid"), fields["company"], attr("account", "name")))


def seed_crm_values(emu: Emulator, tenant: Any) -> dict[str, int]:
    """Every fourth contact gets a salutation, a language and a parent account; a marked
    static list holds every 50th contact. One UpdateMultiple per 1,000, as an import would."""
    from orgsettings.connection import client_for

    contacts = emu.dump("contacts")
    accounts = [a["accountid"] for a in emu.dump("accounts")]
    updates = []
    for i, row in enumerate(contacts):
        if i % 4 == 1:
            updates.append({
                "contactid": row["contactid"],
                "mwx_salutation": list(SALUTATIONS)[i % 4],
                "gendercode": 1 + i % 2,
                "parentcustomerid_account@odata.bind": f"/accounts({accounts[i % len(accounts)]})",
            })
    members = [row["contactid"] for i, row in enumerate(contacts) if i % 50 == 7]
    with client_for(tenant) as client:
        ok = sum(r.ok for r in client.update_multiple("contacts", "contact", updates))
        list_id = client.create("lists", {"listname": LIST_NAME, "type": False,
                                          "createdfromcode": 2, "mwx_syncwithmailworx": True})
        for start in range(0, len(members), 500):
            client.call_action("AddListMembersList", {
                "List": {"@odata.type": "Microsoft.Dynamics.CRM.list", "listid": list_id},
                "Members": [{"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": m}
                            for m in members[start:start + 500]]})
    return {"contacts_with_values": ok, "list_members": len(members)}


def seed_reactions(tenant: Any, news: Any, n: int, *, offset: int = 0,
                   campaigns: int = 3) -> int:
    """``n`` reactions of linked subscribers, chosen in address order (so the reference and
    the chaos run pick the same people); ``offset`` keeps event ids unique across calls."""
    from audience.campaigns import create_campaign
    from audience.models import Campaign, Subscriber
    from audience.reactions import record_reactions
    from businessunits.models import BusinessUnit

    unit = BusinessUnit.objects.get(tenant=tenant, is_default=True)
    ids = list(Subscriber.objects.live().filter(tenant=tenant, crm_links__state="active")
               .order_by("email_normalised", "pk").values_list("pk", flat=True).distinct())
    at = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)
    existing = list(Campaign.objects.filter(tenant=tenant).order_by("pk"))
    made = [create_campaign(tenant, f"Chaos {k}", group=news, business_unit=unit, sent_at=at,
                            recipients=len(ids)) for k in range(len(existing), campaigns)]
    pool = existing + made
    kinds = ["open", "open", "click", "open", "bounce"]
    items = []
    for i in range(offset, offset + n):
        kind = kinds[i % len(kinds)]
        items.append({"source_event_id": f"chaos-{i}", "kind": kind,
                      "subscriber_id": ids[(i * 7) % len(ids)],
                      "campaign_id": pool[i % len(pool)].pk,
                      "occurred_at": at + dt.timedelta(seconds=i),
                      "url": f"https://example.com/offer/{i % 5}" if kind == "click" else "",
                      "bounce_type": "soft" if kind == "bounce" else ""})
    created = 0
    for start in range(0, len(items), 5000):
        created += sum(1 for r in record_reactions(tenant, items[start:start + 5000])
                       if r.outcome == "created")
    return created


def add_subscribers(tenant: Any, news: Any, n: int) -> int:
    """New subscribers between the runs, through the service (as an import would)."""
    from audience.subscribers import bulk_upsert

    results = bulk_upsert(tenant, [{"email": f"late{i}@chaos.example", "first_name": f"Late{i}",
                                    "last_name": "Chaos"} for i in range(n)], group=news)
    return sum(1 for r in results if r.outcome == "created")
