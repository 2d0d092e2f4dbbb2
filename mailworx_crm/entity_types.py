"""The CRM tables subscribers are synced with — contact, account, lead — and everything the
product needs to know about each: its Web API entity set, its primary key, its rank when
several records carry one address (S7), the state pair that reactivates it (S8) and its
marketing-list member type code. The one source of truth for this vocabulary: models'
choices, the attribute pull, the API and the sync engine all import it from here.

Facts: docs/dataverse-webapi.md §Tables and keys, §State, §Marketing lists.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils.translation import gettext_lazy as _


class EntityType(models.TextChoices):
    """Declared in S7's match order: contact before account before lead."""

    CONTACT = "contact", _("Contact")
    ACCOUNT = "account", _("Account")
    LEAD = "lead", _("Lead")


# Every synced table, in S7's match order.
ENTITY_TYPES: tuple[str, ...] = tuple(EntityType.values)
# S7: the lower, the better a match among records with the same address.
MATCH_RANK: dict[str, int] = {entity: rank for rank, entity in enumerate(ENTITY_TYPES)}

# statecode of a qualified lead (S2/S8: it lives on as the contact/account it became).
LEAD_QUALIFIED = 1
# Reactivation pairs (statecode, statuscode) per table.
ACTIVE_STATES: dict[str, tuple[int, int]] = {"contact": (0, 1), "account": (0, 1),
                                             "lead": (0, 1)}

# Dataverse marketing list ``createdfromcode`` ↔ the member table (docs/crm-solution.md §1).
MEMBER_TYPE_CODES: dict[int, str] = {1: "account", 2: "contact", 4: "lead"}
MEMBER_TYPE_OF: dict[str, int] = {entity: code for code, entity in MEMBER_TYPE_CODES.items()}


def entity_set(entity: str) -> str:
    """A table's Web API collection by Dataverse's plural rule: ``contacts``, and for lookup
    targets ``systemusers``, ``territories``."""
    return entity[:-1] + "ies" if entity.endswith("y") else entity + "s"


def primary_key(entity: str) -> str:
    return f"{entity}id"


def is_qualified_lead(entity: str, row: dict[str, Any]) -> bool:
    return entity == EntityType.LEAD and row.get("statecode") == LEAD_QUALIFIED
