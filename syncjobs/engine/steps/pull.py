"""pull: CRM → mailworx — changes since the cursor for linked records (S2, S11, S13, C6).

Per table: change tracking (the delta link is the cursor) where the table allows it,
otherwise a ``modifiedon ge <watermark − overlap>`` query ordered by ``modifiedon`` and the
primary key; rows whose ``versionnumber`` the link already holds are skipped, so the
overlap never applies a change twice. A changed ``$select`` (new mapping) or an expired
delta token starts the table afresh. Rows of records nobody linked are ignored.

What a row can mean (decisions where the rules are silent):
* deactivated → the link stays, nothing is pulled or pushed until it is active again;
* qualified lead → never comes over (S2), like a deactivated record;
* merged (``_masterid_value``) → the link follows the surviving record;
* deleted → the link is closed as ``crm_deleted``; the subscriber is never matched again
  automatically, so a record deleted on purpose is not silently recreated.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Min
from django.utils.translation import gettext as _

from dynamics.errors import ChangeTrackingNotEnabled, PermanentError
from dynamics.odata import is_guid
from mailworx_crm.entity_types import ENTITY_TYPES, entity_set, is_qualified_lead, primary_key
from syncjobs.engine.apply import apply_many, subscriber_values
from syncjobs.engine.context import BATCH, Sync, parse_time
from syncjobs.engine.entities import is_active, merged_master, row_id
from syncjobs.engine.fields import UNMAPPED, crm_value, related_values, same, select_columns
from syncjobs.engine.linkstore import APPLIED_FIELDS, save_link_rows, save_links
from syncjobs.engine.merge import merge_subscribers
from syncjobs.engine.steps.match import reset_unmatched, unlinked_addresses_known
from syncjobs.models.sync import HOLDING_STATES, LinkState, RecordLink, SyncCursor

STEP = "pull"
OVERLAP = dt.timedelta(minutes=5)
CODE_EXPIRED_TOKEN = "0x80044352"


def run_pull(sync: Sync) -> None:
    for entity in ENTITY_TYPES:
        if RecordLink.objects.filter(tenant=sync.tenant, entity_type=entity,
                                     state=LinkState.ACTIVE).exists():
            pull_entity(sync, entity)
    sync.checkpoint(STEP)


def pull_entity(sync: Sync, entity: str, *, own_writes: bool = False) -> None:
    """Pull one table; ``own_writes``: the first read right after this run's own writes."""
    cols = select_columns(entity, sync.all_mappings(entity))
    signature = hashlib.sha256(",".join(cols).encode()).hexdigest()[:40]
    cursor, _new = SyncCursor.objects.get_or_create(tenant=sync.tenant, name=f"pull:{entity}")
    delta = cursor.delta_link if cursor.signature == signature else None
    full_read = not delta
    try:
        try:
            changes = sync.client.track_changes(entity_set(entity), cols, delta or None)
        except PermanentError as exc:
            if exc.code != CODE_EXPIRED_TOKEN or isinstance(exc, ChangeTrackingNotEnabled):
                raise
            sync.log(_("The CRM's change token for %(entity)s expired; reading it afresh.")
                     % {"entity": entity})
            changes = sync.client.track_changes(entity_set(entity), cols)
            full_read = True
    except ChangeTrackingNotEnabled:
        _pull_by_watermark(sync, entity, cols, cursor)
        return
    sync.count(STEP, "tracked_rows", len(changes.rows))
    removed = list(changes.removed_ids)
    if full_read:
        # A first read lists every row: a linked record missing from it was deleted before
        # tracking started (later deletions arrive as removed ids).
        present = {row_id(entity, r) for r in changes.rows}
        removed += [str(i) for i in RecordLink.objects.filter(
            tenant=sync.tenant, entity_type=entity, state=LinkState.ACTIVE
        ).values_list("crm_id", flat=True) if str(i) not in present]
    sync.add_work(len(changes.rows))
    batches = [changes.rows[i:i + BATCH] for i in range(0, len(changes.rows), BATCH)] or [[]]
    for index, rows in enumerate(batches):
        with transaction.atomic():
            apply_rows(sync, STEP, entity, rows, own_writes=own_writes)
            if index == len(batches) - 1:
                mark_deleted(sync, entity, removed)
                # The cursor moves with the last writes it covers (same transaction).
                cursor.delta_link = changes.delta_link or ""
                cursor.signature = signature
                cursor.save()
        sync.checkpoint(STEP, len(rows))


def _pull_by_watermark(sync: Sync, entity: str, cols: list[str], cursor: SyncCursor) -> None:
    start = cursor.watermark
    if start is None:
        start = RecordLink.objects.filter(tenant=sync.tenant, entity_type=entity).aggregate(
            first=Min("created_at"))["first"] or sync.started
    since = (start - OVERLAP).astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    pk = primary_key(entity)
    rows = sync.client.query(entity_set(entity), select=cols, filter=f"modifiedon ge {since}",
                             orderby=f"modifiedon asc,{pk} asc", page_size=1000)
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            _watermark_batch(sync, entity, batch, cursor)
            batch = []
    if batch:
        _watermark_batch(sync, entity, batch, cursor)


def _watermark_batch(sync: Sync, entity: str, rows: list[dict[str, Any]],
                     cursor: SyncCursor) -> None:
    with transaction.atomic():
        apply_rows(sync, STEP, entity, rows)
        last = rows[-1]
        cursor.watermark = parse_time(last.get("modifiedon")) or cursor.watermark
        cursor.last_key = row_id(entity, last)
        cursor.save()
    sync.count(STEP, "watermark_rows", len(rows))
    sync.checkpoint(STEP, len(rows))


def apply_rows(sync: Sync, step: str, entity: str, rows: Sequence[dict[str, Any]], *,
               prefer_crm_when_new: bool = False, force: bool = False,
               own_writes: bool = False) -> None:
    """Apply CRM rows to the active links they belong to (the caller holds a transaction).

    The links are first read as tuples: rows already applied (and, with ``own_writes``,
    rows that only echo what the link last synced, see ``_echoes``) never load a model
    instance or their subscriber.
    """
    known: dict[str, tuple[Any, ...]] = {}
    ids = [row_id(entity, r) for r in rows]
    for start in range(0, len(ids), 500):
        known.update({str(t[1]): t for t in RecordLink.objects.filter(
            tenant=sync.tenant, entity_type=entity, state=LinkState.ACTIVE,
            crm_id__in=ids[start:start + 500]).values_list(*_LINK_TUPLE)})
    pending: list[dict[str, Any]] = []
    echoed: list[list[Any]] = []
    strangers: list[str] = []
    for row in rows:
        known_link = known.get(row_id(entity, row))
        if known_link is None:
            if is_active(row) and not is_qualified_lead(entity, row):
                strangers.append(str(row.get("emailaddress1") or ""))
            continue
        pk, _crm_id, link_version, link_active, synced, blocked, group_id, origin = known_link
        version = row.get("versionnumber")
        if (not force and version is not None and link_version == int(version)
                and link_active == is_active(row)):
            sync.skip(step, "already applied")
            continue
        if own_writes and not blocked and _echoes(sync, entity, row, synced, group_id, origin):
            echoed.append([True, parse_time(row.get("modifiedon")),
                           int(version) if version is not None else None, pk])
            continue
        pending.append(row)
    if echoed:
        # Nothing to resolve: the link only learns the record's version (as ``_finish``).
        save_link_rows(["crm_active", "crm_modifiedon", "crm_versionnumber"], echoed)
        sync.skip(step, "our own values read back", len(echoed))
    links: dict[str, RecordLink] = {}
    wanted = [row_id(entity, r) for r in pending]
    for start in range(0, len(wanted), 500):
        links.update({str(link.crm_id): link for link in RecordLink.objects.filter(
            tenant=sync.tenant, entity_type=entity, state=LinkState.ACTIVE,
            crm_id__in=wanted[start:start + 500]).select_related("subscriber")})
    live: list[tuple[RecordLink, dict[str, Any]]] = []
    inactive: list[RecordLink] = []
    for row in pending:
        link = links.get(row_id(entity, row))
        if link is None:
            continue
        version = row.get("versionnumber")
        master = merged_master(row)
        if master:
            follow_merge(sync, step, link, master)
        elif is_qualified_lead(entity, row) or not is_active(row):
            if link.crm_active:
                link.crm_active = False
                link.crm_versionnumber = int(version) if version is not None else None
                inactive.append(link)
            sync.skip(step, "qualified lead" if is_qualified_lead(entity, row)
                      else "deactivated in the CRM")
        elif not sync.pull_allowed(link.origin):
            sync.skip(step, "bidirectional sync off")
        else:
            live.append((link, row))
    save_links(inactive, ["crm_active", "crm_versionnumber"])
    if strangers and unlinked_addresses_known(sync, strangers):
        # A record nobody linked carries the address of an unlinked subscriber: the next
        # match looks the unlinked subscribers up again (saved with this batch's cursor).
        reset_unmatched(sync)
    if not live:
        return
    values = subscriber_values(link.subscriber_id for link, _r in live)
    by_unit: dict[int | None, list[tuple[RecordLink, dict[str, Any]]]] = {}
    for link, row in live:
        by_unit.setdefault(sync.unit_for_group(link.group_id), []).append((link, row))
    for unit_id, items in by_unit.items():
        mapped = sync.mappings(unit_id, entity)
        related = related_values(sync.client, [r for _l, r in items], mapped)
        done = apply_many(sync, step, [(link, link.subscriber, mapped, row)
                                       for link, row in items], related, values,
                          prefer_crm_when_new=prefer_crm_when_new)
        save_links(done, APPLIED_FIELDS)
        sync.count(step, "records", len(items))


_LINK_TUPLE = ("pk", "crm_id", "crm_versionnumber", "crm_active", "synced_values",
               "bulk_email_blocked", "group_id", "origin")


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


def prime_change_tracking(sync: Sync) -> None:
    """Start change tracking at the end of a run for tables linked but never pulled.

    The first change-tracking read lists every row. Done at the start of the next run it
    would also list every record this run created or linked, so the first incremental run
    after an initial sync would cost as much as the database is large (N2). Read here,
    after the writes, the next run receives only what changed since. Not in a dry run: its
    writes never reached the CRM, so the read would take the new records for deleted ones.
    """
    if sync.dry_run:
        return
    for entity in ENTITY_TYPES:
        cursor = SyncCursor.objects.filter(tenant=sync.tenant, name=f"pull:{entity}").first()
        if cursor is not None and (cursor.delta_link or cursor.watermark):
            continue
        if RecordLink.objects.filter(tenant=sync.tenant, entity_type=entity,
                                     state=LinkState.ACTIVE).exists():
            pull_entity(sync, entity, own_writes=True)


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
        synced_values=link.synced_values)
    sync.log(_("CRM %(entity)s %(old)s was merged into %(master)s; the link follows it.")
             % {"entity": link.entity_type, "old": old_id, "master": master})
    sync.count(step, "relinked")


def mark_deleted(sync: Sync, entity: str, removed: Sequence[str]) -> None:
    removed = [i for i in removed if is_guid(i)]
    if removed:
        n = RecordLink.objects.filter(tenant=sync.tenant, entity_type=entity,
                                      state=LinkState.ACTIVE, crm_id__in=list(removed)
                                      ).update(state=LinkState.CRM_DELETED)
        sync.count(STEP, "unlinked_deleted", n)
