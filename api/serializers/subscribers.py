"""Subscribers: field values as ``{key: value}``, bulk upsert with per-item results."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audience.models import ConsentEvent, ConsentState, Subscriber, SubscriberStatus
from mailworx_crm.entity_types import EntityType
from syncjobs.models import RecordLink
from syncjobs.models.sync import LinkOrigin, LinkState
from syncjobs.record_names import record_url, table_label, tenant_crm_url
from syncjobs.subscriber_records import field_sources, record_name

VALUES_HELP = _("Field values by the field's internal name (see subscriber-fields), e.g. "
                "{\"email\": \"anna@example.com\", \"first_name\": \"Anna\"}. Values are "
                "text, numbers or booleans; select fields take the option's value or label.")


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class ValuesField(serializers.DictField):
    """``{field key: value}``; the service validates keys and values."""


@extend_schema_field({"type": "object", "additionalProperties": {
    "type": "object", "properties": {"side": {"type": "string", "enum": ["crm", "mailworx"]},
                                     "run": {"type": "integer", "nullable": True},
                                     "rule": {"type": "string"},
                                     "pending": {"type": "boolean"}}}})
class FieldSourcesField(serializers.SerializerMethodField):
    """Per mapped field key: which side last set it, in which run, by which S11 rule."""


class CrmLinkSerializer(serializers.ModelSerializer):
    """A link of the subscriber to a CRM record (the sync engine's)."""

    table = serializers.ChoiceField(source="entity_type", choices=EntityType.choices)
    table_label = serializers.SerializerMethodField()
    record_id = serializers.UUIDField(source="crm_id")
    state = serializers.ChoiceField(choices=LinkState.choices, help_text=_(
        "pending (being created in the CRM), active (linked), unlinked (no longer synced), "
        "crm_deleted (the record was deleted in the CRM)."))
    origin = serializers.ChoiceField(choices=LinkOrigin.choices)
    crm_active = serializers.BooleanField(help_text=_(
        "The record was active (statecode 0) when last seen."))
    record_url = serializers.SerializerMethodField(help_text=_(
        "Opens the record in Dynamics; empty while the tenant has no CRM URL."))
    name = serializers.SerializerMethodField(help_text=_(
        "The record's name as last synced (its name fields); empty when none is mapped."))
    field_sources = FieldSourcesField(help_text=_(
        "Why each mapped field has its value: the side that last set it (crm or mailworx), "
        "the run and the rule (one_side, newer, tie, new_empty, backfill, one_way, "
        "created); pending: decided for mailworx, not yet written to the CRM."))
    last_synced_at = serializers.DateTimeField(source="updated_at", help_text=_(
        "When a sync last wrote or confirmed this link."))

    class Meta:
        model = RecordLink
        fields = ["table", "table_label", "record_id", "state", "origin", "crm_active",
                  "record_url", "name", "field_sources", "crm_modifiedon", "last_synced_at",
                  "created_at"]
        read_only_fields = fields

    def get_table_label(self, link: RecordLink) -> str:
        return table_label(link.entity_type)

    def get_name(self, link: RecordLink) -> str:
        return record_name(link.entity_type, link.synced_values)

    def get_field_sources(self, link: RecordLink) -> dict[str, dict[str, Any]]:
        return {key: {"side": src.side, "run": src.run_id, "rule": src.rule,
                      "pending": src.pending}
                for key, src in field_sources(link).items()}

    def get_record_url(self, link: RecordLink) -> str:
        # One look-up of the tenant's CRM URL per answer, not one per link.
        crm_urls: dict[int, str] = self.__dict__.setdefault("_crm_urls", {})
        if link.tenant_id not in crm_urls:
            crm_urls[link.tenant_id] = tenant_crm_url(link.tenant_id)
        return record_url(link.tenant_id, link.entity_type, str(link.crm_id),
                          crm_url=crm_urls[link.tenant_id])


class SubscriberSerializer(serializers.ModelSerializer):
    values = serializers.SerializerMethodField()
    # Derived from the permission ``consent`` (docs/consent.md); read-only here.
    status = serializers.ChoiceField(choices=SubscriberStatus.choices, read_only=True)
    status_changed_at = serializers.DateTimeField(read_only=True)
    crm_links = CrmLinkSerializer(many=True, read_only=True, help_text=_(
        "The subscriber's CRM records, live links first (at most one is pending, active or "
        "crm_deleted; unlinked ones are history)."))

    class Meta:
        model = Subscriber
        fields = ["id", "email", "language", "status", "status_changed_at", "consent",
                  "consent_changed_at", "created_at", "updated_at", "values", "crm_links"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_values(self, obj: Subscriber) -> dict[str, str]:
        return {v.field.key: v.value for v in obj.values.all()}


class ConsentWriteMixin(serializers.Serializer):
    """The permission a write asks for (N6, docs/consent.md); refused by the consent rules
    with a 400 that says why."""

    status = serializers.ChoiceField(
        choices=SubscriberStatus.choices, required=False,
        help_text=_("Shorthand for a permission: active = opted in (single opt-in), "
                    "unsubscribed = opted out. A subscriber who opted out, bounced or awaits "
                    "confirmation becomes active only with consent=double_opt_in."))
    consent = serializers.ChoiceField(
        choices=ConsentState.choices, required=False,
        help_text=_("The permission. double_opt_in needs confirmed_at."))
    confirmed_at = serializers.DateTimeField(
        required=False, help_text=_("When the double opt-in was confirmed."))
    consent_source = serializers.CharField(
        required=False, max_length=200,
        help_text=_("Where the permission was given, e.g. the form or the confirmation mail."))


class SubscriberWriteSerializer(ConsentWriteMixin):
    values = ValuesField(help_text=VALUES_HELP)


class SubscriberUpdateSerializer(ConsentWriteMixin):
    values = ValuesField(help_text=VALUES_HELP, required=False)


class ConsentEventSerializer(serializers.ModelSerializer):
    """One entry of a subscriber's consent history (read-only)."""

    who = serializers.CharField(source="actor")

    class Meta:
        model = ConsentEvent
        fields = ["id", "state", "previous_state", "occurred_at", "recorded_at", "source",
                  "detail", "who"]
        read_only_fields = fields


class BulkUpsertSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=ValuesField(), allow_empty=False,
        help_text=_("Up to 10,000 subscribers as {field key: value}; each needs an email. "
                    "Matched by address among the tenant's subscribers. Optional consent, "
                    "consent_date and consent_source keep the original permission "
                    "(docs/consent.md)."))
    group = serializers.IntegerField(
        required=False, allow_null=True,
        help_text=_("Id of a group every stored subscriber also joins."))
    dry_run = serializers.BooleanField(
        default=False, help_text=_("Validate and report, write nothing."))


class UpsertResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text=_("Position of the item in the request."))
    outcome = serializers.ChoiceField(
        choices=["created", "updated", "unchanged", "ambiguous", "invalid", "suppressed"])
    subscriber_id = serializers.IntegerField(allow_null=True)
    message = serializers.CharField(allow_blank=True)
    changed = serializers.ListField(child=serializers.CharField())


class BulkUpsertResponseSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField(),
                                   help_text=_("How many items had each outcome."))
    results = UpsertResultSerializer(many=True)


def summary(results: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for result in results:
        counts[str(result.outcome)] = counts.get(str(result.outcome), 0) + 1
    return counts


class MergedSubscriberSerializer(serializers.Serializer):
    """The answer (410 Gone) for a subscriber that was merged into another (S9)."""

    detail = serializers.CharField()
    merged_into = serializers.IntegerField(help_text=_("The surviving subscriber's id."))
    merged_into_url = serializers.CharField(help_text=_("Its API address."))
