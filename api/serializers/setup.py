"""The setup actions (C8-C11) as resources: "prepare mailworx" and its credentials, the
integration check with its steps and verdict, the CRM attribute catalogue and the cached
CRM users and teams."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from api.serializers.syncjobs import JobRunSerializer
from businessunits.models import CrmPrincipal, OwnerType
from fieldmapping.compat import is_mappable, target_field_type
from fieldmapping.models import AttributeType, CrmAttribute, DateBehavior
from mailworx_crm.texts import render
from orgsettings.checks import FAILED, OK, SKIPPED, WARNING
from syncjobs.models import JobRun, JobStatus

STEP_STATUSES = ["pending", OK, WARNING, FAILED, SKIPPED]
VERDICTS = ["pending", "passed", "failed", "cancelled"]


def _email(user: Any) -> str | None:
    return str(user.email or user.get_username()) if user is not None else None


class PreparedSerializer(serializers.Serializer):
    """The state of "prepare mailworx" — never a secret."""

    prepared = serializers.BooleanField(help_text=_(
        "True once mailworx was prepared (and not revoked since)."))
    username = serializers.CharField(allow_null=True, help_text=_(
        "The integration user's name (the CRM side signs in with it)."))
    webservice_url = serializers.CharField(help_text=_(
        "The mailworx web service the CRM side calls (this API)."))
    crm_webservice_url = serializers.CharField(allow_blank=True, help_text=_(
        "The CRM's Web API address, as the organisation settings give it."))
    created_at = serializers.DateTimeField(allow_null=True)
    created_by = serializers.CharField(allow_null=True)
    issued_at = serializers.DateTimeField(allow_null=True, help_text=_(
        "When the current credentials were issued."))
    issued_by = serializers.CharField(allow_null=True)


class CredentialsSerializer(serializers.Serializer):
    """The integration user's credentials: in this answer only, never again."""

    username = serializers.CharField()
    password = serializers.CharField(help_text=_("Shown this once."))
    activation_key = serializers.CharField(help_text=_(
        "Shown this once; the CRM side sends it as X-Mailworx-Activation-Key."))
    token = serializers.CharField(help_text=_(
        "An API token for the integration user (shown this once; it does not expire; "
        "re-issuing or revoking ends it)."))
    webservice_url = serializers.CharField()
    crm_webservice_url = serializers.CharField(allow_blank=True)
    issued_at = serializers.DateTimeField()


class RevokedSerializer(serializers.Serializer):
    revoked = serializers.BooleanField()
    detail = serializers.CharField()


class RefusedSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text=_("Why nothing was done, in words (as the page "
                                               "says it)."))
    active_run = serializers.IntegerField(allow_null=True, required=False, help_text=_(
        "The run of this kind that is queued or running already, if that is the reason."))


class CheckStepSerializer(serializers.Serializer):
    key = serializers.CharField(help_text=_(
        "reach, tls, auth, whoami, version, schema, privileges, roles, change_tracking, "
        "bulk"))
    title = serializers.CharField()
    status = serializers.ChoiceField(choices=STEP_STATUSES, help_text=_(
        "pending (not reached yet), ok, warning (passes, with a hint), failed, skipped "
        "(needs a step that failed)."))
    message = serializers.CharField(allow_blank=True)
    hint = serializers.CharField(allow_blank=True, help_text=_("What to do, when a step "
                                                              "failed or warns."))


class IntegrationCheckSerializer(JobRunSerializer):
    """An integration check run (C9) with its steps, as the check page shows them."""

    verdict = serializers.SerializerMethodField(help_text=_(
        "pending (queued or running), passed (syncs may run), failed, cancelled."))
    steps = serializers.SerializerMethodField()

    class Meta(JobRunSerializer.Meta):
        fields = ["id", "status", "verdict", "steps", "trigger", "requested_by", "progress",
                  "error", "created_at", "started_at", "finished_at", "duration_seconds"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=VERDICTS))
    def get_verdict(self, run: JobRun) -> str:
        return {JobStatus.SUCCEEDED: "passed", JobStatus.FAILED: "failed",
                JobStatus.CANCELLED: "cancelled"}.get(JobStatus(run.status), "pending")

    @extend_schema_field(CheckStepSerializer(many=True))
    def get_steps(self, run: JobRun) -> list[dict[str, Any]]:
        steps = (run.result or {}).get("steps") or []
        return [{"key": str(s.get("key", "")), "title": render(s.get("title", "")),
                 "status": str(s.get("status", "pending")),
                 "message": render(s.get("message", "")), "hint": render(s.get("hint", ""))}
                for s in steps if isinstance(s, dict)]


class CrmOptionSerializer(serializers.Serializer):
    value = serializers.IntegerField()
    label = serializers.CharField(  # type: ignore[assignment]  # a field named "label"
        help_text=_("In the request's language."))
    label_en = serializers.CharField(allow_blank=True)
    label_de = serializers.CharField(allow_blank=True)


class CrmAttributeSerializer(serializers.ModelSerializer):
    """One attribute of the CRM attribute catalogue (C10); ``id`` is what field-mapping
    create takes as ``crm_attribute`` / ``related_attribute``."""

    table = serializers.CharField(source="entity", help_text=_(
        "The CRM table (contact, account, lead, or a table a lookup points to)."))
    display_name = serializers.CharField(help_text=_("In the request's language."))
    type = serializers.ChoiceField(source="attribute_type", choices=AttributeType.choices)
    type_label = serializers.CharField(read_only=True)  # CrmAttribute.type_label
    date_behavior = serializers.ChoiceField(choices=[*DateBehavior.choices, ("", "")],
                                            help_text=_("Date and time attributes only."))
    writable = serializers.BooleanField(source="is_valid_for_update", help_text=_(
        "False: read-only in the CRM, so a mapping of it runs CRM → mailworx only."))
    mappable = serializers.SerializerMethodField(help_text=_(
        "Can be chosen for a field mapping (lookups: with an attribute of the related "
        "record). Multi-select choices, owners and ids are not mappable (C12)."))
    fits_field_type = serializers.SerializerMethodField(help_text=_(
        "The subscriber field type this attribute fills (text, number, date, datetime, "
        "boolean, single_select); null for lookups and attributes that are not mappable."))
    options = CrmOptionSerializer(many=True, read_only=True, help_text=_(
        "The option values of a choice (picklist, state, status, multi-select); empty for "
        "other types."))

    class Meta:
        model = CrmAttribute
        fields = ["id", "table", "logical_name", "display_name", "display_name_en",
                  "display_name_de", "type", "type_label", "date_behavior", "max_length",
                  "lookup_targets", "writable", "mappable", "fits_field_type", "present",
                  "pulled_at", "options"]
        read_only_fields = fields

    def get_mappable(self, obj: CrmAttribute) -> bool:
        return is_mappable(obj)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_fits_field_type(self, obj: CrmAttribute) -> str | None:
        if obj.is_lookup:
            return None
        kind = target_field_type(obj)
        return str(kind.value) if kind is not None else None


class CrmPrincipalSerializer(serializers.ModelSerializer):
    """A cached CRM user or team (C11): what a business unit's reaction owner is set to
    (``owner_id`` = ``crm_id``, ``owner_type`` = ``type``, ``owner_name`` = ``name``)."""

    type = serializers.ChoiceField(source="principal_type", choices=OwnerType.choices)

    class Meta:
        model = CrmPrincipal
        fields = ["crm_id", "name", "type", "email", "domain_name", "is_active",
                  "refreshed_at"]
        read_only_fields = fields


def prepared_state(access: Any, webservice_url: str, crm_url: str) -> dict[str, Any]:
    return {
        "prepared": access is not None,
        "username": access.user.get_username() if access is not None else None,
        "webservice_url": webservice_url, "crm_webservice_url": crm_url,
        "created_at": access.created_at if access is not None else None,
        "created_by": _email(access.created_by) if access is not None else None,
        "issued_at": access.issued_at if access is not None else None,
        "issued_by": _email(access.issued_by) if access is not None else None,
    }
