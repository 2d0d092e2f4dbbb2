"""Celery tasks: one or two lines each; the runner does the work."""

from __future__ import annotations

from celery import shared_task
from django.db import close_old_connections

from syncjobs import retention, runner, schedule
from syncjobs.alerts import conditions


@shared_task(name="syncjobs.run_job", acks_late=True)
def run_job(run_id: int) -> str | None:
    """The run's final status, kept by the result backend (if any) for operators' tools;
    the run itself (JobRun) stays the source of truth."""
    close_old_connections()  # a long-lived worker must not reuse a broken connection
    return runner.execute(run_id)


@shared_task(name="syncjobs.reap", ignore_result=True)
def reap() -> None:
    close_old_connections()
    runner.reap_expired()


@shared_task(name="syncjobs.dispatch_due", ignore_result=True)
def dispatch_due() -> None:
    """Every minute (beat): reap dead runs, queue the scheduled runs that are due."""
    close_old_connections()
    schedule.dispatch_due()


@shared_task(name="syncjobs.privacy_housekeeping", ignore_result=True)
def privacy_housekeeping() -> None:
    """Hourly (beat): purge personal data past each tenant's retention, re-queue erasures
    still waiting for the CRM (syncjobs.retention)."""
    close_old_connections()
    retention.housekeeping()


@shared_task(name="syncjobs.watch_alerts", ignore_result=True)
def watch_alerts() -> None:
    """Every few minutes (beat): syncs fallen behind, vanished attributes no longer mapped,
    alert emails a failed send left unsent (syncjobs.alerts)."""
    close_old_connections()
    conditions.tick()
