"""Campaigns with their reaction figures, absolute and relative (C5), and reaction ingest."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from audience.campaigns import figures_of
from audience.models import BounceType, Campaign, ReactionKind


class AbsoluteFiguresSerializer(serializers.Serializer):
    recipients = serializers.IntegerField()
    opens = serializers.IntegerField()
    clicks = serializers.IntegerField()
    bounces = serializers.IntegerField()
    unique_openers = serializers.IntegerField()
    unique_clickers = serializers.IntegerField()


class RelativeFiguresSerializer(serializers.Serializer):
    open_rate = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True,
                                         help_text=_("Unique openers per 100 recipients."))
    click_rate = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True,
                                          help_text=_("Unique clickers per 100 recipients."))
    bounce_rate = serializers.DecimalField(max_digits=6, decimal_places=1, allow_null=True,
                                           help_text=_("Bounces per 100 recipients."))


class FiguresSerializer(serializers.Serializer):
    absolute = AbsoluteFiguresSerializer()
    relative = RelativeFiguresSerializer()


class CampaignSerializer(serializers.ModelSerializer):
    group = serializers.IntegerField(source="group_id", allow_null=True, required=False)
    business_unit = serializers.IntegerField(source="business_unit_id", allow_null=True,
                                             required=False)
    figures = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = ["id", "name", "subject", "group", "business_unit", "sent_at", "recipients",
                  "crm_campaign_id", "crm_campaign_activity_id", "created_at", "figures"]
        read_only_fields = ["id", "crm_campaign_id", "crm_campaign_activity_id", "created_at",
                            "figures"]

    @extend_schema_field(FiguresSerializer)
    def get_figures(self, obj: Campaign) -> dict[str, Any] | None:
        if not hasattr(obj, "opens"):
            return None
        f = figures_of(obj)
        return FiguresSerializer({
            "absolute": {"recipients": f.recipients, "opens": f.opens, "clicks": f.clicks,
                         "bounces": f.bounces, "unique_openers": f.unique_openers,
                         "unique_clickers": f.unique_clickers},
            "relative": {"open_rate": f.open_rate, "click_rate": f.click_rate,
                         "bounce_rate": f.bounce_rate},
        }).data


class ReactionItemSerializer(serializers.Serializer):
    """Documents an item; the service validates each item and reports it (never a 400)."""

    source_event_id = serializers.CharField(
        max_length=200, help_text=_("The mailing engine's id of the event; a repeated id "
                                    "is reported as duplicate and stored once."))
    kind = serializers.ChoiceField(choices=ReactionKind.choices)
    subscriber_id = serializers.IntegerField()
    campaign_id = serializers.IntegerField()
    occurred_at = serializers.DateTimeField(help_text=_("With a time zone."))
    url = serializers.CharField(required=False, allow_blank=True,
                                help_text=_("Clicks only: the clicked URL."))
    bounce_type = serializers.ChoiceField(choices=BounceType.choices, required=False,
                                          allow_blank=True, help_text=_("Bounces only."))


@extend_schema_field(ReactionItemSerializer(many=True))
class ReactionItemsField(serializers.ListField):
    child = serializers.DictField()


class ReactionIngestSerializer(serializers.Serializer):
    items = ReactionItemsField(allow_empty=False,
                               help_text=_("Up to 10,000 reactions per call."))


class ReactionResultSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    outcome = serializers.ChoiceField(choices=["created", "duplicate", "invalid"])
    message = serializers.CharField(allow_blank=True)


class ReactionIngestResponseSerializer(serializers.Serializer):
    counts = serializers.DictField(child=serializers.IntegerField())
    results = ReactionResultSerializer(many=True)
