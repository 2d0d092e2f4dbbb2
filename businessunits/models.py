"""Business units (*Unternehmenseinheiten*, C11) and their reaction owners."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from tenants.models import Tenant


class OwnerType(models.TextChoices):
    USER = "systemuser", _("CRM user")
    TEAM = "team", _("CRM team")


class BusinessUnit(models.Model):
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="business_units")
    name = models.CharField(_("name"), max_length=160)
    is_default = models.BooleanField(
        _("default unit"),
        default=False,
        help_text=_("Used by groups and campaigns that name no business unit of their own."),
    )
    # The CRM principal that owns the reaction activities this unit generates.
    owner_id = models.UUIDField(
        _("reaction owner id"),
        help_text=_("The CRM id (GUID) of the user or team that will own the reactions."),
    )
    owner_name = models.CharField(_("reaction owner name"), max_length=200)
    owner_type = models.CharField(
        _("reaction owner type"), max_length=20, choices=OwnerType.choices, default=OwnerType.USER
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["-is_default", "name"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "name"], name="business_unit_name_unique"),
            models.UniqueConstraint(
                fields=["tenant"], condition=Q(is_default=True), name="one_default_business_unit"
            ),
        ]
        verbose_name = _("business unit")
        verbose_name_plural = _("business units")

    def __str__(self) -> str:
        return self.name
