"""The scheduler (S12): every minute, queue what each tenant's intervals say is due.

Intervals are tenant data (``OrgSettings``), not beat entries: one beat entry runs
:func:`dispatch_due`, which

- resumes or fails runs whose worker died (the reaper),
- queues an incremental sync when ``sync_interval_minutes`` have passed since the last
  tenant-wide sync (incremental or full, by hand or scheduled) was created,
- a reaction export when ``reaction_export_interval_minutes`` have passed since the last one,
- a reconcile run when ``reconcile_interval_hours`` have passed since the last reconcile
  (a full sync reconciles too),

for every tenant whose syncing was started (the setup's "Start syncing" step), whose
integration check passed and whose sync is not paused. A tenant still in setup gets no
scheduled run and no run for CRM events: its first sync must not import subscribers with
empty fields before a business unit and the mappings exist. A tenant with
a run of that kind queued or running is skipped (the next minute tries again). Two queries
find the work, whatever the number of tenants.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max
from django.utils import timezone

from orgsettings.models import OrgSettings
from syncjobs import runner
from syncjobs.engine.start import SyncRefused, start_event_runs, start_sync, waiting_events
from syncjobs.models import JobKind, JobRun, Trigger

logger = logging.getLogger(__name__)

# Sync modes that count as "the tenant was synced" / "the tenant was reconciled".
SYNC_MODES = ("incremental", "full")
RECONCILE_MODES = ("reconcile", "full")


@dataclass(frozen=True)
class Due:
    """One piece of scheduled work: a sync mode, or the reaction export (``mode=None``)."""

    kind: str
    mode: str | None
    interval: timedelta


def _plan(org: OrgSettings) -> list[tuple[Due, tuple[str, ...]]]:
    """What the tenant's settings schedule, each with the sync modes that satisfy it."""
    return [
        (Due(JobKind.SYNC, "incremental", timedelta(minutes=org.sync_interval_minutes)),
         SYNC_MODES),
        (Due(JobKind.REACTION_EXPORT, None,
             timedelta(minutes=org.reaction_export_interval_minutes)), ()),
        (Due(JobKind.SYNC, "reconcile", timedelta(hours=org.reconcile_interval_hours)),
         RECONCILE_MODES),
    ]


def _latest_runs(tenant_ids: list[int]) -> dict[tuple[int, str, str | None], datetime]:
    """``(tenant id, kind, sync mode or None) → creation time of the latest run``: one query."""
    # A dry run changes nothing, so it satisfies no schedule.
    rows = (JobRun.objects.filter(tenant_id__in=tenant_ids,
                                  kind__in=[JobKind.SYNC, JobKind.REACTION_EXPORT])
            .exclude(params__has_key="dry_run")
            .values("tenant_id", "kind", "params__mode")
            .annotate(last=Max("created_at"))
            .order_by())
    latest: dict[tuple[int, str, str | None], datetime] = {}
    for row in rows:
        mode = row["params__mode"] if row["kind"] == JobKind.SYNC else None
        key = (row["tenant_id"], row["kind"], mode)
        if key not in latest or row["last"] > latest[key]:
            latest[key] = row["last"]
    return latest


def _last(latest: dict[tuple[int, str, str | None], datetime], tenant_id: int, due: Due,
          modes: tuple[str, ...]) -> datetime | None:
    keys = ([(tenant_id, due.kind, mode) for mode in modes] if modes
            else [(tenant_id, due.kind, None)])
    times = [latest[key] for key in keys if key in latest]
    return max(times) if times else None


def _enqueue(org: OrgSettings, due: Due) -> JobRun:
    if due.kind == JobKind.SYNC and due.mode is not None:
        return start_sync(org.tenant, due.mode, trigger=Trigger.SCHEDULE)
    return runner.enqueue(org.tenant, due.kind, trigger=Trigger.SCHEDULE)


def dispatch_due(now: datetime | None = None) -> list[JobRun]:
    """Reap dead runs, then queue every scheduled run that is due; returns the queued runs."""
    now = now or timezone.now()
    runner.reap_expired(now)
    orgs = [org for org in OrgSettings.objects.filter(sync_paused=False,
                                                      sync_started_at__isnull=False)
            .select_related("tenant").annotate(events_waiting=waiting_events())
            if org.sync_enabled]
    latest = _latest_runs([org.tenant_id for org in orgs])
    queued: list[JobRun] = []
    skipped = 0
    for org in orgs:
        due_now = [(due, modes) for due, modes in _plan(org)
                   if (last := _last(latest, org.tenant_id, due, modes)) is None
                   or now - last >= due.interval]
        modes_due = {due.mode for due, _m in due_now if due.kind == JobKind.SYNC}
        reconciled_before = _last(latest, org.tenant_id, *_plan(org)[2]) is not None
        if modes_due == {"incremental", "reconcile"} and reconciled_before:
            # Both are sync runs and only one may be active: a full run does both, so a
            # tenant whose syncs outlast the interval never starves its reconcile.
            due_now = [(d, m) for d, m in due_now if d.kind != JobKind.SYNC]
            due_now.append((Due(JobKind.SYNC, "full", timedelta(0)), ()))
        for due, _modes in due_now:
            try:
                queued.append(_enqueue(org, due))
            except runner.JobAlreadyActive:
                skipped += 1  # a run of this kind is still active; try again next minute
            except SyncRefused as exc:  # paused, unchecked or not started since the query above
                logger.info("scheduled %s for %s refused: %s", due.mode, org.tenant.slug,
                            exc.explanation)
                skipped += 1
    # What the CRM side told us and no run has handled yet: one run per tenant (S12).
    queued += start_event_runs({org.tenant_id for org in orgs
                                if getattr(org, "events_waiting", False)})
    if queued or skipped:
        logger.info("scheduler: %s runs queued, %s skipped (still active or refused)",
                    len(queued), skipped)
    return queued


def schedule_of(org: OrgSettings, now: datetime | None = None
                ) -> list[tuple[Due, datetime | None, datetime]]:
    """The tenant's scheduled work (incremental sync, reaction export, reconcile), each with
    when the latest run that satisfies it was created and when the next one is due (``now``
    when it is overdue: the scheduler queues it within a minute). One query."""
    now = now or timezone.now()
    latest = _latest_runs([org.tenant_id])
    out = []
    for due, modes in _plan(org):
        last = _last(latest, org.tenant_id, due, modes)
        out.append((due, last, now if last is None else max(now, last + due.interval)))
    return out
