"""S11: which side's value a mapped field takes, decided field by field.

Each side is compared with the value last synced (``synced_values``):
* same value on both sides → nothing to do;
* changed on one side only → that side's value;
* changed on both → the newer side: the CRM record's ``modifiedon`` against the subscriber
  value's own ``modified_at``. On a tie the CRM wins (it is the system of record).
A field never synced before (a new link, a new mapping) counts an empty side as unchanged.
One-way mappings (lookup paths, read-only columns) always take the CRM's value.
"""

from __future__ import annotations

import datetime as dt
import enum

from syncjobs.engine.fields import MappedField, same


class Side(enum.StrEnum):
    SAME = "same"
    CRM = "crm"
    MAILWORX = "mailworx"


class Rule(enum.StrEnum):
    """Which part of S11 decided a field: stored with the field's provenance, so an admin
    can see why a value changed (the labels live in syncjobs/provenance.py)."""

    ONE_WAY = "one_way"  # lookup path or read-only column: always the CRM's value
    BACKFILL = "backfill"  # a new mapping's first run takes the CRM's value (S14)
    NEW_EMPTY = "new_empty"  # never synced: the side with a value wins
    CHANGED_ONE_SIDE = "one_side"  # changed on this side only
    NEWER = "newer"  # changed on both sides: the newer change wins
    TIE = "tie"  # changed on both at the same instant (or no time known): the CRM wins
    CREATED = "created"  # the record was created from the subscriber


def decide(mf: MappedField, *, sub_value: str, sub_modified: dt.datetime | None,
           crm_value: str, crm_modified: dt.datetime | None, synced: dict[str, object],
           prefer_crm_when_new: bool = False) -> Side:
    return explain(mf, sub_value=sub_value, sub_modified=sub_modified, crm_value=crm_value,
                   crm_modified=crm_modified, synced=synced,
                   prefer_crm_when_new=prefer_crm_when_new)[0]


def explain(mf: MappedField, *, sub_value: str, sub_modified: dt.datetime | None,
            crm_value: str, crm_modified: dt.datetime | None, synced: dict[str, object],
            prefer_crm_when_new: bool = False) -> tuple[Side, Rule | None]:
    """The winning side and the rule that chose it (``None`` when both sides agree)."""
    if same(mf, sub_value, crm_value):
        return Side.SAME, None
    if not mf.two_way:
        return Side.CRM, Rule.ONE_WAY
    if mf.key not in synced:
        if prefer_crm_when_new and crm_value != "":
            return Side.CRM, Rule.BACKFILL  # backfill of a new mapping (S14)
        if sub_value == "":
            return Side.CRM, Rule.NEW_EMPTY
        if crm_value == "":
            return Side.MAILWORX, Rule.NEW_EMPTY
        return _newer(sub_modified, crm_modified)
    last = str(synced[mf.key])
    crm_changed = not same(mf, crm_value, last)
    sub_changed = not same(mf, sub_value, last)
    if crm_changed and not sub_changed:
        return Side.CRM, Rule.CHANGED_ONE_SIDE
    if sub_changed and not crm_changed:
        return Side.MAILWORX, Rule.CHANGED_ONE_SIDE
    return _newer(sub_modified, crm_modified)


def _newer(sub_modified: dt.datetime | None,
           crm_modified: dt.datetime | None) -> tuple[Side, Rule]:
    if sub_modified is None:
        return Side.CRM, Rule.TIE
    if crm_modified is None:
        return Side.MAILWORX, Rule.NEWER
    if sub_modified > crm_modified:
        return Side.MAILWORX, Rule.NEWER
    return Side.CRM, Rule.NEWER if crm_modified > sub_modified else Rule.TIE
