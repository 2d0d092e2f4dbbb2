"""Tenants (German: *Mandant*) and who may use them (C1)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords


class Tenant(models.Model):
    """One mailworx account; every configured or synced object belongs to exactly one."""

    name = models.CharField(_("name"), max_length=200)
    slug = models.SlugField(_("slug"), max_length=60, unique=True)
    default_language = models.CharField(
        _("default language"),
        max_length=8,
        choices=settings.LANGUAGES,
        default="de",
        help_text=_("Language given to subscribers whose CRM record carries none."),
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("tenants:dashboard", args=[self.slug])


class Role(models.TextChoices):
    ADMINISTRATOR = "administrator", _("Administrator")
    USER = "user", _("User")
    # The account the CRM side uses to call mailworx (C8); never admitted to the UI.
    INTEGRATION = "integration", _("Integration (CRM side)")

    @property
    def can_write(self) -> bool:
        """Administrators change configuration; users only read it (and start syncs)."""
        return self is Role.ADMINISTRATOR

    @classmethod
    def ui_choices(cls) -> list[tuple[str, Any]]:
        """The roles a person can be given on the members page."""
        return [(r.value, r.label) for r in (cls.ADMINISTRATOR, cls.USER)]


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.USER)
    created_at = models.DateTimeField(auto_now_add=True)

    history = HistoricalRecords()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "tenant"], name="one_membership_per_user")
        ]
        ordering = ["tenant__name", "user__email"]
        verbose_name = _("membership")
        verbose_name_plural = _("memberships")

    def __str__(self) -> str:
        return f"{self.user} @ {self.tenant} ({self.role})"

    @property
    def role_enum(self) -> Role:
        return Role(self.role)

    @property
    def can_write(self) -> bool:
        return self.role_enum.can_write
