"""Subscribers: field values as ``{key: value}``, bulk upsert with per-item results."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audience.models import Subscriber, SubscriberStatus

VALUES_HELP = _("Field values by the field's internal name (see subscriber-fields), e.g. "
                "{\"email\": \"anna@example.com\", \"first_name\": \"Anna\"}. Values are "
                "text, numbers or booleans; select fields take the option's value or label.")


@extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
class ValuesField(serializers.DictField):
    """``{field key: value}``; the service validates keys and values."""


class SubscriberSerializer(serializers.ModelSerializer):
    values = serializers.SerializerMethodField()
    # Derived from the permission ``consent`` (docs/consent.md); read-only here.
    status = serializers.ChoiceField(choices=SubscriberStatus.choices, read_only=True)
    status_changed_at = serializers.DateTimeField(read_only=True)

    class Meta:
        model = Subscriber
        fields = ["id", "email", "language", "status", "status_changed_at", "consent",
                  "consent_changed_at", "created_at", "updated_at", "values"]
        read_only_fields = fields

    @extend_schema_field({"type": "object", "additionalProperties": {"type": "string"}})
    def get_values(self, obj: Subscriber) -> dict[str, str]:
        return {v.field.key: v.value for v in obj.values.all()}


class SubscriberWriteSerializer(serializers.Serializer):
    values = ValuesField(help_text=VALUES_HELP)
    status = serializers.ChoiceField(choices=SubscriberStatus.choices, required=False)


class SubscriberUpdateSerializer(serializers.Serializer):
    values = ValuesField(help_text=VALUES_HELP, required=False)
    status = serializers.ChoiceField(choices=SubscriberStatus.choices, required=False)


class BulkUpsertSerializer(serializers.Serializer):
    items = serializers.ListField(
        child=ValuesField(), allow_empty=False,
        help_text=_("Up to 10,000 subscribers as {field key: value}; each needs an email. "
                    "Matched by address among the tenant's subscribers."))
    group = serializers.IntegerField(
        required=False, allow_null=True,
        help_text=_("Id of a group every stored subscriber also joins."))
    dry_run = serializers.BooleanField(
        default=False, help_text=_("Validate and report, write nothing."))


class UpsertResultSerializer(serializers.Serializer):
    index = serializers.IntegerField(help_text=_("Position of the item in the request."))
    outcome = serializers.ChoiceField(
        choices=["created", "updated", "unchanged", "ambiguous", "invalid"])
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
