"""Business units (*Unternehmenseinheiten*, C11) and their reaction owners."""

from __future__ import annotations

from django.conf import settings
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
    # C14, when no CRM attribute can hold the language: the language every subscriber that
    # arrives from the CRM through this unit gets. A language mapping still wins.
    fixed_language = models.CharField(
        _("fixed language"), max_length=8, choices=settings.LANGUAGES, blank=True,
        help_text=_("When no CRM attribute holds the subscriber's language: the language "
                    "subscribers arriving from the CRM through this unit get. A language "
                    "mapping, where there is one, wins."),
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


class CrmPrincipal(models.Model):
    """A CRM user or team that can own reactions: the owner picker's cache (C11).

    Filled only by the ``owner_refresh`` job; the picker searches these rows, so a web
    request never calls the CRM. Users and teams the CRM no longer lists as active stay,
    marked inactive, so units that still name them can say so.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="crm_principals")
    crm_id = models.UUIDField(_("CRM id"))
    name = models.CharField(_("name"), max_length=200)
    principal_type = models.CharField(_("type"), max_length=20, choices=OwnerType.choices)
    email = models.CharField(_("email"), max_length=200, blank=True)
    domain_name = models.CharField(_("user name"), max_length=1024, blank=True)
    is_active = models.BooleanField(_("active"), default=True)
    refreshed_at = models.DateTimeField(_("refreshed"))

    class Meta:
        ordering = ["name", "crm_id"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "crm_id"], name="crm_principal_unique"),
        ]
        verbose_name = _("CRM user or team")
        verbose_name_plural = _("CRM users and teams")

    def __str__(self) -> str:
        return f"{self.name} ({self.get_principal_type_display()})"
