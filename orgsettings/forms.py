"""The organisation-settings form (C2-C6). Secrets are write-only (N4)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from orgsettings.certificates import clean_ca_bundle
from orgsettings.certificates import summary as certificate_summary
from orgsettings.crm_url import parse_crm_url
from orgsettings.destinations import check_destination
from orgsettings.models import DEFAULT_AUTHORITY, Deployment, OrgSettings, ReactionMode
from tenants.models import Tenant

DOMAIN_USER = re.compile(r"^[^\\/\s@]+\\[^\\/\s@]+$")
# A directory named by its domain (contoso.onmicrosoft.com, contoso.de) instead of its id.
DIRECTORY_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9]([a-z0-9-]*[a-z0-9])?\.)+[a-z]{2,63}$", re.I)


def is_guid(value: str) -> bool:
    """Entra ids are written as 8-4-4-4-12 hex digits; other spellings uuid accepts
    (braces, no hyphens, urn:) are not what the portal shows, so they are refused."""
    try:
        return str(uuid.UUID(value)) == value.lower()
    except ValueError:
        return False
SECRET_FIELDS = ("client_secret", "onprem_password")
SECRET_SET_HELP = _("Set — leave blank to keep, type to replace.")

# (legend, introduction, field names, css class)
SECTIONS: list[tuple[Any, Any, tuple[str, ...], str]] = [
    (_("Connection"),
     _("How mailworx reaches your CRM. A CRM reachable from outside the company network "
       "must be protected accordingly: TLS, a dedicated application user with only the "
       "privileges the connector needs, and a strong secret."),
     ("crm_url", "deployment", "authority_url", "ca_bundle", "ca_bundle_clear"), ""),
    (_("Online sign-in (OAuth2 client credentials)"),
     _("Required when the deployment is Online: the app registration in Microsoft Entra ID."),
     ("directory_tenant_id", "client_id", "client_secret"), ""),
    (_("On-premise sign-in (NTLM)"),
     _("Required when the deployment is On-premise: a domain account of the CRM."),
     ("onprem_username", "onprem_password"), ""),
    (_("Activities"),
     _("Which reactions of your mailings are written to the CRM, and how often."),
     ("export_opens", "export_clicks", "export_bounces",
      "reaction_export_interval_minutes", "write_back_unsubscribes"), ""),
    (_("Reaction figures — choose explicitly"),
     _("Click and open figures on a CRM campaign are written either as ABSOLUTE counts or "
       "as RELATIVE rates against the campaign's recipients. There is no default: every "
       "report in the CRM depends on this choice, so make it deliberately."),
     ("reaction_mode",), "choice-prominent"),
    (_("Subscriber data sync"),
     _("How subscribers and CRM records are kept in step."),
     ("bidirectional_sync", "reactivate_deactivated", "sync_interval_minutes",
      "reconcile_interval_hours", "sync_paused"), ""),
    (_("Consent"),
     _("Who may be mailed again after opting out. mailworx never re-subscribes an address "
       "that opted out, bounced or was erased without a new, provable opt-in."),
     ("crm_resubscribe",), ""),
]


class TenantChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.name)


class OrgSettingsForm(forms.ModelForm):
    tenants = TenantChoiceField(
        label=_("Apply to these tenants"),
        queryset=Tenant.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_("The same settings are saved for every ticked tenant, all or none. A "
                    "secret left blank keeps each tenant's own secret."),
        error_messages={
            "invalid_choice": _("You can only apply settings to tenants you administer."),
            "invalid_pk_value": _("You can only apply settings to tenants you administer."),
        },
    )
    deployment = forms.ChoiceField(
        label=_("Deployment"), choices=Deployment.choices, widget=forms.RadioSelect,
        help_text=_("Decides how mailworx signs in: Online uses an app registration "
                    "(directory id, client id, client secret), On-premise a domain user and "
                    "password over NTLM."),
    )
    reaction_mode = forms.ChoiceField(
        label=_("Reaction figures"), choices=ReactionMode.choices, widget=forms.RadioSelect,
        help_text=_("ABSOLUTE writes counts of opens and clicks; RELATIVE writes them as a "
                    "share of the campaign's recipients."),
        error_messages={"required": _(
            "Choose whether reaction figures are written as absolute counts or as relative "
            "rates; there is no default.")},
    )
    authority_url = forms.URLField(
        label=_("Sign-in authority"), initial=DEFAULT_AUTHORITY, assume_scheme="https",
        help_text=_("Where Online tokens are requested. Keep Microsoft's default unless you "
                    "use a national cloud or the local emulator."),
    )
    client_secret = forms.CharField(
        label=_("Client secret"), required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("The secret of the app registration. Never shown again after saving."),
    )
    ca_bundle_clear = forms.BooleanField(
        label=_("Remove the stored CA certificates"), required=False,
        help_text=_("Then the CRM's certificate must be publicly trusted."))
    onprem_password = forms.CharField(
        label=_("Password"), required=False, strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("The password of the domain user. Never shown again after saving."),
    )

    class Meta:
        model = OrgSettings
        fields = [
            "crm_url", "deployment", "directory_tenant_id", "client_id", "client_secret",
            "onprem_username", "onprem_password", "authority_url", "ca_bundle",
            "export_opens", "export_clicks", "export_bounces",
            "reaction_export_interval_minutes", "write_back_unsubscribes", "reaction_mode",
            "bidirectional_sync", "reactivate_deactivated", "sync_interval_minutes",
            "sync_paused", "reconcile_interval_hours", "crm_resubscribe",
        ]
        widgets = {
            "crm_url": forms.TextInput(attrs={"placeholder": "https://contoso.crm4.dynamics.com"}),
            "ca_bundle": forms.Textarea(attrs={"rows": 4, "placeholder":
                                               "-----BEGIN CERTIFICATE-----"}),
            "onprem_username": forms.TextInput(attrs={"placeholder": "CONTOSO\\crm-sync"}),
        }
        help_texts = {
            "crm_url": _("The organisation URL, with the organisation name as subdomain "
                         "(https://contoso.crm4.dynamics.com) or as last path segment "
                         "(https://crm.contoso.com/contoso). The Web API URL is derived "
                         "from it."),
            "directory_tenant_id": _("Microsoft Entra ID directory (tenant) id, a GUID or "
                                     "a domain such as contoso.onmicrosoft.com."),
            "client_id": _("The application (client) id of the app registration, a GUID."),
            "onprem_username": _("The domain account as DOMAIN\\user."),
            "ca_bundle": _("Optional: PEM certificates of the CA that signed the CRM's TLS "
                           "certificate (on-premise CAs, the local emulator). Leave empty "
                           "for publicly trusted certificates."),
            "export_opens": _("Write opens of mailings to the CRM as activities."),
            "export_clicks": _("Write clicks on links in mailings to the CRM."),
            "export_bounces": _("Write bounces (undeliverable mailings) to the CRM."),
            "reaction_export_interval_minutes": _("How often new reactions are exported."),
            "write_back_unsubscribes": _("An unsubscribe sets “do not allow bulk email” on "
                                         "the CRM record."),
            "bidirectional_sync": _("Link created marketing lists back to subscriber "
                                    "groups and pull CRM changes of records mailworx "
                                    "created or linked. When off, such records are written "
                                    "mailworx → CRM only."),
            "reactivate_deactivated": _("Reactivate a deactivated CRM record that matches a "
                                        "subscriber. Qualified leads are never reactivated."),
            "sync_interval_minutes": _("How often the scheduled subscriber sync runs."),
            "reconcile_interval_hours": _(
                "How often a reconcile run compares every linked record with the CRM, to "
                "find records deleted or merged there that change tracking does not "
                "report. It reads every link, so keep it at a day or more for large "
                "tenants."),
            "sync_paused": _("Stop scheduled syncs of this tenant until you resume them."),
            "crm_resubscribe": _(
                "Off (recommended): when someone clears “do not allow bulk email” on a CRM "
                "record, its subscriber becomes “awaiting confirmation” and is mailed only "
                "after a confirmed double opt-in. On: the CRM change alone re-subscribes; "
                "then your CRM process must be able to prove the new opt-in."),
        }

    def __init__(
        self,
        *args: Any,
        admin_tenants: QuerySet[Tenant] | None = None,
        read_only: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reaction_export_interval_minutes"].validators += [
            MinValueValidator(5), MaxValueValidator(7 * 24 * 60)]
        self.fields["sync_interval_minutes"].validators += [
            MinValueValidator(5), MaxValueValidator(7 * 24 * 60)]
        self.fields["reconcile_interval_hours"].validators += [
            MinValueValidator(1), MaxValueValidator(30 * 24)]
        if admin_tenants is not None and admin_tenants.count() > 1:
            tenant_field = self.fields["tenants"]
            assert isinstance(tenant_field, forms.ModelMultipleChoiceField)
            tenant_field.queryset = admin_tenants
        else:
            del self.fields["tenants"]
        stored = self.instance if self.instance.pk else None
        # The stored CA bundle is described, never shown back as PEM.
        self.initial.pop("ca_bundle", None)
        if stored is not None and stored.ca_bundle:
            self.fields["ca_bundle"].help_text = _(
                "Stored: %(certificates)s. Paste certificates to replace them; leave empty "
                "to keep them.") % {"certificates": certificate_summary(stored.ca_bundle)}
        else:
            del self.fields["ca_bundle_clear"]
        for name in SECRET_FIELDS:
            self.initial.pop(name, None)
            if stored is not None and getattr(stored, name):
                self.fields[name].help_text = SECRET_SET_HELP
                self.fields[name].widget.attrs["placeholder"] = "••••••••"
        if read_only:
            for field in self.fields.values():
                field.disabled = True

    @property
    def multi_tenant(self) -> bool:
        return "tenants" in self.fields

    def sections(self) -> Iterable[tuple[Any, Any, list[forms.BoundField], str]]:
        for legend, intro, names, css in SECTIONS:
            yield legend, intro, [self[name] for name in names if name in self.fields], css

    def clean_onprem_username(self) -> str:
        value: str = self.cleaned_data.get("onprem_username", "").strip()
        if value and not DOMAIN_USER.match(value):
            raise ValidationError(
                _("Write the domain user as DOMAIN\\user, e.g. CONTOSO\\crm-sync."))
        return value

    def clean_client_id(self) -> str:
        value: str = (self.cleaned_data.get("client_id") or "").strip()
        if value and not is_guid(value):
            raise ValidationError(_(
                "The application (client) id is a GUID such as "
                "6b1f3c5d-7e9a-4b2c-8d0e-1f3a5c7e9b20; copy it from the app registration's "
                "overview."), code="guid")
        return value

    def clean_directory_tenant_id(self) -> str:
        value: str = (self.cleaned_data.get("directory_tenant_id") or "").strip()
        if value and not (is_guid(value) or DIRECTORY_DOMAIN.match(value)):
            raise ValidationError(_(
                "The directory (tenant) id is a GUID such as "
                "2f5c7a9e-1b3d-4e6f-8a0c-2e4f6a8b0c1d, or the directory's domain such as "
                "contoso.onmicrosoft.com."), code="guid")
        return value

    def clean_crm_url(self) -> str:
        """SPEC N8: a destination mailworx may connect to (orgsettings/destinations.py).
        A URL that does not parse is left to ``clean()``, which explains its form."""
        value: str = self.cleaned_data.get("crm_url", "")
        try:
            parse_crm_url(value)
        except ValidationError:
            return value
        check_destination(value, stored=self.instance.crm_url if self.instance.pk else None)
        return value

    def clean_authority_url(self) -> str:
        value: str = self.cleaned_data.get("authority_url", "")
        if value and not value.startswith("https://"):
            raise ValidationError(_("The sign-in authority must be an https:// URL."))
        if value and self.cleaned_data.get("deployment") != Deployment.ON_PREMISE:
            # SPEC N8; on-premise signs in at the CRM URL and never uses the authority.
            stored = self.instance.pk and self.instance.deployment == Deployment.ONLINE
            check_destination(value, stored=self.instance.authority_url if stored else None)
        return value.rstrip("/")

    def clean_ca_bundle(self) -> str:
        return clean_ca_bundle(self.cleaned_data.get("ca_bundle", ""))

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        deployment = data.get("deployment")
        if data.get("crm_url") and deployment:
            try:
                data["crm_url"] = parse_crm_url(data["crm_url"], deployment).base_url
            except ValidationError as exc:
                self.add_error("crm_url", exc)
        required: tuple[str, ...] = ()
        if deployment == Deployment.ONLINE:
            required = ("directory_tenant_id", "client_id")
        elif deployment == Deployment.ON_PREMISE:
            required = ("onprem_username",)
        for name in required:
            if not data.get(name) and name not in self.errors:
                self.add_error(name, _("Required for this deployment."))
        return data

    def _post_clean(self) -> None:
        # Secrets never reach the instance from here; the service decides (blank = keep).
        pass

    def settings_values(self) -> dict[str, Any]:
        """The non-secret values to store, as the service takes them. The CA bundle is
        never shown back, so a blank one keeps each tenant's stored certificates unless
        "remove" is ticked."""
        values = {
            name: self.cleaned_data[name]
            for name in self._meta.fields or ()
            if name not in SECRET_FIELDS
        }
        if self.cleaned_data.get("ca_bundle_clear"):
            values["ca_bundle"] = ""
        elif not values.get("ca_bundle"):
            values.pop("ca_bundle", None)
        return values

    def secrets(self) -> dict[str, str]:
        return {name: self.cleaned_data.get(name) or "" for name in SECRET_FIELDS}

    def chosen_tenants(self) -> list[Tenant] | None:
        return list(self.cleaned_data["tenants"]) if self.multi_tenant else None
