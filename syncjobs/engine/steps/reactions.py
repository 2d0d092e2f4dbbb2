"""reactions: mailworx reactions → CRM ``mwx_emailreaction`` activities, exactly once (S4, C5).

One activity per (mailworx campaign, subscriber), named by its alternate key
``mwx_reactionkey = "<campaign id>-<subscriber id>"`` and written with UpsertMultiple, so a
retried write never makes a second activity. It holds totals recomputed from all of the
pair's reactions (``reaction_totals``), so writing it twice never counts a reaction twice.

Which pairs are looked at: those with reactions ingested since the cursor (``reactions``,
with an overlap for rows that committed late), pairs left pending earlier (no CRM record
yet, or refused), and pairs of merged-away subscribers (their activity is emptied, the
survivor's rewritten). ``ReactionExport`` remembers what each activity holds; an unchanged
pair costs no request. Everything happens per batch of pairs: CRM campaigns first, one
UpsertMultiple, then the export rows — and on the last batch the cursor — in one
transaction, then a checkpoint (progress, pause, cancel). Campaign figures come last.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from audience.models import Campaign, Reaction, Subscriber
from dynamics.batch import OperationResult
from dynamics.errors import PrivilegeError
from mailworx_crm.crm_errors import describe
from mailworx_crm.texts import deferred as _
from mailworx_crm.texts import join
from orgsettings.connection import client_for
from syncjobs.engine.context import Sync
from syncjobs.engine.issues import (
    blocked_subscribers,
    record_issue,
    refresh_open_count,
    resolve_issues,
)
from syncjobs.engine.reaction_campaigns import (
    Owners,
    ensure_crm_campaigns,
    mark_all_figures_due,
    mark_figures_due,
    write_figures,
)
from syncjobs.engine.reaction_totals import (
    ENTITY_SET,
    TABLE,
    Pair,
    Totals,
    activity_payload,
    cleared_payload,
    digest,
    enabled_kinds,
    pair_totals,
)
from syncjobs.models.sync import (
    LinkState,
    ReactionExport,
    ReactionExportState,
    RecordLink,
    SyncCursor,
)
from syncjobs.runner import JobContext

STEP = "reactions"
BATCH = 1000  # pairs per batch = targets per UpsertMultiple (N2: ≤ 200 requests / 100,000)
# Reactions are read again for this long: a row that committed late (PostgreSQL assigns
# ids and times before commit) is still seen; pairs that did not change cost no request.
OVERLAP = dt.timedelta(minutes=5)
SKEW = dt.timedelta(minutes=1)  # clock skew between created_at and the id sequence
# Skip reasons: msgids, translated where the run's counters are shown.
HELD = gettext_noop("failed too often; waiting for a retry")
NOT_LINKED = gettext_noop("subscriber not linked to a CRM record yet")
NO_KINDS = gettext_noop("only reactions of kinds that are not exported")
WAITING_FOR_CAMPAIGN = gettext_noop("CRM campaign could not be created")
OWNER = "ownerid@odata.bind"


def run_reaction_export(ctx: JobContext) -> dict[str, Any]:
    """Job body of ``reaction_export`` runs (``syncjobs.job_bodies.BODIES``)."""
    with client_for(ctx.tenant) as client:
        sync = Sync(ctx, client)
        sync.run_steps([(STEP, run_reactions)])
    counters = ctx.counters.get(STEP, {})
    return {"written": counters.get("written", 0), "open_issues": refresh_open_count(ctx.tenant)}


def run_reactions(sync: Sync) -> None:
    org = sync.org
    kinds = enabled_kinds(org.export_opens, org.export_clicks, org.export_bounces)
    cursor, _new = SyncCursor.objects.get_or_create(tenant=sync.tenant, name=STEP)
    flags, mode = ",".join(kinds), str(org.reaction_mode)
    old_flags, _sep, old_mode = cursor.signature.partition("|")
    if cursor.watermark is not None and old_mode != mode:
        # Another figures mode (C5): every campaign written before gets the new columns.
        sync.log(_("The reaction figures mode changed; campaign figures are written again."))
        mark_all_figures_due(sync)
    rescan = cursor.watermark is None or old_flags != flags
    read_at = timezone.now()
    pairs, floor, held = candidate_pairs(sync, cursor, read_at, rescan=rescan)
    # Held pairs are remembered before the cursor can pass their reactions, so a retry of
    # the subscriber's issue finds them (N1: none is lost).
    hold_pairs(sync, held)
    cursor.watermark, cursor.last_key = read_at, str(floor)
    cursor.signature = f"{flags}|{mode}"
    sync.add_work(len(pairs))
    size = pairs_per_batch(sync)
    batches = [pairs[i:i + size] for i in range(0, len(pairs), size)]
    owners = Owners(sync)
    for index, batch in enumerate(batches):
        # The cursor moves with the export rows of the last batch (same transaction).
        final = index == len(batches) - 1
        export_batch(sync, batch, kinds, owners, cursor if final else None)
        sync.checkpoint(STEP, len(batch))
    if not batches:
        cursor.save()
    write_figures(sync, kinds)


def pairs_per_batch(sync: Sync) -> int:
    """A full UpsertMultiple (``BATCH`` targets) for every request that may run in parallel:
    the requests keep their size (round trips as before) and run at once. The campaigns of a
    batch are created before its activities are sent (``ensure_crm_campaigns``)."""
    return BATCH * sync.client.parallel.ceiling


def candidate_pairs(sync: Sync, cursor: SyncCursor, read_at: dt.datetime, *,
                    rescan: bool) -> tuple[list[Pair], int, set[Pair]]:
    """Pairs to look at, sorted (a batch then touches few campaigns), and the new id floor.

    The floor only narrows the scan to recent ids; the time window decides: a row whose
    ``created_at`` is older than the window got its id before any row still in it.
    """
    tenant = sync.tenant
    floor = 0 if rescan else int(cursor.last_key or 0)
    recent = Reaction.objects.filter(tenant=tenant, id__gt=floor)
    if not rescan and cursor.watermark is not None:
        recent = recent.filter(created_at__gte=cursor.watermark - OVERLAP)
    pairs: set[Pair] = set(recent.values_list("campaign_id", "subscriber_id").distinct())
    settled = Reaction.objects.filter(tenant=tenant, id__gt=floor,
                                      created_at__lt=read_at - OVERLAP - SKEW)
    new_floor = settled.aggregate(top=Max("id"))["top"] or floor

    exports = ReactionExport.objects.filter(tenant=tenant)
    pairs |= set(exports.filter(state=ReactionExportState.PENDING)
                 .values_list("campaign_id", "subscriber_id"))
    # Merged-away subscribers (S9): their reactions moved to the survivor, whose pair is
    # recomputed, while their own activity is emptied.
    for campaign_id, subscriber_id, survivor_id in exports.filter(
            state__in=[ReactionExportState.EXPORTED, ReactionExportState.PENDING],
            subscriber__merged_into__isnull=False).values_list(
            "campaign_id", "subscriber_id", "subscriber__merged_into_id"):
        pairs.add((campaign_id, subscriber_id))
        if survivor_id is not None:
            pairs.add((campaign_id, survivor_id))
    blocked = blocked_subscribers(tenant, STEP)
    held = {p for p in pairs if p[1] in blocked}
    if held:
        sync.skip(STEP, HELD, len(held))
        pairs -= held
    return sorted(pairs), new_floor, held


def hold_pairs(sync: Sync, held: set[Pair]) -> None:
    """Pairs of subscribers whose issue used up its attempts: pending until a retry."""
    if not held:
        return
    known = {(e.campaign_id, e.subscriber_id): e for e in ReactionExport.objects.filter(
        tenant=sync.tenant, subscriber_id__in={p[1] for p in held})}
    with transaction.atomic():
        ReactionExport.objects.bulk_create([
            ReactionExport(tenant=sync.tenant, campaign_id=c, subscriber_id=s,
                           state=ReactionExportState.PENDING, reason=HELD)
            for c, s in held if (c, s) not in known])
        ReactionExport.objects.filter(pk__in=[e.pk for p, e in known.items() if p in held],
                                      state=ReactionExportState.EXPORTED).update(
            state=ReactionExportState.PENDING, reason=HELD)


@dataclass
class _Batch:
    writes: list[tuple[Pair, dict[str, Any], str, Totals]] = field(default_factory=list)
    pending: dict[Pair, tuple[str, Totals]] = field(default_factory=dict)  # reason, totals
    done: list[Pair] = field(default_factory=list)  # nothing to write, forget the row
    changed: set[int] = field(default_factory=set)  # campaigns whose figures are due


def export_batch(sync: Sync, batch: list[Pair], kinds: list[str], owners: Owners,
                 cursor: SyncCursor | None) -> None:
    campaigns = {c.pk: c for c in Campaign.objects.filter(pk__in={p[0] for p in batch})}
    without_crm = ensure_crm_campaigns(sync, campaigns, owners)
    totals = pair_totals(sync.tenant, batch, kinds)
    subscribers = {s.pk: s for s in Subscriber.objects.filter(pk__in={p[1] for p in batch})}
    links = {link.subscriber_id: link for link in RecordLink.objects.filter(
        subscriber_id__in=list(subscribers), state=LinkState.ACTIVE)}
    exports = {(e.campaign_id, e.subscriber_id): e for e in ReactionExport.objects.filter(
        campaign_id__in=list(campaigns), subscriber_id__in=list(subscribers))}
    plan = _Batch()
    # The activity is CRM data: its subject is in the tenant's language, whoever started
    # the run, so that the payload (and its digest) does not change with the requester.
    with translation.override(sync.tenant.default_language or None):
        for pair in batch:
            _plan_pair(sync, pair, campaigns[pair[0]], subscribers.get(pair[1]),
                       totals.get(pair, Totals()), exports.get(pair), links, kinds,
                       owners, without_crm, plan)
    results: list[OperationResult] = []
    if plan.writes:
        results = sync.client.upsert_multiple(ENTITY_SET, TABLE, [w[1] for w in plan.writes],
                                              chunk_size=BATCH)
        results = _again_without_owner(sync, plan, results)
    with transaction.atomic():
        _save(sync, plan, results, exports, campaigns)
        if cursor is not None:
            cursor.save()


def _plan_pair(sync: Sync, pair: Pair, campaign: Campaign, subscriber: Subscriber | None,
               totals: Totals, export: ReactionExport | None, links: dict[int, RecordLink],
               kinds: list[str], owners: Owners, without_crm: set[int], plan: _Batch) -> None:
    # The CRM holds an activity with reactions for this pair (it may be pending again).
    holds = (export is not None and export.exported_at is not None
             and export.state != ReactionExportState.CLEARED)
    if export is None or export.totals != totals.counts():
        plan.changed.add(pair[0])
    if totals.empty:
        if holds:
            payload = cleared_payload(pair, campaign)
            plan.writes.append((pair, payload, digest(payload), totals))
        else:
            if export is None or export.state == ReactionExportState.PENDING:
                sync.skip(STEP, NO_KINDS)
            plan.done.append(pair)
        return
    link = links.get(pair[1])
    if pair[0] in without_crm:
        plan.pending[pair] = (WAITING_FOR_CAMPAIGN, totals)
        sync.skip(STEP, WAITING_FOR_CAMPAIGN)
        return
    if link is None or subscriber is None:
        # Not an error: the match step links the subscriber later; this pair waits.
        plan.pending[pair] = (NOT_LINKED, totals)
        sync.skip(STEP, NOT_LINKED)
        return
    payload = activity_payload(pair, campaign, totals, kinds, entity_type=link.entity_type,
                               crm_id=str(link.crm_id), email=subscriber.email)
    payload_digest = digest(payload)
    if (export is not None and export.state == ReactionExportState.EXPORTED
            and export.digest == payload_digest):
        sync.count(STEP, "unchanged")
        return
    if export is None or export.exported_at is None:
        # Only the first write names the owner: changing it later would be an assign,
        # a privilege the connector's CRM role does not need (docs/crm-solution.md §6).
        owner = owners.bind(campaign)
        if owner:
            payload[OWNER] = owner
    plan.writes.append((pair, payload, payload_digest, totals))
    plan.changed.add(pair[0])


def _save(sync: Sync, plan: _Batch, results: list[OperationResult],
          exports: dict[Pair, ReactionExport], campaigns: dict[int, Campaign]) -> None:
    now = timezone.now()
    rows: list[ReactionExport] = []

    def row(pair: Pair) -> ReactionExport:
        export = exports.get(pair) or ReactionExport(
            tenant=sync.tenant, campaign_id=pair[0], subscriber_id=pair[1])
        export.updated_at = now  # bulk_update does not apply auto_now
        rows.append(export)
        return export

    failed_subscribers: set[int] = set()
    ok_subscribers: set[int] = set()
    for (pair, _payload, payload_digest, totals), result in zip(plan.writes, results,
                                                                 strict=True):
        export = row(pair)
        export.totals = totals.counts()
        if result.ok:
            cleared = totals.empty
            export.state = (ReactionExportState.CLEARED if cleared
                            else ReactionExportState.EXPORTED)
            export.digest, export.reason = payload_digest, ""
            export.exported_at = export.exported_at or now
            ok_subscribers.add(pair[1])
            sync.count(STEP, "cleared" if cleared else "written")
        else:
            export.state, export.reason = ReactionExportState.PENDING, "refused by the CRM"
            failed_subscribers.add(pair[1])
            _failed(sync, pair, campaigns[pair[0]], result)
    for pair, (reason, totals) in plan.pending.items():
        # ``digest`` keeps naming what the CRM holds (if anything): it is rewritten later.
        export = row(pair)
        export.state, export.reason, export.totals = (
            ReactionExportState.PENDING, reason, totals.counts())
    new = [r for r in rows if r.pk is None]
    ReactionExport.objects.bulk_create(new)
    ReactionExport.objects.bulk_update(
        [r for r in rows if r.pk is not None and r not in new],
        ["state", "digest", "totals", "reason", "exported_at", "updated_at"])
    forget = [exports[p].pk for p in plan.done
              if p in exports and exports[p].state == ReactionExportState.PENDING]
    if forget:
        ReactionExport.objects.filter(pk__in=forget).delete()
    resolve_issues(sync.tenant, STEP, ok_subscribers - failed_subscribers,
                   run_id=sync.ctx.run_id)
    mark_figures_due(sync, plan.changed)


def _again_without_owner(sync: Sync, plan: _Batch,
                         results: list[OperationResult]) -> list[OperationResult]:
    """A first write names the owner; if an earlier attempt already made the activity (its
    answer was lost), that write is an assign, which the "mailworx User" role may not do.
    Such targets go once more without the owner — the earlier attempt set it."""
    again = [i for i, ((_p, payload, _d, _t), result) in enumerate(zip(plan.writes, results,
                                                                         strict=True))
             if isinstance(result.error, PrivilegeError) and OWNER in payload]
    if not again:
        return results
    retried = sync.client.upsert_multiple(
        ENTITY_SET, TABLE, [{k: v for k, v in plan.writes[i][1].items() if k != OWNER}
                            for i in again], chunk_size=BATCH)
    out = list(results)
    for i, result in zip(again, retried, strict=True):
        out[i] = result
    return out


def _failed(sync: Sync, pair: Pair, campaign: Campaign, result: OperationResult) -> None:
    error = result.error
    reason = _("The CRM refused the reaction activity for the campaign “%(name)s”.") % {
        "name": campaign.name}
    stored = join(reason, describe(error)) if error is not None else reason
    record_issue(sync.tenant, step=STEP, run_id=sync.ctx.run_id, subscriber_id=pair[1],
                 entity_type=TABLE, code=(error.code or "") if error else "", reason=stored,
                 hint=_("Check the subscriber's CRM record and the campaign in the CRM; the "
                        "next reaction export tries again."))
    sync.count(STEP, "failed")
