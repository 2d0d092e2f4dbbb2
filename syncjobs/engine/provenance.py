"""Per-field provenance: which side last set a mapped field, in which run, by which S11 rule.

Kept on the link as ``field_sources = {key: [side, run id, rule]}`` and written with
``synced_values`` in the statement the engine issues anyway, so the hot path gains no
query. A field the mailworx side won but the CRM has not confirmed yet carries a fourth
element, ``"pending"``: push drops it once the CRM took the value, so a refused write
(a sync issue) never reads as if mailworx had set the CRM's value. Pure functions: they
build the new mapping from the one the link was read with.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from syncjobs.engine.conflicts import Rule, Side

Sources = dict[str, list[Any]]

PENDING = "pending"
_MAILWORX, _CREATED, _ONE_SIDE = (
    Side.MAILWORX.value,
    Rule.CREATED.value,
    Rule.CHANGED_ONE_SIDE.value,
)


def record_sources(
    old: Mapping[str, Any] | None, run_id: int | None, winners: Mapping[str, tuple[Side, Rule]]
) -> Sources:
    """The fields S11 just decided, on top of what was recorded before.

    A field the mailworx side won is recorded as pending: push sends it later and keeps
    the rule (``pushed_sources``).
    """
    out: Sources = dict(old or {})
    for key, (side, rule) in winners.items():
        if side is Side.MAILWORX:
            out[key] = [_MAILWORX, run_id, rule.value, PENDING]
        else:
            out[key] = [side.value, run_id, rule.value]
    return out


def pushed_sources(
    old: Mapping[str, Any] | None,
    run_id: int | None,
    keys: Collection[str],
    *,
    created: bool = False,
) -> Mapping[str, Any]:
    """The fields push wrote to the CRM from the subscriber (``old`` itself when none).

    The rule is the one pull recorded when it decided the field for mailworx (still
    pending, or in this run); otherwise the subscriber's value changed since the last sync
    and the CRM's did not (or the record was just created from it).
    """
    if not keys:
        return old or {}
    out: Sources = dict(old or {})
    for key in keys:
        before = out.get(key)
        if created:
            rule = _CREATED
        elif (
            isinstance(before, list)
            and len(before) >= 3
            and before[0] == _MAILWORX
            and (before[-1] == PENDING or before[1] == run_id)
        ):
            rule = str(before[2])
        else:
            rule = _ONE_SIDE
        out[key] = [_MAILWORX, run_id, rule]
    return out
