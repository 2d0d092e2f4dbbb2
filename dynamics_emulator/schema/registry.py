"""The set of entities one organisation has, looked up by logical or entity set name."""

from __future__ import annotations

from dynamics_emulator.schema import activities, crm, journeys, marketing, security
from dynamics_emulator.schema.model import Entity


class Schema:
    def __init__(self, entities: list[Entity]) -> None:
        self.by_name = {e.name: e for e in entities}
        self.by_set = {e.set_name: e for e in entities}

    def entity(self, name: str) -> Entity:
        return self.by_name[name]

    def by_set_name(self, set_name: str) -> Entity | None:
        return self.by_set.get(set_name)


def build_schema(change_tracking: bool, journeys_consent: bool = False) -> Schema:
    """``journeys_consent``: the organisation has Customer Insights – Journeys installed,
    so its consent tables exist (docs/crm-solution.md §7)."""
    entities = [
        crm.contact(), crm.account(), crm.lead(), marketing.marketing_list(),
        marketing.list_member(), marketing.campaign(), marketing.campaign_activity(),
        marketing.email_reaction(), security.system_user(), security.team(),
        security.business_unit(), security.role(), security.privilege(),
        activities.task(), activities.async_operation(), activities.bulk_delete_operation(),
        *(journeys.journeys_entities() if journeys_consent else []),
    ]
    for ent in entities:
        # 8.x orgs get no change tracking (part 2 implements delta links for 9.x only).
        tracked = ent.name in {"contact", "account", "lead", "list", "listmember",
                               "campaign", "campaignactivity", "mwx_emailreaction",
                               journeys.CONSENT}
        ent.change_tracking = change_tracking and tracked
    # contacts can reach their lists over the same N:N relationship name as lists do.
    by_name = {e.name: e for e in entities}
    for rel, other in (("listcontact_association", "contact"),
                       ("listaccount_association", "account"),
                       ("listlead_association", "lead")):
        by_name[other].many[rel] = marketing.ManyToMany(rel, "listmember", "entityid", "listid",
                                                        "list")
    return Schema(entities)
