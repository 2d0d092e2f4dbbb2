"""The one runner that owns every background run's lifecycle.

enqueue ─▶ (after commit) Celery task ─▶ execute: claim (conditional UPDATE) ─▶ body ─▶ finish
                                              ▲
reap_expired: a running job whose lease expired (worker killed) is queued again or failed.

Job bodies are plain functions ``body(ctx: JobContext) -> dict | None`` named in
``syncjobs.job_bodies.BODIES``; they never touch the run row directly.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone, translation
from django.utils.module_loading import import_string

from mailworx_crm.crm_errors import describe, is_crm_error
from mailworx_crm.texts import (
    Deferred,
    StoredText,
    as_column,
    is_stored,
    join,
    render,
    stored_text,
)
from syncjobs import run_issues
from syncjobs.job_bodies import BODIES
from syncjobs.models import JobLogLine, JobRun, JobStatus, Trigger
from syncjobs.models.jobs import lease_seconds
from tenants.models import Tenant

logger = logging.getLogger(__name__)

JobBody = Callable[["JobContext"], "dict[str, Any] | None"]


class JobAlreadyActive(Exception):
    """A run of this kind is already queued or running for the tenant."""

    def __init__(self, run: JobRun) -> None:
        super().__init__(f"{run.get_kind_display()} is already {run.get_status_display()}.")
        self.run = run


class NotReady(Exception):
    """A job may not start yet: a setup step it needs is not done. ``explanation`` says
    which, in the words the page and the API both show (409 in the API)."""

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


class JobCancelled(Exception):
    """Raised inside a body at the next progress call after a cancel request."""


def max_attempts() -> int:
    return int(getattr(settings, "JOB_MAX_ATTEMPTS", 3))


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# --- enqueue -------------------------------------------------------------------------------


def enqueue(
    tenant: Tenant,
    kind: str,
    *,
    trigger: str = Trigger.MANUAL,
    user: Any = None,
    params: dict[str, Any] | None = None,
    language: str | None = None,
) -> JobRun:
    """Create a queued run and send it to a worker once the surrounding transaction commits.

    ``language`` (the requester's UI language) is the language the job writes its texts in.
    """
    params = dict(params or {})
    if language:
        params["language"] = language
    try:
        with transaction.atomic():
            run = JobRun.objects.create(
                tenant=tenant, kind=kind, trigger=trigger, params=params,
                dispatched_at=timezone.now(),
                requested_by=user if user is not None and user.is_authenticated else None,
            )
    except IntegrityError:
        active = JobRun.objects.filter(
            tenant=tenant, kind=kind, status__in=JobStatus.active()
        ).first()
        if active is None:  # finished between our insert and this read: try once more
            return enqueue(tenant, kind, trigger=trigger, user=user, params=params,
                           language=language)
        raise JobAlreadyActive(active) from None
    transaction.on_commit(partial(dispatch, run.pk))
    return run


def dispatch(run_id: int) -> None:
    """Send the run to the workers. The run is already committed as queued, so a broker
    that is down (Redis restarting) loses nothing: the reaper sends the run again once it
    has waited ``JOB_QUEUE_STALE_SECONDS`` unclaimed. The caller (a page, the API, the
    scheduler) carries on instead of failing."""
    from kombu.exceptions import OperationalError

    from syncjobs.tasks import run_job

    try:
        run_job.delay(run_id)
    except (OperationalError, OSError) as exc:
        logger.warning("run %s not sent to the workers now (%s); the scheduler sends it "
                       "again when it stays unclaimed", run_id, exc)


# --- execute -------------------------------------------------------------------------------


class JobContext:
    """What a body may do with its run: log, report progress and results, honour cancels."""

    def __init__(self, run: JobRun) -> None:
        self.run_id = run.pk
        self.tenant = run.tenant
        self.params = run.params
        self.attempt = run.attempts
        self.result: dict[str, Any] = dict(run.result)
        self.counters: dict[str, Any] = dict(run.counters)

    def _mine(self) -> Any:
        # Fencing: only the attempt that claimed the run may write to it.
        return JobRun.objects.filter(pk=self.run_id, status=JobStatus.RUNNING,
                                     attempts=self.attempt)

    def log(self, message: StoredText | str, level: str = JobLogLine.Level.INFO,
            **data: Any) -> None:
        """A log line; a stored text (mailworx_crm/texts.py) is read in the reader's
        language, a plain string as it is."""
        JobLogLine.objects.create(run_id=self.run_id, level=level,
                                  message=as_column(message), data=data)

    def progress(self, done: int, total: int | None = None, label: str | None = None) -> None:
        fields: dict[str, Any] = {"progress_done": done, "counters": self.counters}
        if total is not None:
            fields["progress_total"] = total
        if label is not None:
            # A Deferred text is stored as msgid and parameters (short); only plain text
            # from outside could be long.
            fields["progress_label"] = label if isinstance(label, Deferred) else label[:200]
        self._mine().update(**fields)
        self.check_cancelled()

    def set_result(self, **values: Any) -> None:
        """Merge ``values`` into the run's result now, so pages show it while it runs."""
        self.result.update(values)
        self._mine().update(result=self.result)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n

    def check_cancelled(self) -> None:
        if JobRun.objects.filter(pk=self.run_id, cancel_requested=True).exists():
            raise JobCancelled


def claim(run_id: int, worker: str | None = None) -> JobRun | None:
    """Move a queued run to running; exactly one caller wins (conditional UPDATE)."""
    now = timezone.now()
    won = JobRun.objects.filter(pk=run_id, status=JobStatus.QUEUED).update(
        status=JobStatus.RUNNING,
        started_at=now,
        heartbeat_at=now,
        lease_expires_at=now + timedelta(seconds=lease_seconds()),
        attempts=F("attempts") + 1,
        worker=worker or worker_name(),
    )
    if not won:
        return None
    return JobRun.objects.select_related("tenant").get(pk=run_id)


def resolve_body(kind: str) -> JobBody:
    body = BODIES.get(kind)
    if body is None:
        raise LookupError(f"no job body registered for {kind!r}")
    return import_string(body) if isinstance(body, str) else body


def explain(exc: BaseException) -> StoredText | str:
    """An admin-readable reason, translated when read; stack traces go to the worker log
    only (N3). A CRM error is worded here (its package knows no translations)."""
    if is_crm_error(exc):
        return describe(exc)  # type: ignore[arg-type]
    explanation: Any = getattr(exc, "explanation", None)
    if is_stored(explanation):
        return dict(explanation)
    if isinstance(explanation, str) and explanation:
        return explanation
    return stored_text("Unexpected error (%(kind)s). The details are in the worker log.",
                       kind=type(exc).__name__)


def execute(run_id: int) -> str | None:
    """Run a queued job to its end. Returns the final status, or None if not claimed."""
    run = claim(run_id)
    if run is None:
        return None
    ctx = JobContext(run)
    if run.attempts > 1:
        ctx.log(stored_text("Resumed (attempt %(n)s).", n=run.attempts),
                JobLogLine.Level.WARNING)
    status, error, result = JobStatus.SUCCEEDED, "", None
    # Texts a body writes (log lines, step results) are in the requester's UI language.
    with _heartbeat(ctx), translation.override(run.params.get("language") or None):
        try:
            cancel_pending = JobRun.objects.filter(pk=run_id, cancel_requested=True).exists()
            if cancel_pending:
                raise JobCancelled
            result = resolve_body(run.kind)(ctx)
        except JobCancelled:
            status = JobStatus.CANCELLED
            ctx.log(stopped_message(run_id), JobLogLine.Level.WARNING)
        except Exception as exc:
            if getattr(exc, "explanation", None):  # an explained failure needs no traceback
                with translation.override("en"):
                    logger.warning("job %s (%s) failed: %s", run_id, run.kind,
                                   render(explain(exc)))
            else:
                logger.exception("job %s (%s) failed", run_id, run.kind)
            status, error = JobStatus.FAILED, as_column(explain(exc))
            ctx.log(explain(exc), JobLogLine.Level.ERROR)
    if result:
        ctx.result.update(result)
    if run.kind in run_issues.KINDS:
        # The records it could not sync, named in its log and counted for its shown state.
        ctx.result["issues_left"] = run_issues.summarise(run_id)
    ended = ctx._mine().update(
        status=status, error=error, result=ctx.result, counters=ctx.counters,
        finished_at=timezone.now(), lease_expires_at=None,
    )
    if ended:
        _alerts_after(run_id)
    return status


def _alerts_after(run_id: int) -> None:
    """Open or resolve the alerts the run's outcome decides (syncjobs.alerts); a failure
    there is logged and never changes the run's outcome."""
    from syncjobs.alerts.conditions import after_run  # it reads config apps' models

    try:
        after_run(run_id)
    except Exception:
        logger.exception("alerts after run %s could not be evaluated", run_id)


def stopped_message(run_id: int) -> StoredText:
    """Why and where a run stopped before its end: the step and how far it had got."""
    run = JobRun.objects.filter(pk=run_id).only(
        "cancel_requested", "progress_label", "progress_done", "progress_total").first()
    if run is None:
        return stored_text("Cancelled on request.")
    why = (stored_text("Cancelled on request.") if run.cancel_requested
           else stored_text("Stopped before the end."))
    if not run.progress_label and not run.progress_done:
        return why
    label = run.progress_label or "—"  # a stored step title: translated too
    where = stored_text("Where it stopped: %(label)s, %(done)s of %(total)s done.",
                        label=label if isinstance(label, Deferred) else stored_text(label),
                        done=run.progress_done, total=run.progress_total)
    return join(why, where)


@contextmanager
def _heartbeat(ctx: JobContext) -> Iterator[None]:
    """Renew the lease from a side thread while the body runs (a body may block in I/O)."""
    stop = threading.Event()
    interval = max(lease_seconds() / 3, 0.05)

    def beat() -> None:
        try:
            while not stop.wait(interval):
                now = timezone.now()
                try:
                    ctx._mine().update(heartbeat_at=now,
                                       lease_expires_at=now + timedelta(seconds=lease_seconds()))
                except DatabaseError:
                    # Busy database (a dry run holds SQLite's write lock): try next beat.
                    logger.warning("job %s: heartbeat could not be written", ctx.run_id)
        finally:
            connection.close()

    thread = threading.Thread(target=beat, name=f"heartbeat-{ctx.run_id}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


# --- reaper --------------------------------------------------------------------------------


def reap_expired(now: datetime | None = None) -> list[tuple[int, str]]:
    """Resume or fail runs whose worker stopped renewing the lease; re-send stale queued runs.

    Returns ``(run id, "resumed" | "failed" | "redispatched")`` for each run acted on.
    """
    now = now or timezone.now()
    acted: list[tuple[int, str]] = []
    expired = JobRun.objects.filter(status=JobStatus.RUNNING, lease_expires_at__lt=now)
    for run in expired:
        stale = JobRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING,
                                      attempts=run.attempts, lease_expires_at__lt=now)
        when = timezone.localtime(run.lease_expires_at).strftime("%Y-%m-%d %H:%M:%S")
        if run.attempts < max_attempts():
            if stale.update(status=JobStatus.QUEUED, worker="", lease_expires_at=None,
                            dispatched_at=now):
                JobLogLine.objects.create(
                    run=run, level=JobLogLine.Level.WARNING,
                    message=as_column(stored_text(
                        "The worker running this job stopped responding (lease expired at "
                        "%(when)s); the job was queued again.", when=when)))
                transaction.on_commit(partial(dispatch, run.pk))
                acted.append((run.pk, "resumed"))
        else:
            reason = as_column(stored_text(
                "The worker running this job stopped responding %(n)s times (last lease "
                "expired at %(when)s); the job was given up. Start it again; if it keeps "
                "failing, check the worker's log.", n=run.attempts, when=when))
            if stale.update(status=JobStatus.FAILED, error=reason, finished_at=now,
                            lease_expires_at=None):
                JobLogLine.objects.create(run=run, level=JobLogLine.Level.ERROR, message=reason)
                acted.append((run.pk, "failed"))
                _alerts_after(run.pk)
    acted += _resend_lost(now)
    return acted


def _resend_lost(now: datetime) -> list[tuple[int, str]]:
    """A queued run nobody claimed for long: its broker message was lost. Claims are
    idempotent, so sending it again is safe even if the first message turns up; it is sent
    again at most once per stale period (never more often than once per lease), and the
    time it was re-sent is recorded, so messages for one run never pile up."""
    stale_after = timedelta(seconds=max(
        int(getattr(settings, "JOB_QUEUE_STALE_SECONDS", 300)), lease_seconds()))
    acted: list[tuple[int, str]] = []
    lost = (JobRun.objects.filter(status=JobStatus.QUEUED)
            .annotate(sent=Coalesce("dispatched_at", "created_at"))
            .filter(sent__lt=now - stale_after).values_list("pk", "dispatched_at"))
    for run_id, dispatched_at in lost:
        # Conditional: of two reapers on one tick, only one re-sends.
        if JobRun.objects.filter(pk=run_id, status=JobStatus.QUEUED,
                                 dispatched_at=dispatched_at).update(dispatched_at=now):
            JobLogLine.objects.create(
                run_id=run_id, level=JobLogLine.Level.WARNING,
                message=as_column(stored_text(
                    "No worker had taken the queued job; it was sent to the workers again.")))
            transaction.on_commit(partial(dispatch, run_id))
            acted.append((run_id, "redispatched"))
    return acted


def request_cancel(run: JobRun) -> bool:
    """Ask a run to stop at its next progress call; a queued run is cancelled at once."""
    if JobRun.objects.filter(pk=run.pk, status=JobStatus.QUEUED).update(
        status=JobStatus.CANCELLED, cancel_requested=True, finished_at=timezone.now()
    ):
        return True
    return bool(JobRun.objects.filter(pk=run.pk, status=JobStatus.RUNNING)
                .update(cancel_requested=True))
