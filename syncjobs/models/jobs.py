"""A row for every background run: integration checks, attribute pulls, owner refreshes,
syncs and reaction exports. One runner (``syncjobs.runner``) owns each row's lifecycle."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from mailworx_crm.texts import StoredTextField
from tenants.models import Tenant


def lease_seconds() -> int:
    """How long a running job's lease lasts; its heartbeat renews it every third of that."""
    return int(getattr(settings, "JOB_LEASE_SECONDS", 60))


class JobKind(models.TextChoices):
    INTEGRATION_CHECK = "integration_check", _("Integration check")
    ATTRIBUTE_PULL = "attribute_pull", _("CRM attribute synchronisation")
    OWNER_REFRESH = "owner_refresh", _("CRM users and teams refresh")
    SYNC = "sync", _("Subscriber synchronisation")
    REACTION_EXPORT = "reaction_export", _("Reaction export")
    ERASURE_PROPAGATION = "erasure_propagation", _("Erasures sent to the CRM")


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")

    @classmethod
    def active(cls) -> list[JobStatus]:
        return [cls.QUEUED, cls.RUNNING]


# The shown state of a run that succeeded but left records that could not sync: amber, never
# the plain green of "Succeeded". Derived (``JobRun.outcome``), not a stored status, so the
# status machine (queued → running → ended) stays as it is.
SUCCEEDED_WITH_ISSUES = "succeeded_with_issues"

# Step counters that count records a step could not write (``syncjobs.engine``): what runs
# finished before ``issues_left`` was recorded fall back on.
FAILURE_COUNTERS = ("failed", "lists_failed")


class Trigger(models.TextChoices):
    MANUAL = "manual", _("Started by hand")
    SCHEDULE = "schedule", _("Scheduled")
    API = "api", _("API")
    CRM = "crm", _("Told by the CRM")
    SYSTEM = "system", _("System")


class JobRun(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="job_runs")
    kind = models.CharField(_("kind"), max_length=40, choices=JobKind.choices)
    trigger = models.CharField(_("trigger"), max_length=20, choices=Trigger.choices,
                               default=Trigger.MANUAL)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("status"), max_length=20, choices=JobStatus.choices,
                              default=JobStatus.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    # What the job body reports: e.g. the integration check's steps. Shown by its pages.
    result = models.JSONField(default=dict, blank=True)
    counters = models.JSONField(default=dict, blank=True)
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    # A step title as msgid and parameters: read in the reader's language (C16).
    progress_label = StoredTextField(blank=True)
    # Stored texts (mailworx_crm/texts.py): read in the reader's language.
    error = StoredTextField(_("error"), blank=True)
    cancel_requested = models.BooleanField(default=False)

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Lease: a running job renews it; a reaper resumes or fails runs whose lease expired.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    # When the run's message was last sent to the workers (queued, resumed or re-sent by
    # the reaper because the broker lost it); None before this field existed.
    dispatched_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind"],
                condition=Q(status__in=["queued", "running"]),
                name="one_active_run_per_tenant_and_kind",
            )
        ]
        indexes = [models.Index(fields=["status", "lease_expires_at"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    def get_absolute_url(self) -> str:
        return reverse("syncjobs:detail", kwargs={"tenant": self.tenant.slug, "pk": self.pk})

    @property
    def is_active(self) -> bool:
        return self.status in JobStatus.active()

    @property
    def issues_left(self) -> int:
        """Records this run could not sync: the open issues it recorded, counted when it
        ended (the runner), else the failures its steps counted."""
        result = self.result or {}
        if "issues_left" in result:
            return int(result["issues_left"] or 0)
        return sum(int(values.get(key) or 0) for values in (self.counters or {}).values()
                   if isinstance(values, dict) for key in FAILURE_COUNTERS)

    @property
    def outcome(self) -> str:
        """The status as pages and the API show it: ``succeeded_with_issues`` for a run
        that succeeded but left records that could not sync, else the status."""
        if self.status == JobStatus.SUCCEEDED and self.issues_left:
            return SUCCEEDED_WITH_ISSUES
        return str(self.status)

    @property
    def outcome_label(self) -> str:
        if self.outcome == SUCCEEDED_WITH_ISSUES:
            return str(_("Succeeded with issues"))
        return str(self.get_status_display())

    @property
    def worker_lost(self) -> bool:
        """Running, but the worker's heartbeat is late (the worker died or hangs): the
        reaper resumes the run once its lease expires."""
        if self.status != JobStatus.RUNNING or self.heartbeat_at is None:
            return False
        late = timezone.now() - self.heartbeat_at
        return late > timedelta(seconds=lease_seconds() / 2)

    @property
    def percent(self) -> int:
        if self.status == JobStatus.SUCCEEDED:
            return 100
        if not self.progress_total:
            return 0
        return min(100, round(100 * self.progress_done / self.progress_total))

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or self.heartbeat_at or self.started_at
        return (end - self.started_at).total_seconds()


class JobLogLine(models.Model):
    """A structured log line of a run, readable by an admin (no stack traces)."""

    class Level(models.TextChoices):
        INFO = "info", _("Info")
        WARNING = "warning", _("Warning")
        ERROR = "error", _("Error")

    run = models.ForeignKey(JobRun, on_delete=models.CASCADE, related_name="log_lines")
    at = models.DateTimeField(auto_now_add=True)
    level = models.CharField(max_length=10, choices=Level.choices, default=Level.INFO)
    message = StoredTextField()
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["at", "pk"]

    def __str__(self) -> str:
        return f"[{self.level}] {self.message}"
