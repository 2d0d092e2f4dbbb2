"""Subscriber groups, their members and their CRM sync setting (S5)."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from audience.models import GroupSyncSetting, SubscriberGroup, SyncMode
from mailworx_crm.entity_types import EntityType


class GroupSerializer(serializers.ModelSerializer):
    member_count = serializers.IntegerField(read_only=True)
    has_sync_setting = serializers.BooleanField(read_only=True)

    class Meta:
        model = SubscriberGroup
        fields = ["id", "name", "description", "created_at", "member_count",
                  "has_sync_setting"]
        read_only_fields = ["id", "created_at", "member_count", "has_sync_setting"]
        validators: list[object] = []  # the service says "exists already" in words


class MembersAddSerializer(serializers.Serializer):
    subscriber_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), allow_empty=False, max_length=10_000,
        help_text=_("Ids of the tenant's subscribers to add (at most 10,000)."))


class MembersAddedSerializer(serializers.Serializer):
    added = serializers.IntegerField(help_text=_("How many were not members before."))
    unknown = serializers.ListField(
        child=serializers.IntegerField(),
        help_text=_("Ids that are no (live) subscriber of this tenant; not added."))


class SyncSettingSerializer(serializers.ModelSerializer):
    entity_type = serializers.ChoiceField(choices=EntityType.choices, default="contact")
    mode = serializers.ChoiceField(choices=SyncMode.choices, default=SyncMode.BOTH)
    business_unit = serializers.IntegerField(
        source="business_unit_id", allow_null=True, required=False, default=None,
        help_text=_("Id of one of the tenant's business units; empty means the default "
                    "unit."))

    class Meta:
        model = GroupSyncSetting
        fields = ["enabled", "future_owner", "entity_type", "mode", "business_unit",
                  "updated_at"]
        read_only_fields = ["updated_at"]
