"""What the CRM side told mailworx through the API (S12), kept until a sync run acts on it.

The integration user (C8) reports "list marked for sync" and "campaign activity
distributed". Each report is stored durably first; a later sync run picks up the
unprocessed rows and sets ``processed_at``. While an identical event is still waiting, a
repeated report returns the waiting row instead of adding another.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from tenants.models import Tenant


class CrmEventKind(models.TextChoices):
    LIST_MARKED = "list_marked", _("Marketing list marked for sync")
    ACTIVITY_DISTRIBUTED = "activity_distributed", _("Campaign activity distributed")


class CrmEvent(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="crm_events")
    kind = models.CharField(_("kind"), max_length=30, choices=CrmEventKind.choices)
    crm_id = models.UUIDField(_("CRM id"))
    received_at = models.DateTimeField(_("received"), auto_now_add=True)
    received_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    processed_at = models.DateTimeField(_("processed"), null=True, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "kind", "crm_id"], condition=models.Q(processed_at__isnull=True),
                name="one_unprocessed_crm_event",
            )
        ]
        indexes = [models.Index(fields=["tenant", "processed_at"], name="crm_event_pending")]
        verbose_name = _("CRM event")
        verbose_name_plural = _("CRM events")

    def __str__(self) -> str:
        return f"{self.tenant}: {self.kind} {self.crm_id}"
