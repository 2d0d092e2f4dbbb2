"""The job body of ``sync`` runs: the steps of the requested mode, in order.

Modes: ``incremental`` (pull → match → push → journeys → lists → campaigns), ``full``
(reconcile first), ``group`` (pull → match → push → lists, limited to one group),
``subscriber`` (pull → match → push for one subscriber), ``backfill`` (S14), ``reconcile``,
``lists`` (marketing lists only: S1, S6, S10; ``list_id`` limits it to one list, ``mark``
marks that list for sync first) and ``campaigns`` (distributed campaign activities only: S3;
``activity_id`` limits it to one). A resumed run (``ctx.attempt > 1``) simply runs the
steps again: each continues from its cursors and links and repeats nothing twice.

While a field mapping saved after records were linked has not been applied to them
(``steps.backfill.backfill_pending``, S14), ``incremental`` and ``full`` runs — and their
dry runs — do the ``backfill`` step first: the first sync after adding a mapping fills the
newly mapped fields of the records linked already instead of leaving them empty.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.utils import timezone

from mailworx_crm.planner_statistics import refresh_planner_statistics
from mailworx_crm.texts import as_column, stored_text
from mailworx_crm.texts import deferred as _
from orgsettings.connection import client_for
from syncjobs.engine.context import Sync, SyncPaused
from syncjobs.engine.dry_run import run_dry
from syncjobs.engine.issues import refresh_open_count
from syncjobs.engine.steps.backfill import backfill_pending, run_backfill
from syncjobs.engine.steps.campaigns import run_campaigns
from syncjobs.engine.steps.journeys import run_journeys
from syncjobs.engine.steps.lists import run_lists
from syncjobs.engine.steps.match import run_match
from syncjobs.engine.steps.pull import run_pull
from syncjobs.engine.steps.push import run_push
from syncjobs.engine.steps.reconcile import run_reconcile
from syncjobs.models.sync import SyncStatus
from syncjobs.runner import JobCancelled, JobContext, explain

MODES = ("full", "incremental", "backfill", "reconcile", "group", "subscriber", "lists",
         "campaigns", "crm_events")
# Modes that run the backfill first while one is pending (S14).
BACKFILL_FIRST = ("incremental", "full")


def steps_for(mode: str, params: dict[str, Any], *, backfill: bool = False
              ) -> list[tuple[str, Callable[[Sync], None]]]:
    """The steps of ``mode``; ``backfill``: a backfill is pending, and the mode runs it
    first (after the reconcile of a full run, which closes links a backfill need not read).
    """
    group_id = params.get("group_id")
    subscriber_id = params.get("subscriber_id")
    scope = {"group_id": group_id, "subscriber_id": subscriber_id}
    incremental = [
        ("pull", run_pull),
        ("match", lambda s: run_match(s, **scope)),
        ("push", lambda s: run_push(s, **scope)),
    ]
    list_id = params.get("list_id")
    lists: tuple[str, Callable[[Sync], None]] = (
        "lists", lambda s: run_lists(s, group_id=group_id, list_id=list_id,
                                     mark=bool(params.get("mark"))))
    campaigns: tuple[str, Callable[[Sync], None]] = (
        "campaigns", lambda s: run_campaigns(s, activity_id=params.get("activity_id")))
    # Consent in Customer Insights – Journeys is kept per address, for the whole tenant.
    journeys: tuple[str, Callable[[Sync], None]] = ("journeys", run_journeys)
    plans: dict[str, list[tuple[str, Callable[[Sync], None]]]] = {
        "incremental": [*incremental, journeys, lists, campaigns],
        "group": [*incremental, lists],
        "subscriber": incremental,
        "full": [("reconcile", run_reconcile), *incremental, journeys, lists, campaigns],
        "backfill": [("backfill", run_backfill)],
        "reconcile": [("reconcile", run_reconcile)],
        "lists": [lists],
        "campaigns": [campaigns],
        # What the CRM side told us (S12), all waiting events at once: both steps unscoped.
        "crm_events": [("lists", run_lists), ("campaigns", run_campaigns)],
    }
    plan = plans[mode]
    if backfill and mode in BACKFILL_FIRST:
        at = 1 if mode == "full" else 0
        plan = [*plan[:at], ("backfill", run_backfill), *plan[at:]]
    return plan


def run_sync(ctx: JobContext) -> dict[str, Any]:
    mode = str(ctx.params.get("mode") or "incremental")
    if mode not in MODES:
        raise ValueError(f"unknown sync mode {mode!r}")
    began = timezone.now()  # before any step reads the mappings
    backfill = mode in BACKFILL_FIRST and backfill_pending(ctx.tenant) > 0
    if ctx.params.get("dry_run"):
        return _dry(ctx, mode, backfill)
    status, _created = SyncStatus.objects.get_or_create(tenant=ctx.tenant)
    status.last_run_id = ctx.run_id
    try:
        refresh_planner_statistics()
        with client_for(ctx.tenant) as client:
            sync = Sync(ctx, client)
            if backfill:
                sync.log(_("Field mappings changed after records were linked: this run first "
                           "applies them to the linked records (backfill, S14)."))
            sync.run_steps(steps_for(mode, ctx.params, backfill=backfill))
    except JobCancelled as exc:
        status.last_sync_at = timezone.now()
        status.last_error = as_column(
            stored_text("Paused before the run ended.") if isinstance(exc, SyncPaused)
            else stored_text("Cancelled before the run ended."))
        status.save()
        raise
    except Exception as exc:
        status.last_sync_at = timezone.now()
        status.last_error = as_column(explain(exc))
        status.save()
        raise
    status.last_sync_at = status.last_success_at = timezone.now()
    status.last_error = ""
    if backfill or mode == "backfill":
        status.mappings_applied_at = began
    status.save()
    issues = refresh_open_count(ctx.tenant)
    return {"mode": mode, "open_issues": issues}


def _dry(ctx: JobContext, mode: str, backfill: bool) -> dict[str, Any]:
    """A dry run leaves no trace but its report: not even the tenant's sync status."""
    with client_for(ctx.tenant, simulate_writes=True) as client:
        report = run_dry(ctx, client, steps_for(mode, ctx.params, backfill=backfill))
    return {"mode": mode, "dry_run": report}
