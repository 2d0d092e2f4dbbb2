"""Retention (N7, GDPR Art. 5(1)(e)): personal data in run logs, sync issues and consent
history is kept only as long as the tenant configured (``OrgSettings``), then deleted by
the hourly housekeeping task (``syncjobs.tasks.privacy_housekeeping``).

- Run log lines, sync issues and the entries of an issue's history older than
  ``log_retention_days`` are deleted, and the
  results of such old runs that carry samples of subscribers (dry runs) are emptied. The
  run rows themselves (kind, status, counters) hold no personal data and stay.
- Consent history entries that happened more than ``consent_history_retention_days`` ago
  are deleted (0 = never), except each subscriber's latest entry: it proves the current
  permission (Art. 7(1)). Only through ``audience.consent.purge_events``.
- Erasures still waiting for the CRM are queued again (a run that was busy when they were
  made may have missed them).
"""

from __future__ import annotations

import datetime as dt

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from audience.consent import purge_events
from audience.models import ConsentEvent
from orgsettings.models import OrgSettings
from syncjobs.engine.issues import refresh_open_count
from syncjobs.erasure import queue_propagation
from syncjobs.models import (
    ErasurePropagation,
    JobLogLine,
    JobRun,
    PropagationState,
    SyncIssue,
    SyncIssueAttempt,
)
from tenants.models import Tenant

DEFAULT_LOG_DAYS = 90
# A pending erasure younger than this is still being sent by the run its erasure queued.
REQUEUE_AFTER = dt.timedelta(minutes=5)


def purge_personal_data(tenant: Tenant, *, now: dt.datetime | None = None) -> dict[str, int]:
    """Delete what is older than the tenant's retention; returns how many of each."""
    now = now or timezone.now()
    org = OrgSettings.objects.filter(tenant=tenant).first()
    log_days = org.log_retention_days if org else DEFAULT_LOG_DAYS
    history_days = org.consent_history_retention_days if org else 0
    cutoff = now - dt.timedelta(days=max(1, log_days))
    lines, _n = JobLogLine.objects.filter(run__tenant=tenant, at__lt=cutoff).delete()
    issues, _n = SyncIssue.objects.filter(tenant=tenant, last_seen__lt=cutoff).delete()
    # A long-lived issue's old attempts go too (their reasons may name the person).
    attempts, _n = SyncIssueAttempt.objects.filter(issue__tenant=tenant, at__lt=cutoff).delete()
    results = JobRun.objects.filter(
        tenant=tenant, finished_at__lt=cutoff, result__icontains="sample"
    ).update(result={})
    if issues:
        refresh_open_count(tenant)
    history = 0
    if history_days > 0:
        latest = (
            ConsentEvent.objects.filter(subscriber=OuterRef("subscriber"))
            .order_by("-occurred_at", "-id")
            .values("pk")[:1]
        )
        old = ConsentEvent.objects.filter(
            tenant=tenant, occurred_at__lt=now - dt.timedelta(days=history_days)
        ).exclude(pk=Subquery(latest))
        history = purge_events(old)
    return {
        "log_lines": lines,
        "sync_issues": issues,
        "issue_attempts": attempts,
        "run_results": results,
        "consent_events": history,
    }


def housekeeping(*, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    for tenant in Tenant.objects.filter(org_settings__isnull=False):
        purge_personal_data(tenant, now=now)
        if ErasurePropagation.objects.filter(
            tenant=tenant, state=PropagationState.PENDING, created_at__lt=now - REQUEUE_AFTER
        ).exists():
            queue_propagation(tenant)
