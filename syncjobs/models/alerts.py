"""Incidents: a condition the tenant's administrators are told about by email, once when
it begins (docs/operations.md §Alerts). The logic lives in ``syncjobs.alerts``."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from mailworx_crm.texts import StoredTextField
from tenants.models import Tenant


class IncidentKind(models.TextChoices):
    RUNS_FAILING = "runs_failing", _("Runs keep failing")
    CHECK_BROKEN = "check_broken", _("Integration check fails")
    ATTRIBUTE_VANISHED = "attribute_vanished", _("Mapped CRM attribute vanished")
    SYNC_BEHIND = "sync_behind", _("Synchronisation behind schedule")


# Where the admin goes to act on each kind of incident (the email and the alerts page).
ACTION_PAGES = {
    IncidentKind.RUNS_FAILING: "syncjobs:list",
    IncidentKind.CHECK_BROKEN: "orgsettings:check",
    IncidentKind.ATTRIBUTE_VANISHED: "businessunits:list",
    IncidentKind.SYNC_BEHIND: "syncjobs:list",
}


class Incident(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="incidents")
    kind = models.CharField(_("kind"), max_length=32, choices=IncidentKind.choices)
    # What it is about within its kind: the run kind that keeps failing, the vanished
    # attribute (``entity.logical_name``); empty where the kind says it all.
    key = models.CharField(max_length=200, blank=True, default="")
    # Why, as a stored text: read (and mailed) in the reader's language.
    detail = StoredTextField(_("detail"), blank=True)
    opened_at = models.DateTimeField(_("opened"), auto_now_add=True)
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    # Every administrator was emailed (or there was nobody to email).
    notified_at = models.DateTimeField(_("notified"), null=True, blank=True)
    # A worker is sending the email since then (a claim; a stale one is taken over).
    sending_since = models.DateTimeField(null=True, blank=True)
    # Users already emailed: a retried send skips them, so nobody gets it twice.
    notified_users = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-opened_at", "-pk"]
        constraints = [
            # One open incident per condition, however many workers notice it at once.
            models.UniqueConstraint(
                fields=["tenant", "kind", "key"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_incident_per_condition",
            ),
        ]
        verbose_name = _("incident")
        verbose_name_plural = _("incidents")

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.key} @ {self.tenant_id}".strip()

    def get_absolute_url(self) -> str:
        """The tenant's page to act on the incident."""
        return reverse(ACTION_PAGES[IncidentKind(self.kind)], args=[self.tenant.slug])

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None
