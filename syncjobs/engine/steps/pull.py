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
  automatically, so a record deleted on purpose is not silently recreated, and its
  permission is revoked as the tenant configured (``syncjobs.crm_deletion``, N7).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.db.models import Max, Min

from dynamics import ChangeSet
from dynamics.errors import ChangeTrackingNotEnabled, PermanentError
from dynamics.odata import is_guid
from dynamics.read_ahead import Pages, read_ahead
from mailworx_crm.entity_types import ENTITY_TYPES, entity_set, primary_key
from mailworx_crm.texts import deferred as _
from syncjobs.crm_deletion import revoke_deleted
from syncjobs.engine.context import BATCH, Sync, parse_time
from syncjobs.engine.dependents import refresh_dependents
from syncjobs.engine.entities import row_id
from syncjobs.engine.fields import select_columns
from syncjobs.engine.incoming import apply_rows
from syncjobs.models.sync import LinkState, RecordLink, SyncCursor

STEP = "pull"
OVERLAP = dt.timedelta(minutes=5)
CODE_EXPIRED_TOKEN = "0x80044352"


def run_pull(sync: Sync) -> None:
    pull_tables(sync, tables_to_read(sync))
    sync.checkpoint(STEP)


def pull_tables(sync: Sync, tables: Sequence[str], *, own_writes: bool = False) -> None:
    """Pull ``tables`` one after the other, their reads started together: each table's
    pages are a chain of requests, but the chains of several tables may travel side by
    side, and the next page while this one is written (dynamics/read_ahead.py) — where
    the client may be used from two threads (its parallel ceiling is above 1)."""
    plans = [_plan(sync, entity) for entity in tables]
    together = sync.client.parallel.ceiling > 1
    readers: list[Pages[ChangeSet]] = []
    try:
        for plan in plans:
            readers.append(read_ahead(partial(sync.client.change_pages,
                                              entity_set(plan.entity), plan.cols,
                                              plan.delta or None), enabled=together,
                                      before_wait=sync.client.transport.before_send))
        for plan, pages in zip(plans, readers, strict=True):
            pull_entity(sync, plan, pages, own_writes=own_writes)
    finally:
        for pages in readers:
            pages.close()


def tables_to_read(sync: Sync) -> list[str]:
    """Tables with linked records, and the tables their mapped lookups point at (so that a
    renamed account reaches the contacts whose company it is: syncjobs/engine/dependents.py)."""
    linked = {entity for entity in ENTITY_TYPES if RecordLink.objects.filter(
        tenant=sync.tenant, entity_type=entity, state=LinkState.ACTIVE).exists()}
    related = {mf.related_entity for entity in linked for mf in sync.all_mappings(entity)}
    return [entity for entity in ENTITY_TYPES if entity in linked or entity in related]


@dataclass
class _Plan:
    """What one table's read asks for, decided before any request."""

    entity: str
    cols: list[str]
    signature: str  # of the columns: a changed $select starts the table afresh
    cursor: SyncCursor
    delta: str


def _plan(sync: Sync, entity: str) -> _Plan:
    cols = select_columns(entity, sync.all_mappings(entity))
    signature = hashlib.sha256(",".join(cols).encode()).hexdigest()[:40]
    cursor, _new = SyncCursor.objects.get_or_create(tenant=sync.tenant, name=f"pull:{entity}")
    delta = cursor.delta_link if cursor.signature == signature else ""
    return _Plan(entity, cols, signature, cursor, delta)


def pull_entity(sync: Sync, plan: _Plan, pages: Iterator[ChangeSet], *,
                own_writes: bool = False) -> None:
    """Pull one table from ``pages`` (its change pages as ``plan`` asks for them);
    ``own_writes``: the first read right after this run's own writes."""
    entity, cols, cursor = plan.entity, plan.cols, plan.cursor
    full_read = not plan.delta
    try:
        try:
            first = next(pages)
        except PermanentError as exc:
            if exc.code != CODE_EXPIRED_TOKEN or isinstance(exc, ChangeTrackingNotEnabled):
                raise
            sync.log(_("The CRM's change token for %(entity)s expired; reading it afresh.")
                     % {"entity": entity})
            pages = sync.client.change_pages(entity_set(entity), cols)
            first = next(pages)
            full_read = True
    except ChangeTrackingNotEnabled:
        _pull_by_watermark(sync, entity, cols, cursor)
        return
    _apply_changes(sync, entity, itertools.chain([first], pages), cursor, plan.signature,
                   full_read=full_read, own_writes=own_writes)


def _apply_changes(sync: Sync, entity: str, pages: Iterator[ChangeSet], cursor: SyncCursor,
                   signature: str, *, full_read: bool, own_writes: bool) -> None:
    """Apply the read page by page in batches (memory: a page and a batch, whatever the
    table's size); the last batch waits for the end of the read and moves the cursor."""
    # A first read lists every row: a linked record missing from it was deleted before
    # tracking started (later deletions arrive as removed ids).
    seen = _SeenLinks(sync, entity) if full_read else None
    removed: list[str] = []
    delta_link = ""
    pending: list[dict[str, Any]] = []

    def advance() -> None:
        # The cursor moves with the last writes it covers (same transaction).
        mark_deleted(sync, entity, removed + (seen.missing() if seen is not None else []))
        cursor.delta_link = delta_link
        cursor.signature = signature
        cursor.save()

    for part in pages:
        removed += part.removed_ids
        delta_link = part.delta_link or delta_link
        sync.observe(STEP, "tracked_rows", len(part.rows))
        sync.add_work(len(part.rows))
        pending += part.rows
        while len(pending) > BATCH:
            rows = pending[:BATCH]
            del pending[:BATCH]
            if not full_read:
                # Before the batch's cursor moves: a crash in between reads them again.
                refresh_dependents(sync, STEP, entity, rows)
            apply_rows(sync, STEP, entity, rows, own_writes=own_writes, seen=seen)
            sync.checkpoint(STEP, len(rows))
    if not full_read:
        refresh_dependents(sync, STEP, entity, pending)
    apply_rows(sync, STEP, entity, pending, own_writes=own_writes, seen=seen, then=advance)
    sync.checkpoint(STEP, len(pending))


class _SeenLinks:
    """The active links of one table met in a full read, one bit per primary key (a million
    links: 125 KB, where a set of the read's ids took a hundred megabytes). Links made
    during the read (a merge followed) are past ``high`` and never taken for missing."""

    def __init__(self, sync: Sync, entity: str) -> None:
        self.links = RecordLink.objects.filter(tenant=sync.tenant, entity_type=entity,
                                               state=LinkState.ACTIVE)
        bounds = self.links.aggregate(low=Min("pk"), high=Max("pk"))
        self.low, self.high = bounds["low"] or 0, bounds["high"] or -1
        self.bits = bytearray((self.high - self.low) // 8 + 1)

    def add(self, pks: Iterable[int]) -> None:
        for pk in pks:
            if self.low <= pk <= self.high:
                offset = pk - self.low
                self.bits[offset >> 3] |= 1 << (offset & 7)

    def missing(self) -> list[str]:
        """CRM ids of links active before the read and still active, never met."""
        out = []
        for pk, crm_id in (self.links.filter(pk__range=(self.low, self.high))
                           .order_by().values_list("pk", "crm_id").iterator(chunk_size=2000)):
            offset = pk - self.low
            if not self.bits[offset >> 3] & (1 << (offset & 7)):
                out.append(str(crm_id))
        return out


def _pull_by_watermark(sync: Sync, entity: str, cols: list[str], cursor: SyncCursor) -> None:
    start = cursor.watermark
    first_read = start is None  # every row since the first link: nothing to refresh
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
            _watermark_batch(sync, entity, batch, cursor, first_read)
            batch = []
    if batch:
        _watermark_batch(sync, entity, batch, cursor, first_read)


def _watermark_batch(sync: Sync, entity: str, rows: list[dict[str, Any]],
                     cursor: SyncCursor, first_read: bool) -> None:
    def advance() -> None:
        last = rows[-1]
        cursor.watermark = parse_time(last.get("modifiedon")) or cursor.watermark
        cursor.last_key = row_id(entity, last)
        cursor.save()

    if not first_read:
        refresh_dependents(sync, STEP, entity, rows)
    apply_rows(sync, STEP, entity, rows, then=advance)
    sync.count(STEP, "watermark_rows", len(rows))
    sync.checkpoint(STEP, len(rows))


def prime_change_tracking(sync: Sync) -> None:
    """Start change tracking at the end of a run for tables read (``tables_to_read``) but
    never pulled.

    The first change-tracking read lists every row. Done at the start of the next run it
    would also list every record this run created or linked, so the first incremental run
    after an initial sync would cost as much as the database is large (N2). Read here,
    after the writes, the next run receives only what changed since. Not in a dry run: its
    writes never reached the CRM, so the read would take the new records for deleted ones.
    """
    if sync.dry_run:
        return
    tracked = set(SyncCursor.objects.filter(
        tenant=sync.tenant, name__in=[f"pull:{entity}" for entity in ENTITY_TYPES])
        .exclude(delta_link="", watermark__isnull=True).values_list("name", flat=True))
    pull_tables(sync, [entity for entity in tables_to_read(sync)
                       if f"pull:{entity}" not in tracked], own_writes=True)


def mark_deleted(sync: Sync, entity: str, removed: Sequence[str]) -> None:
    """Close the links of deleted records and revoke their subscribers' permission (N7).
    A merged record is not among them: it still exists, with its master, and was followed
    by ``apply_rows`` before this runs (same transaction), which closed its link."""
    removed = [i for i in removed if is_guid(i)]
    if removed:
        links = list(RecordLink.objects.filter(
            tenant=sync.tenant, entity_type=entity, state=LinkState.ACTIVE,
            crm_id__in=list(removed)).select_related("subscriber"))
        n = RecordLink.objects.filter(pk__in=[link.pk for link in links]).update(
            state=LinkState.CRM_DELETED)
        sync.count(STEP, "unlinked_deleted", n)
        revoke_deleted(sync, STEP, links)
