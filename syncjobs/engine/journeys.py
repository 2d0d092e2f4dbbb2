"""Consent in the Customer Insights – Journeys table: who has the newer word on an address.

Journeys keeps e-mail consent per address and purpose (docs/crm-solution.md §7); mailworx
per subscriber (``Subscriber.consent``). Per address, each side makes a *statement* —
opted in or opted out, and since when — or none:

* mailworx: any subscriber with the address who opted out makes it "opted out" (an
  objection stands for the address); else any who opted in (single or double) makes it
  "opted in". Unknown, awaiting confirmation and bounced say nothing about consent.
* Journeys: the newest purpose-level e-mail row that is opted in or out ("not set" and no
  row say nothing).

The newer statement wins (a tie goes to the opt-out). Journeys' goes to the subscribers
through the consent service (a re-opt-in there becomes "awaiting confirmation" unless the
tenant allows CRM-driven re-subscription); mailworx's is written to the table. Equal
statements need nothing, so reading back what mailworx wrote changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

from audience.models import ConsentSource, ConsentState, Subscriber
from dynamics.journeys import ConsentReason, ConsentRow, ConsentStatus, ConsentWrite
from dynamics.journeys import ConsentSource as JourneysSource
from mailworx_crm.texts import deferred as _
from syncjobs.engine.context import parse_time

OPTED_IN_STATES = frozenset({ConsentState.OPTED_IN, ConsentState.DOUBLE_OPT_IN})
# Where a mailworx change came from, as Journeys' source choice: an import is "Loaded",
# everything else mailworx did itself is "Internal" (the reason text names the source).
JOURNEYS_SOURCE = {ConsentSource.IMPORT: JourneysSource.LOADED}


class Verdict(Enum):
    NOTHING = "nothing"
    APPLY = "apply"  # Journeys' statement goes to the subscribers
    WRITE = "write"  # mailworx's statement goes to the table


@dataclass(frozen=True)
class Statement:
    status: ConsentStatus  # OPTED_IN or OPTED_OUT
    at: dt.datetime
    row: ConsentRow | None = None  # Journeys' statement: the row that makes it


def changed_at(sub: Subscriber) -> dt.datetime:
    return sub.consent_changed_at or sub.created_at


def mailworx_statement(subscribers: Sequence[Subscriber]) -> Statement | None:
    for status, states in ((ConsentStatus.OPTED_OUT, {ConsentState.OPTED_OUT}),
                           (ConsentStatus.OPTED_IN, OPTED_IN_STATES)):
        saying = [s for s in subscribers if s.consent in states]
        if saying:
            return Statement(status, max(changed_at(s) for s in saying))
    return None


def journeys_statement(rows: Sequence[ConsentRow]) -> Statement | None:
    said = [(when, ConsentStatus(row.status), row) for row in rows
            if row.status in (ConsentStatus.OPTED_IN, ConsentStatus.OPTED_OUT)
            and (when := parse_time(row.modified_on)) is not None]
    if not said:
        return None
    when, status, row = max(said, key=lambda item: item[0])
    return Statement(status, when, row)


def verdict(mailworx: Statement | None, journeys: Statement | None) -> Verdict:
    if journeys is None:
        return Verdict.WRITE if mailworx is not None else Verdict.NOTHING
    if mailworx is None:
        return Verdict.APPLY
    if journeys.status == mailworx.status:
        return Verdict.NOTHING
    if journeys.at == mailworx.at:  # a tie goes to the opt-out
        return Verdict.APPLY if journeys.status == ConsentStatus.OPTED_OUT else Verdict.WRITE
    return Verdict.APPLY if journeys.at > mailworx.at else Verdict.WRITE


def target_state(statement: Statement) -> ConsentState:
    """What Journeys' statement asks of a subscriber (the consent service decides)."""
    return (ConsentState.OPTED_OUT if statement.status == ConsentStatus.OPTED_OUT
            else ConsentState.OPTED_IN)


def consent_write(address: str, statement: Statement, source: str) -> ConsentWrite:
    """The row mailworx records: status, source, reason and a Reason Description that
    starts with "mailworx" (Microsoft's advice for integrations that sync both ways).
    ``source``: where the newest mailworx change behind the statement came from."""
    known = ConsentSource(source) if source in ConsentSource.values else None
    label = str(known.label) if known is not None else source
    if statement.status == ConsentStatus.OPTED_OUT:
        reason = _("mailworx: opted out (%(source)s)") % {"source": label}
    else:
        reason = _("mailworx: opted in (%(source)s)") % {"source": label}
    return ConsentWrite(
        address=address, status=statement.status,
        source=JOURNEYS_SOURCE.get(known, JourneysSource.INTERNAL) if known
        else JourneysSource.INTERNAL,
        logical_reason=ConsentReason.NO_REASONS, reason=str(reason), on_behalf="mailworx")
