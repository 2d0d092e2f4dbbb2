"""Customer Insights – Journeys contact point consent (docs/crm-solution.md §7).

Organisations with Journeys keep e-mail consent per address and purpose in
``msdynmkt_contactpointconsent4``. This module finds the table and the commercial purpose,
reads the purpose-level e-mail rows for addresses (``In`` look-ups inside ``$batch``) and
those changed since a ``modifiedon`` watermark, and creates or updates rows. What a status
means for a subscriber is the caller's business.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from dynamics.batch import OperationResult
from dynamics.bulk import BulkApi, InLookup
from dynamics.odata import string_literal

CONSENT_TABLE = "msdynmkt_contactpointconsent4"
CONSENT_SET = "msdynmkt_contactpointconsent4s"
CONSENT_KEY = "msdynmkt_contactpointconsent4id"
PURPOSE_SET = "msdynmkt_purposes"
PURPOSE_BIND = "msdynmkt_purposeId@odata.bind"  # the navigation name keeps its capital I
CHANNEL_EMAIL = 534120000  # msdynmkt_contactpointtype
LEVEL_PURPOSE = 534120000  # msdynmkt_contactpointconsenttype: a purpose, not a topic row
PURPOSE_COMMERCIAL = 534120000  # msdynmkt_purpose.msdynmkt_type
REASON_MAX = 500  # msdynmkt_reason (Reason Description) MaxLength


class ConsentStatus(IntEnum):
    """``msdynmkt_value`` (global choice msdynmkt_consentvalue)."""

    NOT_SET = 534120000
    OPTED_IN = 534120001
    OPTED_OUT = 534120002


class ConsentSource(IntEnum):
    """``msdynmkt_source`` (global choice msdynmkt_consentsource)."""

    INTERNAL = 534120000
    PREFERENCE_PAGE = 534120001
    TEXT_MESSAGE = 534120002
    LOADED = 534120003
    PREFERENCE_CENTER = 534120004
    REALTIME_FORM = 534120005
    SUBSCRIPTION_CENTER = 534120006
    LIST_UNSUBSCRIBE = 534120007


class ConsentReason(IntEnum):
    """``msdynmkt_logicalreason`` (global choice msdynmkt_reason)."""

    NO_REASONS = 534119999
    OPT_IN_ADVERTISEMENT = 534120000
    OPT_IN_LANDING_PAGE = 534120001
    OPT_IN_EVENTS = 534120002
    OPT_OUT_IRRELEVANT = 534120003
    OPT_OUT_TOO_FREQUENT = 534120004
    OPT_OUT_NOT_RECALLED = 534120005
    OPT_OUT_PRIVACY = 534120006
    OPT_OUT_ONE_CLICK = 534120007


SELECT = ("msdynmkt_contactpointvalue", "msdynmkt_contactpointtype", "msdynmkt_value",
          "msdynmkt_source", "msdynmkt_logicalreason", "msdynmkt_reason",
          "msdynmkt_modifiedonbehalf", "_msdynmkt_purposeid_value", "_msdynmkt_topicid_value",
          "_modifiedby_value", "modifiedon", "versionnumber")


@dataclass(frozen=True)
class JourneysConsent:
    """The organisation has the consent table; consent is kept for this purpose."""

    purpose_id: str
    purpose_name: str


@dataclass(frozen=True)
class ConsentRow:
    id: str
    address: str
    status: int | None  # a ConsentStatus value, or None when the row has none
    source: int | None
    logical_reason: int | None
    reason: str
    modified_on: str  # as the CRM wrote it (UTC, ISO 8601)
    modified_by: str  # systemuser id
    on_behalf: str

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ConsentRow:
        return cls(id=str(row.get(CONSENT_KEY) or "").lower(),
                   address=str(row.get("msdynmkt_contactpointvalue") or ""),
                   status=row.get("msdynmkt_value"), source=row.get("msdynmkt_source"),
                   logical_reason=row.get("msdynmkt_logicalreason"),
                   reason=str(row.get("msdynmkt_reason") or ""),
                   modified_on=str(row.get("modifiedon") or ""),
                   modified_by=str(row.get("_modifiedby_value") or "").lower(),
                   on_behalf=str(row.get("msdynmkt_modifiedonbehalf") or ""))


@dataclass(frozen=True)
class ConsentWrite:
    """What to record for one address: the status with where it came from and why."""

    address: str
    status: ConsentStatus
    source: ConsentSource
    logical_reason: ConsentReason
    reason: str  # Reason Description: also how CRM-side flows recognise the writer
    on_behalf: str = ""  # Who requested the change

    def columns(self) -> dict[str, Any]:
        out: dict[str, Any] = {"msdynmkt_value": int(self.status),
                               "msdynmkt_source": int(self.source),
                               "msdynmkt_logicalreason": int(self.logical_reason),
                               "msdynmkt_reason": self.reason[:REASON_MAX],
                               "msdynmkt_contactpointconsenttype": LEVEL_PURPOSE}
        if self.on_behalf:
            out["msdynmkt_modifiedonbehalf"] = self.on_behalf[:REASON_MAX]
        return out


def _purpose_rows(purpose_id: str) -> str:
    """E-mail rows of the purpose itself (topic rows carry a topic and are left alone)."""
    return (f"msdynmkt_contactpointtype eq {CHANNEL_EMAIL} and "
            f"_msdynmkt_purposeid_value eq {purpose_id} and _msdynmkt_topicid_value eq null")


def _is_purpose_row(row: dict[str, Any], purpose_id: str) -> bool:
    return (row.get("msdynmkt_contactpointtype") == CHANNEL_EMAIL
            and str(row.get("_msdynmkt_purposeid_value") or "").lower() == purpose_id.lower()
            and not row.get("_msdynmkt_topicid_value"))


class JourneysConsentApi(BulkApi):
    def journeys_consent(self) -> JourneysConsent | None:
        """The consent table and the commercial purpose, or None without Journeys.

        Asked with a ``$filter`` on ``EntityDefinitions``, which answers an empty list where
        the table does not exist (no error to tell apart). Several commercial purposes (one
        per compliance profile): the oldest active one, the default profile's.
        """
        tables = self.transport.get_json("EntityDefinitions", {
            "$select": "LogicalName,EntitySetName",
            "$filter": f"LogicalName eq {string_literal(CONSENT_TABLE)}"})
        if not (isinstance(tables, dict) and tables.get("value")):
            return None
        purposes = list(self.query(
            PURPOSE_SET, select=["msdynmkt_purposeid", "msdynmkt_name"],
            filter=f"statecode eq 0 and msdynmkt_type eq {PURPOSE_COMMERCIAL}",
            orderby="createdon asc,msdynmkt_purposeid asc", top=1))
        if not purposes:
            return None
        row = purposes[0]
        return JourneysConsent(str(row["msdynmkt_purposeid"]).lower(),
                               str(row.get("msdynmkt_name") or ""))

    def consent_rows(self, purpose_id: str,
                     addresses: Iterable[str]) -> dict[str, list[ConsentRow]]:
        """The purpose's e-mail rows for ``addresses``, by lower-cased address."""
        wanted = sorted({a.strip().lower() for a in addresses if a.strip()})
        found = self.lookup_in_many([InLookup(CONSENT_SET, "msdynmkt_contactpointvalue",
                                              wanted, [CONSENT_KEY, *SELECT])])[0]
        out: dict[str, list[ConsentRow]] = {}
        for row in found:
            if _is_purpose_row(row, purpose_id):
                item = ConsentRow.from_row(row)
                out.setdefault(item.address.lower(), []).append(item)
        return out

    def consent_changes(self, purpose_id: str, since: str) -> Iterator[ConsentRow]:
        """The purpose's e-mail rows modified at or after ``since`` (ISO UTC), oldest first.

        A watermark, not change tracking: the filter keeps other channels, purposes and
        topics out, and a first read does not list every row of the organisation. Removed
        rows mean nothing here (no row = not set).
        """
        rows = self.query(CONSENT_SET, select=[CONSENT_KEY, *SELECT],
                          filter=f"{_purpose_rows(purpose_id)} and modifiedon ge {since}",
                          orderby=f"modifiedon asc,{CONSENT_KEY} asc", page_size=1000)
        for row in rows:
            yield ConsentRow.from_row(row)

    def write_consent(self, purpose_id: str, writes: Sequence[ConsentWrite],
                      existing: dict[str, list[ConsentRow]]) -> list[OperationResult]:
        """Record each write: its address's rows (``existing``, by lower-cased address) are
        updated, an address without one gets a new row. One result per write, in order:
        the first failure among its rows, else its last success."""
        creates: list[tuple[int, dict[str, Any]]] = []
        updates: list[tuple[int, dict[str, Any]]] = []
        for index, write in enumerate(writes):
            rows = existing.get(write.address.strip().lower(), [])
            for row in rows:
                updates.append((index, {CONSENT_KEY: row.id, **write.columns()}))
            if not rows:
                creates.append((index, {
                    "msdynmkt_contactpointvalue": write.address.strip(),
                    "msdynmkt_contactpointtype": CHANNEL_EMAIL,
                    PURPOSE_BIND: f"/{PURPOSE_SET}({purpose_id})", **write.columns()}))
        results: dict[int, OperationResult] = {}
        for batch, send in ((creates, self.create_multiple), (updates, self.update_multiple)):
            if not batch:
                continue
            answers = send(CONSENT_SET, CONSENT_TABLE, [record for _i, record in batch],
                           primary_key=CONSENT_KEY)
            for (index, _record), answer in zip(batch, answers, strict=True):
                if index not in results or results[index].ok:
                    results[index] = answer
        return [results[i] for i in range(len(writes))]
