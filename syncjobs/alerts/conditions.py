"""When each alert condition holds (docs/operations.md §Alerts).

- **runs failing**: the last ``ALERT_FAILED_RUNS`` finished syncs (or reaction exports) of
  a tenant all failed; over with the next one that succeeds. Checked where a run ends.
- **check broken**: an integration check failed for a tenant that is syncing (during the
  setup the admin watches the check page); over when a check passes.
- **attribute vanished**: an attribute pull no longer found a mapped CRM attribute, one
  incident per attribute; over when it is back or no longer mapped.
- **sync behind**: no tenant-wide sync succeeded for ``ALERT_BEHIND_FACTOR`` × the
  tenant's sync interval while syncing is started, checked and not paused; over with the
  next successful sync, or when the sync is paused.

The beat tick (:func:`tick`) checks the last two for every tenant and resends unsent
emails; runs call :func:`after_run` when they end.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Max, Q
from django.utils import timezone, translation

from fieldmapping.models import CrmAttribute
from mailworx_crm.texts import from_column, stored_plural, stored_text
from orgsettings.models import OrgSettings
from syncjobs.alerts.incidents import open_incident, resolve, retry_unsent
from syncjobs.models import Incident, IncidentKind, JobKind, JobRun, JobStatus
from syncjobs.schedule import SYNC_MODES
from tenants.models import Tenant

# Run kinds whose repeated failure is an incident (key: the run kind).
WATCHED_RUNS = (JobKind.SYNC, JobKind.REACTION_EXPORT)


def failed_runs_threshold() -> int:
    return max(1, int(getattr(settings, "ALERT_FAILED_RUNS", 3)))


def behind_factor() -> float:
    return float(getattr(settings, "ALERT_BEHIND_FACTOR", 2.0))


def after_run(run_id: int) -> None:
    """A run ended: open or resolve what its outcome says."""
    run = JobRun.objects.select_related("tenant").filter(pk=run_id).first()
    if run is None or run.status not in (JobStatus.SUCCEEDED, JobStatus.FAILED):
        return
    if run.kind in WATCHED_RUNS and "dry_run" not in run.params:
        runs_failing(run.tenant, run.kind)
    elif run.kind == JobKind.INTEGRATION_CHECK:
        check_broken(run)
    elif run.kind == JobKind.ATTRIBUTE_PULL and run.status == JobStatus.SUCCEEDED:
        attributes_vanished(run.tenant)


def runs_failing(tenant: Tenant, kind: str) -> None:
    n = failed_runs_threshold()
    last = list(
        JobRun.objects.filter(
            tenant=tenant, kind=kind, status__in=[JobStatus.SUCCEEDED, JobStatus.FAILED]
        )
        .exclude(params__has_key="dry_run")
        .order_by(F("finished_at").desc(nulls_last=True), "-pk")[:n]
    )
    if last and last[0].status == JobStatus.SUCCEEDED:
        resolve(tenant, IncidentKind.RUNS_FAILING, keys=[kind])
    elif len(last) == n and all(r.status == JobStatus.FAILED for r in last):
        open_incident(
            tenant,
            IncidentKind.RUNS_FAILING,
            key=kind,
            detail=stored_plural(
                "The last run of “%(kind)s” failed. The latest error: %(error)s",
                "The last %(n)s runs of “%(kind)s” failed. The latest error: %(error)s",
                n,
                kind=stored_text(_msgid(JobKind(kind).label)),
                error=from_column(last[0].error),
            ),
        )


def _msgid(label: Any) -> str:
    """A lazy label's English msgid, to store (it is translated when read)."""
    with translation.override(None):
        return str(label)


def check_broken(run: JobRun) -> None:
    if run.status == JobStatus.SUCCEEDED:
        resolve(run.tenant, IncidentKind.CHECK_BROKEN)
        return
    syncing = OrgSettings.objects.filter(tenant=run.tenant, sync_started_at__isnull=False).exists()
    if syncing:
        open_incident(run.tenant, IncidentKind.CHECK_BROKEN, detail=from_column(run.error))


def attributes_vanished(tenant: Tenant) -> None:
    """One incident per mapped attribute the catalogue no longer has."""
    vanished = (
        CrmAttribute.objects.filter(tenant=tenant, present=False)
        .filter(Q(mappings__isnull=False) | Q(lookup_mappings__isnull=False))
        .distinct()
    )
    keys = []
    for attribute in vanished:
        key = f"{attribute.entity}.{attribute.logical_name}"
        keys.append(key)
        open_incident(
            tenant,
            IncidentKind.ATTRIBUTE_VANISHED,
            key=key,
            detail=stored_text(
                "The CRM no longer has the attribute “%(attr)s”; mappings to it are skipped by "
                "the sync. Map another attribute or delete the mapping.",
                attr=key,
            ),
        )
    resolve(tenant, IncidentKind.ATTRIBUTE_VANISHED, keep=keys)


def sync_behind(now: datetime) -> None:
    """Every tenant: behind, or caught up (two queries, whatever the number of tenants)."""
    orgs = list(OrgSettings.objects.select_related("tenant"))
    last_ok = dict(
        JobRun.objects.filter(
            kind=JobKind.SYNC, status=JobStatus.SUCCEEDED, params__mode__in=SYNC_MODES
        )
        .exclude(params__has_key="dry_run")
        .values("tenant_id")
        .annotate(last=Max("finished_at"))
        .values_list("tenant_id", "last")
        .order_by()
    )
    behind_now = set(
        Incident.objects.filter(
            kind=IncidentKind.SYNC_BEHIND, resolved_at__isnull=True
        ).values_list("tenant_id", flat=True)
    )
    for org in orgs:
        tenant = org.tenant
        since = max((t for t in (last_ok.get(tenant.pk), org.sync_started_at) if t), default=now)
        allowed = timedelta(minutes=org.sync_interval_minutes) * behind_factor()
        if org.sync_paused or not org.sync_enabled or now - since <= allowed:
            if tenant.pk in behind_now:
                resolve(tenant, IncidentKind.SYNC_BEHIND)
            continue
        open_incident(
            tenant,
            IncidentKind.SYNC_BEHIND,
            detail=stored_text(
                "No synchronisation has succeeded since %(since)s, although the interval is "
                "%(minutes)s minutes.",
                since=timezone.localtime(since).strftime("%Y-%m-%d %H:%M"),
                minutes=org.sync_interval_minutes,
            ),
        )


def tick(now: datetime | None = None) -> None:
    """The beat task's work: the conditions no run end reports, and unsent emails."""
    now = now or timezone.now()
    sync_behind(now)
    # A mapping deleted since the pull ends its incident too.
    for tenant in Tenant.objects.filter(
        Q(crm_attributes__present=False)
        | Q(incidents__kind=IncidentKind.ATTRIBUTE_VANISHED, incidents__resolved_at__isnull=True)
    ).distinct():
        attributes_vanished(tenant)
    retry_unsent(now)
