"""Consent when two subscribers merge (S9, S13): the stricter permission stays, with a
history entry written through the consent service's own entry builder."""

from __future__ import annotations

import datetime as dt

from audience.consent import SYSTEM, history_entry
from audience.models import ConsentEvent, ConsentSource, ConsentState, Subscriber

# A merge keeps the higher weight: any restriction beats any permission; among
# permissions, the better proof.
_WEIGHT = {
    ConsentState.UNKNOWN: 0,
    ConsentState.OPTED_IN: 1,
    ConsentState.DOUBLE_OPT_IN: 2,
    ConsentState.AWAITING_CONFIRMATION: 3,
    ConsentState.BOUNCED: 4,
    ConsentState.OPTED_OUT: 5,
}


def stricter(a: ConsentState | str, b: ConsentState | str) -> ConsentState:
    """The state a merge of two subscribers keeps (S9): a restriction wins over any
    permission; between permissions, the better-proven one."""
    a, b = ConsentState(a), ConsentState(b)
    return a if _WEIGHT[a] >= _WEIGHT[b] else b


def merge_consent(survivor: Subscriber, source: Subscriber, at: dt.datetime) -> ConsentEvent | None:
    """A merge (S9) gives ``survivor`` the stricter permission of the two, in memory; returns
    the unsaved history entry (the caller saves both in its transaction), None if unchanged.
    """
    state = stricter(source.consent, survivor.consent)
    if state == survivor.consent:
        return None
    event = history_entry(
        survivor,
        state,
        survivor.consent,
        ConsentSource.MERGE,
        {"merged_subscriber_id": source.pk},
        SYSTEM,
        at,
    )
    survivor.consent, survivor.consent_changed_at = state, source.consent_changed_at or at
    return event
