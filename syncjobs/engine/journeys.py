"""Consent in the Customer Insights – Journeys table: who has the newer word on an address.

Journeys keeps e-mail consent per address and purpose (docs/crm-solution.md §7); mailworx
per subscriber (``Subscriber.consent``). Per address, each side makes a *statement* —
opted in or opted out, and since when — or none:

* mailworx: any subscriber with the address who opted out makes it "opted out" (an
  objection stands for the address); else any who opted in (single or double) through
  mailworx — a form, an import, the API, an administrator — makes it "opted in". Unknown,
  awaiting confirmation, bounced and an opt-in the CRM gave say nothing.
* Journeys: the newest purpose-level e-mail row that is opted in or out ("not set" and no
  row say nothing).

The newer statement wins (a tie goes to the opt-out). Journeys' goes to the subscribers
through the consent service (a re-opt-in there becomes "awaiting confirmation" unless the
tenant allows CRM-driven re-subscription); mailworx's is written to the table. Equal
statements need nothing, so reading back what mailworx wrote changes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from audience.models import ConsentSource, ConsentState, Subscriber
from dynamics.journeys import ConsentReason, ConsentRow, ConsentStatus, ConsentWrite
from dynamics.journeys import ConsentSource as JourneysSource
from mailworx_crm.texts import deferred as _
from syncjobs.engine.context import parse_time

OPTED_IN_STATES = frozenset({ConsentState.OPTED_IN, ConsentState.DOUBLE_OPT_IN})
# Opt-ins mailworx collected itself. One the CRM gave (a record that allows bulk email, a
# row of the table itself) is never echoed into Journeys as an explicit opt-in.
OWN_OPT_IN_SOURCES = frozenset({ConsentSource.FORM, ConsentSource.IMPORT, ConsentSource.API,
                                ConsentSource.ADMIN})
# Where a mailworx change came from, as Journeys' source choice: an import is "Loaded",
# everything else mailworx did itself is "Internal" (the reason text names the source).
JOURNEYS_SOURCE = {ConsentSource.IMPORT: JourneysSource.LOADED}


# "Who requested the change" on the rows mailworx writes: how it knows its own rows.
WRITER = "mailworx"


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


def own_opt_in(sub: Subscriber, sources: Mapping[int, str]) -> bool:
    """An opt-in mailworx collected itself (``sources``: each subscriber's newest change)."""
    return sub.consent in OPTED_IN_STATES and sources.get(sub.pk) in OWN_OPT_IN_SOURCES


def saying(subscribers: Sequence[Subscriber], status: ConsentStatus,
           sources: Mapping[int, str]) -> list[Subscriber]:
    """The subscribers that make mailworx's statement ``status``."""
    if status == ConsentStatus.OPTED_OUT:
        return [s for s in subscribers if s.consent == ConsentState.OPTED_OUT]
    return [s for s in subscribers if own_opt_in(s, sources)]


def mailworx_statement(subscribers: Sequence[Subscriber],
                       sources: Mapping[int, str]) -> Statement | None:
    for status in (ConsentStatus.OPTED_OUT, ConsentStatus.OPTED_IN):
        if said := saying(subscribers, status, sources):
            return Statement(status, max(changed_at(s) for s in said))
    return None


def reaches(sub: Subscriber, statement: Statement, sources: Mapping[int, str]) -> bool:
    """Does Journeys' statement change this subscriber? Only when it is newer than the
    subscriber's own last change — so an opt-out row mailworx wrote earlier does not undo
    a later "awaiting confirmation" — or the subscriber's permission says less than the
    row: unknown, or an opt-in that came from the CRM (a record allowing bulk email)
    against an opt-out someone recorded in Journeys."""
    target = target_state(statement)
    if sub.consent == target:
        return False
    if sub.consent == ConsentState.UNKNOWN or statement.at > changed_at(sub):
        return True
    # An older row mailworx wrote itself is no word of Journeys': the later change stands
    # (a re-subscription through the flag that the tenant allows, ``crm_resubscribe``).
    written_by_us = statement.row is not None and statement.row.on_behalf == WRITER
    return (target == ConsentState.OPTED_OUT and sub.consent in OPTED_IN_STATES
            and not own_opt_in(sub, sources) and not written_by_us)


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
        logical_reason=ConsentReason.NO_REASONS, reason=str(reason), on_behalf=WRITER)
