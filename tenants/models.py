"""Tenants (German: *Mandant*), who may use them (C1), their invitations and API tokens."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from knox.models import AbstractAuthToken
from knox.settings import CONSTANTS as KNOX
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
    def ui_roles(cls) -> tuple[Role, ...]:
        """The roles a person can be given on the members page."""
        return (cls.ADMINISTRATOR, cls.USER)

    @classmethod
    def ui_choices(cls) -> list[tuple[str, Any]]:
        return [(r.value, r.label) for r in cls.ui_roles()]


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


class Invitation(models.Model):
    """An invitation to join a tenant: the membership exists only once the invited person
    has accepted it, logged in as the invited account, through the emailed link.

    Only a digest of the link's secret is stored; the secret exists in the email alone.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="invitations"
    )
    role = models.CharField(_("role"), max_length=20, choices=Role.choices, default=Role.USER)
    token_digest = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("invited"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tenant", "user"], name="one_invitation_per_user")
        ]
        ordering = ["user__email"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self) -> str:
        return f"{self.user} → {self.tenant} ({self.role})"


class ApiToken(AbstractAuthToken):
    """A REST API token (django-rest-knox): the secret is shown once; only its digest and
    the first characters knox looks it up by are stored. ``expiry`` empty: no expiry (the
    integration user's token)."""

    id = models.BigAutoField(primary_key=True)
    digest = models.CharField(max_length=KNOX.DIGEST_LENGTH, unique=True)
    name = models.CharField(_("name"), max_length=100, blank=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name or self.pk} ({self.user})"


class UserLanguage(models.Model):
    """The language a person last used the pages in: mail sent to them without a request
    (alerts) is written in it. Kept by :mod:`tenants.language`."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                primary_key=True, related_name="ui_language")
    language = models.CharField(_("language"), max_length=8, choices=settings.LANGUAGES)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = _("user language")
        verbose_name_plural = _("user languages")

    def __str__(self) -> str:
        return f"{self.user} ({self.language})"
