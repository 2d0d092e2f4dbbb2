"""Organisation settings (C2-C6). Secrets are write-only (N4): the API answers
``client_secret_set``/``onprem_password_set`` and never the secret itself."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from orgsettings.certificates import describe
from orgsettings.models import Deployment, OrgSettings, ReactionMode

PUBLIC_FIELDS = [
    "crm_url", "deployment", "directory_tenant_id", "client_id", "onprem_username",
    "authority_url", "ca_bundle", "export_opens", "export_clicks", "export_bounces",
    "reaction_export_interval_minutes", "write_back_unsubscribes", "reaction_mode",
    "bidirectional_sync", "reactivate_deactivated", "sync_interval_minutes", "sync_paused",
    "reconcile_interval_hours", "crm_resubscribe",
]


class CertificateSerializer(serializers.Serializer):
    subject = serializers.CharField()
    issuer = serializers.CharField()
    not_after = serializers.DateTimeField()
    fingerprint_sha256 = serializers.CharField()


class OrgSettingsSerializer(serializers.ModelSerializer):
    client_secret_set = serializers.SerializerMethodField()
    onprem_password_set = serializers.SerializerMethodField()
    ca_certificates = serializers.SerializerMethodField(
        help_text=_("The stored CA certificates, described (the PEM is never shown back)."))

    class Meta:
        model = OrgSettings
        fields = [*(f for f in PUBLIC_FIELDS if f != "ca_bundle"), "ca_certificates",
                  "organisation_name", "web_api_url", "client_secret_set",
                  "onprem_password_set", "updated_at"]
        read_only_fields = fields

    @extend_schema_field(CertificateSerializer(many=True))
    def get_ca_certificates(self, obj: OrgSettings) -> list[dict[str, Any]]:
        return [vars(info) for info in describe(obj.ca_bundle)]

    def get_client_secret_set(self, obj: OrgSettings) -> bool:
        return bool(obj.client_secret)

    def get_onprem_password_set(self, obj: OrgSettings) -> bool:
        return bool(obj.onprem_password)


class OrgSettingsWriteSerializer(serializers.Serializer):
    """Types only; the rules are the settings form's and the service's (one place)."""

    tenants = serializers.ListField(
        child=serializers.SlugField(), required=False, allow_empty=False,
        help_text=_("Apply the same settings to these tenants (slugs of tenants you "
                    "administer), all or none (C2). Default: this tenant only."))
    crm_url = serializers.CharField(required=False, max_length=300)
    deployment = serializers.ChoiceField(choices=Deployment.choices, required=False)
    directory_tenant_id = serializers.CharField(required=False, allow_blank=True,
                                                max_length=100)
    client_id = serializers.CharField(required=False, allow_blank=True, max_length=100)
    client_secret = serializers.CharField(
        required=False, allow_blank=True, write_only=True, trim_whitespace=False,
        help_text=_("Write-only. Blank or absent keeps the stored secret."))
    onprem_username = serializers.CharField(required=False, allow_blank=True, max_length=200)
    onprem_password = serializers.CharField(
        required=False, allow_blank=True, write_only=True, trim_whitespace=False,
        help_text=_("Write-only. Blank or absent keeps the stored password."))
    authority_url = serializers.CharField(required=False, max_length=200)
    ca_bundle = serializers.CharField(
        required=False, allow_blank=True, write_only=True,
        help_text=_("PEM certificates only (a private key is refused). Blank or absent "
                    "keeps the stored certificates."))
    ca_bundle_clear = serializers.BooleanField(
        required=False, help_text=_("True removes the stored CA certificates."))
    export_opens = serializers.BooleanField(required=False)
    export_clicks = serializers.BooleanField(required=False)
    export_bounces = serializers.BooleanField(required=False)
    reaction_export_interval_minutes = serializers.IntegerField(required=False)
    write_back_unsubscribes = serializers.BooleanField(required=False)
    reaction_mode = serializers.ChoiceField(
        choices=ReactionMode.choices, required=False,
        help_text=_("Required when the tenant has no settings yet: there is no default (C5)."))
    bidirectional_sync = serializers.BooleanField(required=False)
    reactivate_deactivated = serializers.BooleanField(required=False)
    sync_interval_minutes = serializers.IntegerField(required=False)
    sync_paused = serializers.BooleanField(required=False)
    reconcile_interval_hours = serializers.IntegerField(required=False)
    crm_resubscribe = serializers.BooleanField(
        required=False,
        help_text=_("True: a CRM record that allows bulk email again re-subscribes its "
                    "subscriber; false (default): it becomes awaiting confirmation."))
