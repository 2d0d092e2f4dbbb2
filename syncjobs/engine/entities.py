"""CRM tables the engine syncs, their keys and state codes (docs/dataverse-webapi.md §State)."""

from __future__ import annotations

from typing import Any

ENTITY_TYPES = ("contact", "account", "lead")
# S7: where several records carry an address, the best match is contact, account, lead.
MATCH_RANK = {"contact": 0, "account": 1, "lead": 2}
ENTITY_SETS = {"contact": "contacts", "account": "accounts", "lead": "leads"}

# Columns every read of a synced record needs besides the mapped ones.
BASE_COLUMNS = ("emailaddress1", "statecode", "statuscode", "donotbulkemail", "modifiedon",
                "versionnumber", "_masterid_value", "merged")

LEAD_QUALIFIED = 1
# Reactivation pairs (statecode, statuscode): Active / lead Open-New.
ACTIVE_STATE = {"contact": (0, 1), "account": (0, 1), "lead": (0, 1)}


def entity_set(entity: str) -> str:
    if entity in ENTITY_SETS:
        return ENTITY_SETS[entity]
    return entity[:-1] + "ies" if entity.endswith("y") else entity + "s"


def primary_key(entity: str) -> str:
    return f"{entity}id"


def row_id(entity: str, row: dict[str, Any]) -> str:
    return str(row.get(primary_key(entity), "")).lower()


def is_qualified_lead(entity: str, row: dict[str, Any]) -> bool:
    """S2/S8: a qualified lead lives on as the contact/account it became."""
    return entity == "lead" and row.get("statecode") == LEAD_QUALIFIED


def is_active(row: dict[str, Any]) -> bool:
    return row.get("statecode") in (0, None)


def merged_master(row: dict[str, Any]) -> str | None:
    """The surviving record of a CRM merge (the subordinate carries ``_masterid_value``)."""
    master = row.get("_masterid_value")
    if master and (row.get("merged") or not is_active(row)):
        return str(master).lower()
    return None
