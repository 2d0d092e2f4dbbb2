"""Subject rights over the API (GDPR Art. 15, 17, 19): erase a subscriber, export what is
held about an address, and read what each erasure asked of the CRM and how it went."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from api.views.base import TenantScopedMixin, field_error
from audience.models import Subscriber
from syncjobs.erasure import erase
from syncjobs.models import ErasurePropagation
from syncjobs.subject_access import export_address


class ErasureSerializer(serializers.Serializer):
    erased_subscribers = serializers.IntegerField(
        help_text=gettext_lazy(
            "How many subscribers were erased: every one with the address, and those merged "
            "into them."
        )
    )
    crm_records_to_tell = serializers.IntegerField(
        help_text=gettext_lazy(
            "Linked CRM records the background job tells, as the tenant's setting says "
            "(see erasures/)."
        )
    )


class ErasurePropagationSerializer(serializers.ModelSerializer):
    outcome = serializers.CharField(read_only=True)

    class Meta:
        model = ErasurePropagation
        fields = [
            "id",
            "created_at",
            "actor",
            "subscriber_ref",
            "entity_type",
            "crm_id",
            "action",
            "state",
            "outcome",
            "attempts",
            "finished_at",
        ]
        read_only_fields = fields


class SubscriberEraseView(TenantScopedMixin):
    serializer_class = ErasureSerializer

    @extend_schema(
        request=None,
        responses={200: ErasureSerializer},
        description="Erase the subscriber's personal data (administrators). The "
        "address stays on the suppression list as a keyed hash.",
    )
    def post(self, request: Request, tenant: str, pk: int) -> Response:
        sub = self.access.get(Subscriber.objects.all(), pk=pk)
        result = erase(sub, user=request.user)
        return Response(
            ErasureSerializer(
                {
                    "erased_subscribers": len(result.erased.subscriber_ids),
                    "crm_records_to_tell": result.propagations,
                }
            ).data
        )


class SubscriberAccessExportView(TenantScopedMixin):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT},
        description="Everything held about the subscriber's address (Art. 15).",
    )
    def get(self, request: Request, tenant: str, pk: int) -> Response:
        sub = self.access.get(Subscriber.objects.all(), pk=pk)
        return Response(export_address(self.tenant, sub.email))


class AccessExportView(TenantScopedMixin):
    @extend_schema(
        parameters=[OpenApiParameter("email", str, required=True)],
        responses={200: OpenApiTypes.OBJECT},
        description="Everything held about an address (Art. 15); an address "
        "nothing is held about gives an empty subscriber list.",
    )
    def get(self, request: Request, tenant: str) -> Response:
        email = str(request.query_params.get("email", "")).strip()
        if "@" not in email:
            raise field_error("email", _("Enter the email address whose data you want to export."))
        return Response(export_address(self.tenant, email))


class ErasurePropagationViewSet(TenantScopedMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """What each erasure asked of a linked CRM record, and its outcome (Art. 19)."""

    serializer_class = ErasurePropagationSerializer

    def get_queryset(self) -> QuerySet[ErasurePropagation]:
        if self.is_schema:
            return ErasurePropagation.objects.none()
        return ErasurePropagation.objects.filter(tenant=self.tenant)

    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)
