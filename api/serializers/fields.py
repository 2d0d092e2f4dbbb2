"""Subscriber field definitions and their options."""

from __future__ import annotations

from rest_framework import serializers

from audience.models import FieldType, SubscriberField, SubscriberFieldOption


class OptionSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubscriberFieldOption
        fields = ["id", "value", "label_en", "label_de", "position"]
        read_only_fields = ["id", "position"]


class OptionLabelsSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubscriberFieldOption
        fields = ["label_en", "label_de"]


class FieldSerializer(serializers.ModelSerializer):
    options = OptionSerializer(many=True, read_only=True)

    class Meta:
        model = SubscriberField
        fields = ["id", "key", "label_en", "label_de", "field_type", "is_standard", "position",
                  "options"]
        read_only_fields = ["id", "is_standard", "position", "options"]


class FieldCreateSerializer(serializers.ModelSerializer):
    field_type = serializers.ChoiceField(choices=FieldType.choices)

    class Meta:
        model = SubscriberField
        fields = ["key", "label_en", "label_de", "field_type"]
        # The tenant+key uniqueness is the service's rule (a readable message).
        validators: list[object] = []


class FieldUpdateSerializer(serializers.ModelSerializer):
    class Meta:
        model = SubscriberField
        fields = ["label_en", "label_de"]
