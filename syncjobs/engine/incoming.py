"""CRM rows → the links they belong to: what pull, backfill and the change-tracking start
do with a batch of rows they read.

In three phases, so that no CRM request is sent while a transaction is open
(``orgsettings.transaction_guard``): read the links (no transaction), look up the values of
lookup paths in the CRM (no transaction), then write everything — and the caller's cursor,
through ``then`` — in one short transaction.

The links are first read as tuples: rows already applied (and, with ``own_writes``, rows
that only echo what the link last synced, see ``_echoes``) never load a model instance or
their subscriber.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.db import transaction
from django.utils.translation import gettext_noop

from mailworx_crm.entity_types import is_qualified_lead
from mailworx_crm.texts import deferred as _
from syncjobs.engine.apply import SubValues, apply_many, subscriber_values
from syncjobs.engine.context import Sync, parse_time
from syncjobs.engine.entities import is_active, merged_master, names_subscriber, row_id
from syncjobs.engine.fields import UNMAPPED, MappedField, crm_value, related_values, same
from syncjobs.engine.linkstore import APPLIED_FIELDS, save_link_rows, save_links
from syncjobs.engine.merge import merge_subscribers
from syncjobs.engine.steps.match import reset_unmatched, unlinked_addresses_known
from syncjobs.models.sync import HOLDING_STATES, LinkState, RecordLink

_LINK_TUPLE = ("pk", "crm_id", "crm_versionnumber", "crm_active", "synced_values",
               "bulk_email_blocked", "group_id", "origin", "subscriber_id")

Live = list[tuple[RecordLink, dict[str, Any]]]


class Seen(Protocol):
    def add(self, pks: Iterable[int]) -> None: ...


@dataclass
class _Plan:
    """What one batch of rows asks of the database, decided before any write."""

    echoed: list[list[Any]] = field(default_factory=list)
    merges: list[tuple[RecordLink, str]] = field(default_factory=list)
    inactive: list[RecordLink] = field(default_factory=list)
    # Per business unit: its mappings and the live rows with their links.
    by_unit: dict[int | None, tuple[list[MappedField], Live]] = field(default_factory=dict)
    reset_unmatched: bool = False


def apply_rows(sync: Sync, step: str, entity: str, rows: Sequence[dict[str, Any]], *,
               prefer_crm_when_new: bool = False, force: bool = False,
               own_writes: bool = False, then: Callable[[], None] | None = None,
               seen: Seen | None = None) -> None:
    """Apply CRM rows to the active links they belong to; ``then`` runs last in the same
    transaction (a cursor that moves with the writes it covers); ``seen`` learns the
    primary keys of the active links the rows belong to."""
    plan = _read(sync, step, entity, rows, force=force, own_writes=own_writes, seen=seen)
    live_ids = [link.subscriber_id for _m, items in plan.by_unit.values() for link, _r in items]
    values: dict[int, SubValues] = subscriber_values(live_ids) if live_ids else {}
    related = {unit_id: related_values(sync.client, [r for _l, r in items], mapped)
               for unit_id, (mapped, items) in plan.by_unit.items()}
    with transaction.atomic():
        _write(sync, step, plan, values, related, prefer_crm_when_new=prefer_crm_when_new)
        if then is not None:
            then()


def _read(sync: Sync, step: str, entity: str, rows: Sequence[dict[str, Any]], *,
          force: bool, own_writes: bool, seen: Seen | None) -> _Plan:
    plan = _Plan()
    known: dict[str, tuple[Any, ...]] = {}
    ids = [row_id(entity, r) for r in rows]
    for start in range(0, len(ids), 500):
        known.update({str(t[1]): t for t in RecordLink.objects.filter(
            tenant=sync.tenant, entity_type=entity, state=LinkState.ACTIVE,
            crm_id__in=ids[start:start + 500]).values_list(*_LINK_TUPLE)})
    if seen is not None:
        seen.add(t[0] for t in known.values())
    pending: list[dict[str, Any]] = []
    strangers: list[str] = []
    for row in rows:
        known_link = known.get(row_id(entity, row))
        if known_link is None:
            if is_active(row) and not is_qualified_lead(entity, row):
                strangers.append(str(row.get("emailaddress1") or ""))
            continue
        (pk, _crm_id, link_version, link_active, synced, blocked, group_id, origin,
         subscriber_id) = known_link
        version = row.get("versionnumber")
        if (not force and version is not None and link_version == int(version)
                and link_active == is_active(row)):
            sync.skip(step, gettext_noop("already applied"))
            continue
        if (own_writes and not blocked and names_subscriber(row, subscriber_id)
                and _echoes(sync, entity, row, synced, group_id, origin)):
            plan.echoed.append([True, parse_time(row.get("modifiedon")),
                                int(version) if version is not None else None, pk])
            continue
        pending.append(row)
    links: dict[str, RecordLink] = {}
    wanted = [row_id(entity, r) for r in pending]
    for start in range(0, len(wanted), 500):
        links.update({str(link.crm_id): link for link in RecordLink.objects.filter(
            tenant=sync.tenant, entity_type=entity, state=LinkState.ACTIVE,
            crm_id__in=wanted[start:start + 500]).select_related("subscriber")})
    for row in pending:
        link = links.get(row_id(entity, row))
        if link is None:
            continue
        version = row.get("versionnumber")
        master = merged_master(row)
        if master:
            plan.merges.append((link, master))
        elif is_qualified_lead(entity, row) or not is_active(row):
            if link.crm_active:
                link.crm_active = False
                link.crm_versionnumber = int(version) if version is not None else None
                plan.inactive.append(link)
            sync.skip(step, gettext_noop("qualified lead") if is_qualified_lead(entity, row)
                      else gettext_noop("deactivated in the CRM"))
        elif not sync.pull_allowed(link.origin):
            sync.skip(step, gettext_noop("bidirectional sync off"))
        else:
            unit_id = sync.unit_for_group(link.group_id)
            if unit_id not in plan.by_unit:
                plan.by_unit[unit_id] = (sync.mappings(unit_id, entity), [])
            plan.by_unit[unit_id][1].append((link, row))
    # A record nobody linked carries the address of an unlinked subscriber: the next
    # match looks the unlinked subscribers up again (saved with this batch's cursor).
    plan.reset_unmatched = bool(strangers) and unlinked_addresses_known(sync, strangers)
    return plan


def _write(sync: Sync, step: str, plan: _Plan, values: dict[int, SubValues],
           related: dict[int | None, dict[tuple[str, str], Any]], *,
           prefer_crm_when_new: bool) -> None:
    if plan.echoed:
        # Nothing to resolve: the link only learns the record's version (as ``_finish``).
        save_link_rows(["crm_active", "crm_modifiedon", "crm_versionnumber"], plan.echoed)
        sync.skip(step, gettext_noop("our own values read back"), len(plan.echoed))
    for link, master in plan.merges:
        follow_merge(sync, step, link, master)
    save_links(plan.inactive, ["crm_active", "crm_versionnumber"])
    if plan.reset_unmatched:
        reset_unmatched(sync)
    for unit_id, (mapped, items) in plan.by_unit.items():
        done = apply_many(sync, step, [(link, link.subscriber, mapped, row)
                                       for link, row in items], related[unit_id], values,
                          prefer_crm_when_new=prefer_crm_when_new)
        save_links(done, APPLIED_FIELDS)
        sync.count(step, "records", len(items))


def _echoes(sync: Sync, entity: str, row: dict[str, Any], synced: dict[str, Any],
            group_id: int | None, origin: str) -> bool:
    """Whether the row holds exactly the values the link last synced (our own writes).

    Then ``apply_row`` would change nothing but the link's version: every two-way field's
    CRM value equals ``synced_values`` (or is empty where nothing was synced), so S11 keeps
    the value or, had the subscriber changed since, pushes it — and such a change is after
    this run's start, which the next push selects anyway. Anything else (one-way or lookup
    fields, an unmapped option, ``donotbulkemail`` either way (the caller passes only links
    whose flag is not set), an inactive, qualified or
    merged record, C6 off) takes the full path.
    """
    if (not sync.pull_allowed(origin) or not is_active(row) or is_qualified_lead(entity, row)
            or merged_master(row) or row.get("donotbulkemail")):
        return False
    for mf in sync.mappings(sync.unit_for_group(group_id), entity):
        if not mf.two_way:
            return False
        value = crm_value(mf, row, {})
        if value is UNMAPPED:
            return False
        if mf.key in synced:
            if not same(mf, value, str(synced[mf.key])):
                return False
        elif value != "":
            return False
    return True


def follow_merge(sync: Sync, step: str, link: RecordLink, master: str) -> None:
    """The record was merged into ``master`` in the CRM: the subscriber follows it."""
    other = RecordLink.objects.filter(
        tenant=sync.tenant, entity_type=link.entity_type, crm_id=master,
        state__in=HOLDING_STATES).exclude(pk=link.pk).select_related("subscriber").first()
    if other is not None:
        # The master is linked to another subscriber: one person, one subscriber (S9).
        merge_subscribers(link.subscriber, other.subscriber)
        sync.count(step, "merged")
        return
    old_id = link.crm_id
    link.state = LinkState.UNLINKED
    link.merged_into = master
    link.save(update_fields=["state", "merged_into", "updated_at"])
    RecordLink.objects.create(
        tenant=sync.tenant, subscriber_id=link.subscriber_id, entity_type=link.entity_type,
        crm_id=master, origin=link.origin, group_id=link.group_id,
        synced_values=link.synced_values, field_sources=link.field_sources,
        needs_push=True)  # push names the subscriber
    sync.log(_("CRM %(entity)s %(old)s was merged into %(master)s; the link follows it.")
             % {"entity": link.entity_type, "old": old_id, "master": master})
    sync.count(step, "relinked")
