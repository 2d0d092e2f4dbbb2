"""Starting a sync: the one service views, the API and the scheduler call."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy

from audience.models import Subscriber, SubscriberGroup
from crmevents.models import CrmEvent
from mailworx_crm.texts import deferred as _
from orgsettings.models import OrgSettings
from syncjobs import runner
from syncjobs.engine.run import MODES
from syncjobs.models import JobKind, JobLogLine, JobRun, JobStatus, Trigger
from tenants.models import Tenant


class SyncRefused(Exception):
    """The sync may not start now; ``explanation`` says why, for the admin."""

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


NOT_STARTED = gettext_lazy(
    "Syncing has not been started for this tenant yet: finish the setup and take the step "
    "“Start syncing” on the setup page. A dry run is possible before that.")


def sync_refusal(tenant: Tenant, *, dry_run: bool = False) -> str | None:
    """Why no sync may start for the tenant now, in words for the admin; None if it may.

    A dry run needs the integration check only: it is how an admin tries the setup before
    "Start syncing". Every other run — by hand, scheduled, CRM-triggered, a reaction
    export — also needs syncing started.
    """
    org = OrgSettings.objects.filter(tenant=tenant).first()
    if org is None or not org.integration_ready:
        return str(_("Syncs start only after an integration check passed (and again after "
                     "the connection settings changed). Run the check first."))
    if org.sync_paused:
        return str(_("The sync of this tenant is paused. Resume it in the organisation "
                     "settings first."))
    if not dry_run and org.sync_started_at is None:
        return str(NOT_STARTED)
    return None


def _check_dry_run_size(tenant: Tenant) -> None:
    limit = int(settings.DRY_RUN_SQLITE_MAX_SUBSCRIBERS)
    if connection.vendor != "sqlite":
        return
    if Subscriber.objects.live().filter(tenant=tenant).count() > limit:
        raise SyncRefused(_(
            "On the embedded SQLite database a dry run holds the whole database while it "
            "runs, so it is limited to tenants with at most %(limit)s subscribers. Run the "
            "product on PostgreSQL for dry runs of larger tenants.") % {"limit": limit})


def start_sync(tenant: Tenant, mode: str, *, trigger: str = Trigger.MANUAL, user: Any = None,
               group: SubscriberGroup | None = None, subscriber: Subscriber | None = None,
               language: str | None = None, list_id: str | None = None,
               mark: bool = False, activity_id: str | None = None,
               dry_run: bool = False) -> JobRun:
    """Queue a sync run; ``JobAlreadyActive`` when one is queued or running already.

    ``dry_run``: report what the run would do, writing nothing (``engine.dry_run``).
    Mode ``lists``: ``list_id`` limits the run to one CRM marketing list, ``mark`` marks
    that list for sync first (S1: the admin confirmed "Sync with mailworx").
    Mode ``campaigns``: ``activity_id`` limits the run to one CRM campaign activity (S3).
    """
    if mode not in MODES:
        raise ValueError(f"unknown sync mode {mode!r}")
    refusal = sync_refusal(tenant, dry_run=dry_run)
    if refusal:
        raise SyncRefused(refusal)
    params: dict[str, Any] = {"mode": mode}
    if dry_run:
        _check_dry_run_size(tenant)
        params["dry_run"] = True
    if mode == "group":
        if group is None or group.tenant_id != tenant.pk:
            raise ValueError("a group sync needs one of the tenant's groups")
        params["group_id"] = group.pk
    if mode == "subscriber":
        if subscriber is None or subscriber.tenant_id != tenant.pk:
            raise ValueError("a subscriber sync needs one of the tenant's subscribers")
        params["subscriber_id"] = subscriber.pk
    if mode == "lists":
        if mark and not list_id:
            raise ValueError("marking a list needs its list_id")
        if list_id:
            params["list_id"] = str(list_id)
        params["mark"] = bool(mark)
    if mode == "campaigns" and activity_id:
        params["activity_id"] = str(uuid.UUID(str(activity_id)))
    return runner.enqueue(tenant, JobKind.SYNC, trigger=trigger, user=user, params=params,
                          language=language)


def start_reaction_export(tenant: Tenant, *, trigger: str = Trigger.MANUAL, user: Any = None,
                          language: str | None = None) -> JobRun:
    """Queue a reaction export (S4, C5); ``JobAlreadyActive`` when one is queued or running.

    Gated like a sync (same checks and messages as ``start_sync``): it writes to the CRM.
    """
    refusal = sync_refusal(tenant)
    if refusal:
        raise SyncRefused(refusal)
    return runner.enqueue(tenant, JobKind.REACTION_EXPORT, trigger=trigger, user=user,
                          language=language)


# Modes whose run handles every waiting CRM event of either kind (S12); the parameter
# that limits a "lists" or "campaigns" run to one list or activity.
_HANDLES_ALL = ("incremental", "full", "crm_events")
_SCOPE = {"lists": "list_id", "campaigns": "activity_id"}


def join_queued_run(run: JobRun, event_mode: str, crm_id: str) -> bool:
    """Let a CRM event (``event_mode``: "lists" or "campaigns") join a sync run that is
    still queued, widening the run so it handles every waiting event (S12): 300 events
    reported in a burst make one run, not one run each. A run that is already running, or
    one an admin started for something else (a group, a dry run, a list being confirmed),
    is left as it is; the event then waits for the scheduler's next event run."""
    with transaction.atomic():
        # Never a run queued again after a lost worker: its steps resume from cursors of
        # the mode it started in.
        locked = JobRun.objects.select_for_update().filter(
            pk=run.pk, status=JobStatus.QUEUED, kind=JobKind.SYNC, attempts=0).first()
        if locked is None or locked.params.get("dry_run"):
            return False
        params = dict(locked.params)
        mode = str(params.get("mode") or "incremental")
        scope = _SCOPE[event_mode]
        if mode in _HANDLES_ALL:
            return True
        if mode == event_mode and str(params.get(scope) or "").lower() == crm_id.lower():
            return True
        if mode not in _SCOPE or params.get("mark"):
            return False
        params["mode"] = "crm_events" if mode != event_mode else mode
        for key in ("list_id", "activity_id", "mark"):
            params.pop(key, None)
        locked.params = params
        locked.save(update_fields=["params"])
        JobLogLine.objects.create(run=locked, level=JobLogLine.Level.INFO, message=_(
            "More events arrived from the CRM while the run was queued: it handles every "
            "waiting event."))
    return True


def waiting_events() -> Exists:
    """For annotating tenant-related rows: the tenant has CRM events no run handled yet."""
    return Exists(CrmEvent.objects.filter(tenant_id=OuterRef("tenant_id"),
                                          processed_at__isnull=True))


def start_event_runs(waiting: set[int]) -> list[JobRun]:
    """Queue one ``crm_events`` run for each tenant in ``waiting`` (tenants with waiting CRM
    events) that has no active sync — the scheduler, every minute: no event waits longer
    than that."""
    if not waiting:
        return []
    active = set(JobRun.objects.filter(tenant_id__in=waiting, kind=JobKind.SYNC,
                                       status__in=JobStatus.active())
                 .values_list("tenant_id", flat=True))
    queued = []
    for tenant in Tenant.objects.filter(pk__in=waiting - active):
        try:
            queued.append(start_sync(tenant, "crm_events", trigger=Trigger.CRM))
        except (runner.JobAlreadyActive, SyncRefused):
            continue
    return queued
