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


def decide(mf: MappedField, *, sub_value: str, sub_modified: dt.datetime | None,
           crm_value: str, crm_modified: dt.datetime | None, synced: dict[str, object],
           prefer_crm_when_new: bool = False) -> Side:
    if same(mf, sub_value, crm_value):
        return Side.SAME
    if not mf.two_way:
        return Side.CRM
    if mf.key not in synced:
        if prefer_crm_when_new and crm_value != "":
            return Side.CRM  # backfill of a new mapping (S14): the CRM's value comes over
        if sub_value == "":
            return Side.CRM
        if crm_value == "":
            return Side.MAILWORX
        return _newer(sub_modified, crm_modified)
    last = str(synced[mf.key])
    crm_changed = not same(mf, crm_value, last)
    sub_changed = not same(mf, sub_value, last)
    if crm_changed and not sub_changed:
        return Side.CRM
    if sub_changed and not crm_changed:
        return Side.MAILWORX
    return _newer(sub_modified, crm_modified)


def _newer(sub_modified: dt.datetime | None, crm_modified: dt.datetime | None) -> Side:
    if sub_modified is None:
        return Side.CRM
    if crm_modified is None:
        return Side.MAILWORX
    return Side.MAILWORX if sub_modified > crm_modified else Side.CRM
