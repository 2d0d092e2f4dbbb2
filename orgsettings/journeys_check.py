"""The integration check's look at Customer Insights – Journeys consent (docs/crm-solution.md §7).

Not a requirement: without Journeys "do not allow bulk email" carries consent alone (S13).
Where the table exists, the connector's user needs rights on it, or the sync's opt-ins and
opt-outs cannot be recorded there — a warning, since the sync itself still works.
"""

from __future__ import annotations

from collections.abc import Collection

from dynamics.crm_api import CrmApi
from dynamics.journeys import CONSENT_TABLE
from mailworx_crm.texts import StoredText, stored_text

OK, WARNING = "ok", "warning"
# Write consent rows and bind them to their purpose (Append on the row, AppendTo on the
# purpose, as for every lookup).
PRIVILEGES = (*(f"prv{verb}{CONSENT_TABLE}" for verb in ("Create", "Read", "Write", "Append")),
              "prvReadmsdynmkt_purpose", "prvAppendTomsdynmkt_purpose")


def journeys_consent_check(client: CrmApi, held: Collection[str] | None
                           ) -> tuple[str, StoredText, StoredText | str]:
    """Status, message and hint; ``held``: the user's privileges, None when unknown."""
    found = client.journeys_consent()
    if found is None:
        return OK, stored_text(
            "Customer Insights – Journeys is not installed (or has no commercial purpose): "
            "“do not allow bulk email” carries consent."), ""
    missing = [p for p in PRIVILEGES if held is not None and p not in held]
    if missing:
        return WARNING, stored_text(
            "Consent is kept in Customer Insights – Journeys (purpose “%(purpose)s”), but the "
            "connector's user lacks %(list)s: syncs cannot record opt-ins and opt-outs there.",
            purpose=found.purpose_name, list=", ".join(missing)), stored_text(
            "Give the connector's security role these privileges in the CRM.")
    return OK, stored_text(
        "Consent is kept in Customer Insights – Journeys: syncs record opt-ins and opt-outs "
        "for the purpose “%(purpose)s” there and read changes back.",
        purpose=found.purpose_name), ""
