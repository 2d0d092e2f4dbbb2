"""What an erasure asked of the CRM and how it went (GDPR Art. 19, N7)."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from mailworx_crm.entity_types import EntityType
from mailworx_crm.texts import StoredTextField
from tenants.models import Tenant


class PropagationState(models.TextChoices):
    PENDING = "pending", _("Waiting to be sent to the CRM")
    DONE = "done", _("Done")
    RECORD_GONE = "record_gone", _("The CRM record no longer exists")
    FAILED = "failed", _("Failed")


class ErasurePropagation(models.Model):
    """One erased subscriber's linked CRM record and what the CRM was asked to do with it.

    Holds no personal data: the CRM record's id, the action (the tenant's setting when
    the erasure was made) and the CRM columns to clear — never the address or a value.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(_("erased"), auto_now_add=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("erased by"),
    )
    actor = models.CharField(_("who"), max_length=200, blank=True)
    # The id the subscriber had, so support can match this row with what was reported.
    subscriber_ref = models.BigIntegerField(_("former subscriber id"))
    entity_type = models.CharField(_("CRM table"), max_length=16, choices=EntityType.choices)
    crm_id = models.UUIDField(_("CRM record"))
    action = models.CharField(_("action"), max_length=30)
    clear_columns = models.JSONField(default=list, blank=True)
    state = models.CharField(
        _("state"),
        max_length=20,
        choices=PropagationState.choices,
        default=PropagationState.PENDING,
    )
    # Stored text (mailworx_crm/texts.py): read in the reader's language.
    outcome = StoredTextField(_("outcome"), blank=True)
    attempts = models.PositiveIntegerField(default=0)
    run = models.ForeignKey(
        "syncjobs.JobRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["tenant", "state"], name="erasure_prop_tenant_state")]
        verbose_name = _("erasure sent to the CRM")
        verbose_name_plural = _("erasures sent to the CRM")

    def __str__(self) -> str:
        return f"{self.entity_type}({self.crm_id}) [{self.state}]"
