"""Business units (C11) and their field mappings (C12)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from audience.models import SubscriberField
from businessunits.models import BusinessUnit, OwnerType
from fieldmapping.models import CrmAttribute, Direction, FieldMapping
from fieldmapping.services import mapping_problems
from mailworx_crm.entity_types import EntityType


class BusinessUnitSerializer(serializers.ModelSerializer):
    owner_type = serializers.ChoiceField(choices=OwnerType.choices, default=OwnerType.USER)

    class Meta:
        model = BusinessUnit
        fields = ["id", "name", "is_default", "owner_id", "owner_name", "owner_type",
                  "fixed_language", "created_at", "updated_at"]
        read_only_fields = ["id", "created_at", "updated_at"]
        validators: list[object] = []  # the service names a duplicate in words


class OptionPairSerializer(serializers.Serializer):
    crm_value = serializers.IntegerField(help_text=_("The CRM option set value."))
    subscriber_option = serializers.IntegerField(
        help_text=_("Id of an option of the subscriber field."))


class FieldMappingWriteSerializer(serializers.Serializer):
    entity_type = serializers.ChoiceField(choices=EntityType.choices)
    crm_attribute = serializers.IntegerField(help_text=_("Id of a CRM attribute of the "
                                                         "tenant's catalogue."))
    related_attribute = serializers.IntegerField(
        required=False, allow_null=True, default=None,
        help_text=_("For a lookup: id of the related record's attribute to copy."))
    subscriber_field = serializers.IntegerField()
    direction = serializers.ChoiceField(choices=Direction.choices, default=Direction.BOTH)
    option_map = OptionPairSerializer(
        many=True, required=False, default=list,
        help_text=_("For single-select option sets: every CRM value → a subscriber option."))


class FieldMappingSerializer(serializers.ModelSerializer):
    crm_attribute: serializers.SlugRelatedField[CrmAttribute] = serializers.SlugRelatedField(
        slug_field="logical_name", read_only=True)
    crm_attribute_id = serializers.IntegerField(read_only=True)
    related_attribute = serializers.SerializerMethodField()
    subscriber_field: serializers.SlugRelatedField[SubscriberField] = (
        serializers.SlugRelatedField(slug_field="key", read_only=True))
    subscriber_field_id = serializers.IntegerField(read_only=True)
    option_map = serializers.SerializerMethodField()
    problems = serializers.SerializerMethodField()

    class Meta:
        model = FieldMapping
        fields = ["id", "entity_type", "crm_attribute", "crm_attribute_id",
                  "related_attribute", "subscriber_field", "subscriber_field_id", "direction",
                  "option_map", "problems", "updated_at"]
        read_only_fields = fields

    def get_related_attribute(self, obj: FieldMapping) -> str | None:
        rel = obj.related_attribute
        return f"{rel.entity}.{rel.logical_name}" if rel is not None else None

    def get_option_map(self, obj: FieldMapping) -> list[dict[str, Any]]:
        return [{"crm_value": om.crm_value, "subscriber_option": om.subscriber_option_id}
                for om in obj.option_mappings.all()]

    def get_problems(self, obj: FieldMapping) -> list[str]:
        return [str(p) for p in mapping_problems(obj)]
