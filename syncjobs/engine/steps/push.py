"""push: mailworx → CRM — planned creates, changed mapped fields, unsubscribes (S11, S13).

* Creates: the match step stored each new record's id (``uuid4``) in a *pending* link
  before any request. The create sends that id; after a crash the retried create either
  succeeds or answers that the record exists (412), which counts as done — a second
  record can never appear (N1).
* Updates: links whose subscriber changed since the cursor (or marked ``needs_push``); only
  the columns whose mailworx value differs from the value last synced are sent.
* Unsubscribes set ``donotbulkemail`` when the tenant writes them back (C4, S13).
Bulk messages are used where the table supports them; the client falls back to ``$batch``
itself and reports one result per record, so one bad record never stops the others.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.translation import gettext_noop

from audience.models import ConsentState, Subscriber, SubscriberStatus, SubscriberValue
from dynamics.batch import OperationResult
from dynamics.bulk import BULK_CHUNK
from mailworx_crm.crm_errors import describe
from mailworx_crm.entity_types import ENTITY_TYPES, entity_set, primary_key
from mailworx_crm.texts import deferred as _
from syncjobs.engine.apply import SubValues, subscriber_values
from syncjobs.engine.context import Sync
from syncjobs.engine.entities import SUBSCRIBER_ID
from syncjobs.engine.fields import same, to_crm
from syncjobs.engine.issues import OPEN_STATES, blocked_subscribers, record_issue, resolve_issues
from syncjobs.engine.linkstore import save_link_rows
from syncjobs.engine.provenance import pushed_sources
from syncjobs.engine.steps.pull import prime_change_tracking
from syncjobs.models.sync import LinkState, RecordLink, SyncCursor, SyncIssue

STEP = "push"
# Links per batch: one bulk message (the client splits it into chunks of its own) and one
# transaction; larger than the engine's BATCH because each costs a round trip.
PUSH_BATCH = 1000
OVERLAP = dt.timedelta(minutes=5)  # late commits on the mailworx side are still seen
# Columns a new record cannot do without; filled from the address when no mapping did.
_NAME_FALLBACKS = {"contact": ("lastname",), "account": ("name",),
                   "lead": ("lastname", "subject")}


def run_push(sync: Sync, *, subscriber_id: int | None = None,
             group_id: int | None = None) -> None:
    blocked = blocked_subscribers(sync.tenant, STEP)
    links = RecordLink.objects.filter(tenant=sync.tenant).exclude(subscriber_id__in=blocked)
    if subscriber_id is not None:
        links = links.filter(subscriber_id=subscriber_id)
    if group_id is not None:
        links = links.filter(subscriber__memberships__group_id=group_id)
    _creates(sync, links.filter(state=LinkState.PENDING))
    scoped = subscriber_id is not None or group_id is not None
    _updates(sync, links.filter(state=LinkState.ACTIVE), scoped=scoped)
    if not scoped:
        prime_change_tracking(sync)


def _batches(sync: Sync, qs: QuerySet[RecordLink], entity: str) -> Iterator[list[int]]:
    """Link ids per batch, one page at a time (keyset on the primary key): memory stays
    one batch however many links the tenant has."""
    qs = qs.filter(entity_type=entity).order_by("pk")
    sync.add_work(qs.count())
    # A batch holds a full chunk per request the client may send at once (dynamics/parallel.py).
    size = max(PUSH_BATCH, BULK_CHUNK * sync.client.parallel.ceiling)
    last = 0
    while ids := list(qs.filter(pk__gt=last).values_list("pk", flat=True)[:size]):
        yield ids
        last = ids[-1]


class _Link(NamedTuple):
    """What push needs of a link, read as a tuple: model instances of links and their
    subscribers cost several times the query itself."""

    pk: int
    crm_id: uuid.UUID
    entity_type: str
    group_id: int | None
    subscriber_id: int
    create_owner: uuid.UUID | None
    synced_values: dict[str, Any]
    email: str
    consent: str  # the subscriber's permission (audience ConsentState)
    field_sources: dict[str, Any]  # provenance (syncjobs/engine/provenance.py)


_LINK_COLUMNS = ("pk", "crm_id", "entity_type", "group_id", "subscriber_id", "create_owner",
                 "synced_values", "subscriber__email", "subscriber__consent", "field_sources")


def _load(ids: list[int]) -> list[_Link]:
    return [_Link(*row) for row in RecordLink.objects.filter(pk__in=ids).order_by("pk")
            .values_list(*_LINK_COLUMNS)]


# -- creates -----------------------------------------------------------------------------


def _creates(sync: Sync, pending: QuerySet[RecordLink]) -> None:
    open_issues = _open_issues(sync)
    for entity in ENTITY_TYPES:
        for ids in _batches(sync, pending, entity):
            batch = _load(ids)
            values = subscriber_values((link.subscriber_id for link in batch),
                                       with_modified=False)
            payloads = [_create_payload(sync, link, values.get(link.subscriber_id, {}))
                        for link in batch]
            results = sync.client.create_multiple(
                entity_set(entity), entity, [p for p, _s in payloads])
            done: list[list[Any]] = []
            with transaction.atomic():
                if any(result.already_existed for result in results):
                    _read_table_afresh(sync, entity)
                for link, (payload, synced), result in zip(batch, payloads, results,
                                                           strict=True):
                    # Also when an earlier attempt already created it (N1, above).
                    if result.ok:
                        sources = pushed_sources(link.field_sources, sync.ctx.run_id, synced,
                                                 created=True)
                        done.append([LinkState.ACTIVE, synced, sources,
                                     bool(payload.get("donotbulkemail")), True, False, link.pk])
                        sync.count(STEP, "created")
                    else:
                        _failed(sync, link, result)
                save_link_rows(["state", "synced_values", "field_sources", "bulk_email_blocked",
                                "subscriber_id_written", "needs_push"], done)
                created = {row[-1] for row in done}
                resolve_issues(sync.tenant, STEP, [
                    link.subscriber_id for link in batch
                    if link.pk in created and link.subscriber_id in open_issues],
                    run_id=sync.ctx.run_id)
            sync.checkpoint(STEP, len(batch))


def _read_table_afresh(sync: Sync, entity: str) -> None:
    """Records an earlier, interrupted attempt created may predate the pull cursor (the
    resumed run's pull took its change token before push re-landed them): they were never
    read back, so their CRM-only columns would never come over (N1: end as uninterrupted).
    The next read of the table starts afresh — the end of this push (``prime_change_tracking``)
    or the next pull. Rows already applied are skipped by their version, so only those
    records are applied; the cost is one full read, and only after a crash."""
    SyncCursor.objects.filter(tenant=sync.tenant, name=f"pull:{entity}").update(
        delta_link="", watermark=None, last_key="")


def _create_payload(sync: Sync, link: _Link,
                    values: SubValues) -> tuple[dict[str, Any], dict[str, Any]]:
    email = link.email
    unit_id = sync.unit_for_group(link.group_id)
    record: dict[str, Any] = {primary_key(link.entity_type): str(link.crm_id),
                              "emailaddress1": email,
                              SUBSCRIBER_ID: str(link.subscriber_id)}
    synced: dict[str, Any] = {}
    for mf in sync.mappings(unit_id, link.entity_type):
        value = values.get(mf.key, ("", None))[0]
        if not mf.two_way or value == "":
            continue
        crm = to_crm(mf, value)
        if crm is not None:
            record[mf.attribute] = crm
            synced[mf.key] = value
    for column in _NAME_FALLBACKS[link.entity_type]:
        record.setdefault(column, email.split("@")[0] if column != "subject"
                          else _("Newsletter subscriber %(email)s") % {"email": email})
    if link.create_owner:
        record["ownerid@odata.bind"] = f"/systemusers({link.create_owner})"
    if (ConsentState(link.consent).status == SubscriberStatus.UNSUBSCRIBED
            and sync.org.write_back_unsubscribes):
        record["donotbulkemail"] = True
    return record, synced


# -- updates -----------------------------------------------------------------------------


def _updates(sync: Sync, active: QuerySet[RecordLink], *, scoped: bool) -> None:
    cursor, _new = SyncCursor.objects.get_or_create(tenant=sync.tenant, name=STEP)
    now = sync.started
    candidates = active
    if cursor.watermark is not None and not scoped:
        since = cursor.watermark - OVERLAP
        changed = SubscriberValue.objects.filter(
            tenant=sync.tenant, modified_at__gte=since).values("subscriber_id")
        status = Subscriber.objects.filter(
            tenant=sync.tenant, consent_changed_at__gte=since).values("pk")
        candidates = active.filter(Q(needs_push=True) | Q(subscriber_id__in=changed)
                                   | Q(subscriber_id__in=status))
    cursor.watermark = now
    batches = ((e, b) for e in ENTITY_TYPES for b in _batches(sync, candidates, e))
    open_issues = _open_issues(sync)
    current = next(batches, None)
    if current is None and not scoped:
        cursor.save()
    while current is not None:
        # One batch read ahead: the cursor moves with the writes of the last batch (same
        # transaction). The next page starts after this one's ids, so this batch's writes
        # cannot change it.
        following = next(batches, None)
        entity, ids = current
        final = following is None and not scoped
        _update_batch(sync, entity, ids, cursor if final else None, open_issues)
        sync.checkpoint(STEP, len(ids))
        current = following


def _open_issues(sync: Sync) -> set[int]:
    """Subscribers with an open push issue: only they need resolving after a success."""
    return set(SyncIssue.objects.filter(
        tenant=sync.tenant, step=STEP, state__in=OPEN_STATES, subscriber__isnull=False
    ).values_list("subscriber_id", flat=True))


# What the update diff reads of a link, as a tuple (no model instances).
_DIFF_TUPLE = ("pk", "crm_active", "needs_push", "synced_values", "bulk_email_blocked",
               "subscriber_id_written", "group_id", "subscriber_id", "subscriber__consent",
               "crm_id", "field_sources")


def _update_batch(sync: Sync, entity: str, ids: list[int],
                  cursor: SyncCursor | None, open_issues: set[int]) -> None:
    rows = list(RecordLink.objects.filter(pk__in=ids).order_by("pk").values_list(*_DIFF_TUPLE))
    values = subscriber_values((row[7] for row in rows), with_modified=False)
    # Per link to send: the link, its record, what it means in mailworx, and the link's
    # flags as read (bulk email blocked, subscriber id written).
    todo: list[tuple[_Link, dict[str, Any], dict[str, Any], bool, bool]] = []
    cleared: list[list[Any]] = []
    for (pk, crm_active, needs_push, synced, blocked, id_written, group_id, subscriber_id,
         status, crm_id, sources) in rows:
        if not crm_active:
            sync.skip(STEP, gettext_noop("deactivated in the CRM"))
            continue
        record, sent = _diff(sync, entity, group_id, synced, blocked, status,
                             values.get(subscriber_id, {}))
        if not id_written:
            # In the same bulk update as the record's other changes (no request of its own).
            record[SUBSCRIBER_ID] = str(subscriber_id)
        if record:
            record[primary_key(entity)] = str(crm_id)
            link = _Link(pk, crm_id, entity, group_id, subscriber_id, None, synced, "", status,
                         sources)
            todo.append((link, record, sent, blocked, id_written))
        elif needs_push:
            cleared.append([False, pk])
    save_link_rows(["needs_push"], cleared)
    if not todo:
        if cursor is not None:
            cursor.save()
        return
    results = sync.client.update_multiple(entity_set(entity), entity,
                                          [t[1] for t in todo])
    done: list[list[Any]] = []
    deleted: list[list[Any]] = []
    with transaction.atomic():
        if cursor is not None:
            cursor.save()
        for (link, record, sent, blocked, id_written), result in zip(todo, results,
                                                                     strict=True):
            if result.ok:
                sync.count(STEP, "updated")
                if record.get("donotbulkemail"):
                    blocked = True
                    sync.count(STEP, "unsubscribes_written")
                if SUBSCRIBER_ID in record:
                    id_written = True
                    sync.count(STEP, "subscriber_ids_written")
                done.append([{**link.synced_values, **sent},
                             pushed_sources(link.field_sources, sync.ctx.run_id, sent),
                             blocked, id_written, False, link.pk])
            elif result.status == 404:
                deleted.append([LinkState.CRM_DELETED, link.pk])
                sync.count(STEP, "unlinked_deleted")
            else:
                _failed(sync, link, result)
        save_link_rows(["state"], deleted)
        save_link_rows(["synced_values", "field_sources", "bulk_email_blocked",
                        "subscriber_id_written", "needs_push"], done)
        updated = {row[-1] for row in done}
        resolve_issues(sync.tenant, STEP, [
            link.subscriber_id for link, *_rest in todo
            if link.pk in updated and link.subscriber_id in open_issues],
            run_id=sync.ctx.run_id)


def _diff(sync: Sync, entity: str, group_id: int | None, synced: dict[str, Any],
          bulk_email_blocked: bool, status: str,
          values: SubValues) -> tuple[dict[str, Any], dict[str, Any]]:
    """Changed columns (CRM form) and what they mean on the mailworx side."""
    record: dict[str, Any] = {}
    sent: dict[str, Any] = {}
    for mf in sync.mappings(sync.unit_for_group(group_id), entity):
        if not mf.two_way:
            continue
        value = values.get(mf.key, ("", None))[0]
        if mf.key in synced:
            if same(mf, value, str(synced[mf.key])):
                continue
        elif value == "":
            continue
        crm = to_crm(mf, value)
        if crm is None and value != "":
            sync.skip(STEP, gettext_noop("mailworx option without a CRM value"))
            continue
        record[mf.attribute] = crm
        sent[mf.key] = value
    if (sync.org.write_back_unsubscribes and not bulk_email_blocked
            and ConsentState(status).status == SubscriberStatus.UNSUBSCRIBED):
        record["donotbulkemail"] = True
    return record, sent


def _failed(sync: Sync, link: _Link, result: OperationResult) -> None:
    error = result.error
    reason = describe(error) if error is not None else _(
        "The CRM refused the change (HTTP %(status)s).") % {"status": result.status}
    record_issue(sync.tenant, step=STEP, run_id=sync.ctx.run_id,
                 subscriber_id=link.subscriber_id, entity_type=link.entity_type,
                 crm_id=link.crm_id, code=(error.code or "") if error else "", reason=reason,
                 hint=_("Correct the subscriber's value or the CRM record; the next sync "
                        "retries it."))
    sync.count(STEP, "failed")
