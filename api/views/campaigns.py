"""Campaigns with figures (C5) and the reaction ingest of the mailing engine (N1)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.campaigns import (
    CampaignSerializer,
    ReactionIngestResponseSerializer,
    ReactionIngestSerializer,
)
from api.serializers.subscribers import summary
from api.views.base import TenantScopedMixin, check_bulk_size, check_item_count, field_error
from audience.campaigns import create_campaign, with_figures
from audience.models import Campaign, Reaction, SubscriberGroup
from audience.reactions import record_reactions
from businessunits.models import BusinessUnit


class CampaignViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                      viewsets.GenericViewSet):
    serializer_class = CampaignSerializer
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[Campaign]:
        if self.is_schema:
            return Campaign.objects.none()
        return with_figures(Campaign.objects.filter(tenant=self.tenant)).order_by(
            "-sent_at", "-id")

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.get_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        values = dict(data.validated_data)
        group_id, unit_id = values.pop("group_id", None), values.pop("business_unit_id", None)
        group = unit = None
        if group_id is not None:
            group = SubscriberGroup.objects.filter(tenant=self.tenant, pk=group_id).first()
            if group is None:
                raise field_error("group", _("No group with this id in this tenant."))
        if unit_id is not None:
            unit = BusinessUnit.objects.filter(tenant=self.tenant, pk=unit_id).first()
            if unit is None:
                raise field_error("business_unit",
                                  _("Choose one of this tenant's business units."))
        campaign = create_campaign(self.tenant, values.pop("name"), group=group,
                                   business_unit=unit, **values)
        out = self.get_queryset().get(pk=campaign.pk)
        return Response(CampaignSerializer(out).data, status=status.HTTP_201_CREATED)


class ReactionIngestView(TenantScopedMixin):
    """Reactions reported by the mailing engine: opens, clicks, bounces.

    Idempotent by ``source_event_id``: the same batch sent twice stores every reaction once
    and reports the repeated items as ``duplicate``. Each item gets its own result.
    """

    serializer_class = ReactionIngestSerializer

    def get_queryset(self) -> QuerySet[Reaction]:
        if self.is_schema:
            return Reaction.objects.none()
        return Reaction.objects.filter(tenant=self.tenant)

    @extend_schema(request=ReactionIngestSerializer,
                   responses={200: ReactionIngestResponseSerializer})
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        check_bulk_size(request)
        if isinstance(request.data, dict) and isinstance(request.data.get("items"), list):
            check_item_count(request.data["items"])
        data = ReactionIngestSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        results = record_reactions(self.tenant, data.validated_data["items"])
        return Response({"counts": summary(results),
                         "results": [{**asdict(r), "outcome": str(r.outcome)}
                                     for r in results]})
