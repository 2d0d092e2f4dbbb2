"""A tenant's CRM connection and sync options (*Organisationseinstellungen*, C2-C6)."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.hashers import check_password
from django.db import models
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from mailworx_crm.encryption import EncryptedTextField
from tenants.models import Tenant

DEFAULT_AUTHORITY = "https://login.microsoftonline.com"


class Deployment(models.TextChoices):
    ONLINE = "online", _("Online (Dynamics 365 / CRM Online)")
    ON_PREMISE = "on_premise", _("On-premise (Dynamics CRM 2016 or later)")


class ReactionMode(models.TextChoices):
    ABSOLUTE = "absolute", _("Absolute (counts)")
    RELATIVE = "relative", _("Relative (rates against the campaign's recipients)")


class ErasureInCrm(models.TextChoices):
    """What an erasure in mailworx asks of the linked CRM record (N7, docs/consent.md)."""

    FLAG_AND_NOTE = "flag_and_note", _(
        "Set “do not allow bulk email” and note the erasure in the record's description")
    FLAG_NOTE_AND_CLEAR = "flag_note_and_clear", _(
        "As above, and also clear the fields mailworx wrote")
    OWNER_TASK = "owner_task", _(
        "Set “do not allow bulk email” and create a task for the record's owner")


class CrmDeletion(models.TextChoices):
    """What a linked CRM record's deletion does to its subscriber (N7)."""

    UNSUBSCRIBE = "unsubscribe", _("Unsubscribe the subscriber")
    ERASE = "erase", _("Erase the subscriber")


class OrgSettings(models.Model):
    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="org_settings")

    # Connection (C3). The organisation name and Web API URL are derived from crm_url.
    crm_url = models.CharField(_("CRM URL"), max_length=300)
    organisation_name = models.CharField(_("organisation name"), max_length=120, editable=False)
    web_api_url = models.CharField(_("Web API URL"), max_length=400, editable=False)
    deployment = models.CharField(_("deployment"), max_length=20, choices=Deployment.choices)
    directory_tenant_id = models.CharField(_("directory (tenant) id"), max_length=100, blank=True)
    client_id = models.CharField(_("application (client) id"), max_length=100, blank=True)
    client_secret = EncryptedTextField(_("client secret"), blank=True)
    onprem_username = models.CharField(_("domain user"), max_length=200, blank=True)
    onprem_password = EncryptedTextField(_("password"), blank=True)
    authority_url = models.URLField(_("sign-in authority"), default=DEFAULT_AUTHORITY)
    ca_bundle = models.TextField(_("CA certificates (PEM)"), blank=True)
    # What the integration check detected (dynamics/detect.py): the Web API at its highest
    # version the server offers, or the Organization Service (SOAP) on CRM 2013 and 2015.
    crm_protocol = models.CharField(_("CRM protocol"), max_length=10, default="webapi",
                                    editable=False)
    crm_api_version = models.CharField(_("Web API version"), max_length=10, blank=True,
                                       editable=False)

    # Activities (C4, C5).
    export_opens = models.BooleanField(_("export opens"), default=True)
    export_clicks = models.BooleanField(_("export clicks"), default=True)
    export_bounces = models.BooleanField(_("export bounces"), default=True)
    reaction_export_interval_minutes = models.PositiveIntegerField(
        _("reaction export interval (minutes)"), default=60
    )
    write_back_unsubscribes = models.BooleanField(_("write unsubscribes back"), default=True)
    # N6: off, a CRM record that allows bulk email again only makes its subscriber "awaiting
    # confirmation"; on, the CRM's word re-subscribes (docs/consent.md). Audited (N5) like
    # every field here.
    crm_resubscribe = models.BooleanField(
        _("re-subscribe when the CRM allows bulk email again"), default=False)
    # No default: the admin must choose (C5).
    reaction_mode = models.CharField(_("reaction figures"), max_length=10,
                                     choices=ReactionMode.choices)

    # Subscriber data sync (C6).
    bidirectional_sync = models.BooleanField(_("bidirectional sync"), default=True)
    reactivate_deactivated = models.BooleanField(
        _("reactivate deactivated records in the CRM"), default=False
    )
    sync_interval_minutes = models.PositiveIntegerField(_("sync interval (minutes)"), default=15)
    sync_paused = models.BooleanField(_("sync paused"), default=False)
    # The scheduled reconcile run (deletes and merges the change tracking cannot report).
    reconcile_interval_hours = models.PositiveIntegerField(
        _("reconcile interval (hours)"), default=24
    )

    # Privacy (N7): how erasures and deletions travel, and how long logs keep personal data.
    erasure_in_crm = models.CharField(
        _("erasure in the CRM"), max_length=30, choices=ErasureInCrm.choices,
        default=ErasureInCrm.FLAG_AND_NOTE,
    )
    crm_deletion = models.CharField(
        _("deleted CRM record"), max_length=20, choices=CrmDeletion.choices,
        default=CrmDeletion.UNSUBSCRIBE,
    )
    log_retention_days = models.PositiveIntegerField(
        _("keep run logs and sync issues (days)"), default=90
    )
    # 0: consent history is kept as long as its subscriber (it proves consent, Art. 7).
    consent_history_retention_days = models.PositiveIntegerField(
        _("keep older consent history (days)"), default=0
    )

    # Non-secret witnesses of secret changes, so the audit history can say "changed" (N4/N5).
    client_secret_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    onprem_password_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # Per secret field, the values of the fields it is bound to when it was entered
    # (orgsettings.services.SECRET_BINDINGS): a kept secret is only sent where it was
    # entered for, however the settings were changed in between.
    secret_bindings = models.JSONField(default=dict, blank=True, editable=False)

    # C9: syncs run only when an integration check passed after the connection last changed.
    connection_changed_at = models.DateTimeField(null=True, blank=True, editable=False)
    check_passed_at = models.DateTimeField(null=True, blank=True, editable=False)
    # "Start syncing" (the setup's last step): scheduled and CRM-triggered syncs, and syncs
    # by hand, run only once an administrator started them (null = not started yet).
    sync_started_at = models.DateTimeField(_("syncing started"), null=True, blank=True,
                                           editable=False)
    sync_started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", editable=False, verbose_name=_("syncing started by"),
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )

    history = HistoricalRecords(excluded_fields=["client_secret", "onprem_password",
                                                 "secret_bindings"])

    class Meta:
        verbose_name = _("organisation settings")
        verbose_name_plural = _("organisation settings")

    def __str__(self) -> str:
        return f"{self.tenant}: {self.crm_url}"

    @property
    def integration_ready(self) -> bool:
        """An integration check passed since the connection settings last changed (C9)."""
        if self.check_passed_at is None:
            return False
        changed = self.connection_changed_at
        return changed is None or self.check_passed_at >= changed

    @property
    def sync_started(self) -> bool:
        return self.sync_started_at is not None

    @property
    def sync_enabled(self) -> bool:
        """Syncs may run: the admin started syncing and the integration is ready (C9)."""
        return self.sync_started and self.integration_ready

    @property
    def has_credentials(self) -> bool:
        if self.deployment == Deployment.ONLINE:
            return bool(self.client_secret)
        return bool(self.onprem_password)


class IntegrationAccess(models.Model):
    """The tenant's integration user (C8): the account the CRM side calls mailworx with.

    The password lives hashed on the Django user, the activation key hashed here; both
    are shown once, right after they were issued.
    """

    tenant = models.OneToOneField(
        Tenant, on_delete=models.CASCADE, related_name="integration_access"
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="integration_access"
    )
    activation_key = models.CharField(_("activation key (hashed)"), max_length=200)
    created_at = models.DateTimeField(_("prepared"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("prepared by"),
    )
    issued_at = models.DateTimeField(_("credentials issued"))
    issued_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("credentials issued by"),
    )

    class Meta:
        verbose_name = _("integration access")
        verbose_name_plural = _("integration accesses")

    def __str__(self) -> str:
        return f"{self.tenant}: {self.user}"

    def check_activation_key(self, raw_key: str) -> bool:
        return check_password(raw_key, self.activation_key)


class AdditionalAppUser(models.Model):
    """One more application user of a tenant's Online connection.

    Dataverse's service-protection limits are per user, so each one adds a budget the
    engine's bulk work can use (docs/dataverse-webapi.md §Several application users).
    Its secret is bound like the main one (orgsettings.app_users): it is only sent while
    the CRM URL, authority and directory are the ones it was entered for. The engine uses
    it only after an integration check signed in as it (``check_passed_at``).
    """

    org_settings = models.ForeignKey(OrgSettings, on_delete=models.CASCADE,
                                     related_name="additional_users",
                                     verbose_name=_("organisation settings"))
    client_id = models.CharField(_("application (client) id"), max_length=100)
    client_secret = EncryptedTextField(_("client secret"))
    # Non-secret witness of the secret, so the audit history can say "changed" (N4/N5).
    secret_entered_at = models.DateTimeField(_("secret entered"), editable=False)
    # The values of the bound fields when the secret was entered (orgsettings.app_users).
    secret_binding = models.JSONField(default=dict, blank=True, editable=False)
    check_passed_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("added"), auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", verbose_name=_("added by"),
    )

    history = HistoricalRecords(excluded_fields=["client_secret", "secret_binding",
                                                 "check_passed_at"])

    class Meta:
        verbose_name = _("additional application user")
        verbose_name_plural = _("additional application users")
        ordering = ["created_at", "id"]
        constraints = [models.UniqueConstraint(fields=["org_settings", "client_id"],
                                               name="one_additional_user_per_client_id")]

    def __str__(self) -> str:
        return self.client_id

    @property
    def checked(self) -> bool:
        """An integration check signed in as this user since its secret was entered."""
        return self.check_passed_at is not None and self.check_passed_at >= self.secret_entered_at
