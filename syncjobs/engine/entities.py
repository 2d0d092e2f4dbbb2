"""What the engine reads of every synced CRM record, and what a row's state codes mean.
The tables themselves (names, entity sets, keys, match order) are ``mailworx_crm.entity_types``."""

from __future__ import annotations

from typing import Any

from mailworx_crm.entity_types import primary_key

# The CRM attribute that names a record's mailworx subscriber (docs/crm-solution.md).
SUBSCRIBER_ID = "mwx_subscriberid"
# Columns every read of a synced record needs besides the mapped ones.
# ``_modifiedby_value``: who changed the record last, for the consent history (N6).
BASE_COLUMNS = ("emailaddress1", "statecode", "statuscode", "donotbulkemail", "modifiedon",
                "versionnumber", "_masterid_value", "merged", "_modifiedby_value",
                SUBSCRIBER_ID)


def names_subscriber(row: dict[str, Any], subscriber_id: int) -> bool:
    """Whether the CRM row's ``mwx_subscriberid`` names the subscriber (docs/crm-solution.md)."""
    return str(row.get(SUBSCRIBER_ID) or "") == str(subscriber_id)


def row_id(entity: str, row: dict[str, Any]) -> str:
    return str(row.get(primary_key(entity), "")).lower()


def is_active(row: dict[str, Any]) -> bool:
    return row.get("statecode") in (0, None)


def merged_master(row: dict[str, Any]) -> str | None:
    """The surviving record of a CRM merge (the subordinate carries ``_masterid_value``)."""
    master = row.get("_masterid_value")
    if master and (row.get("merged") or not is_active(row)):
        return str(master).lower()
    return None
