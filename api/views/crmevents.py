"""What the CRM side calls (S12, C8): only the tenant's integration user, with the
activation key. The event is stored durably and answered with 202; a sync run acts on it."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import BasicAuthentication, TokenAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import ACTIVATION_KEY_HEADER, IsTenantIntegration, integration_tenant
from crmevents.models import CrmEvent, CrmEventKind
from crmevents.services import record_event

KEY_PARAMETER = OpenApiParameter(
    ACTIVATION_KEY_HEADER, str, OpenApiParameter.HEADER, required=True,
    description="The activation key issued by “prepare mailworx”.")


class ListMarkedSerializer(serializers.Serializer):
    list_id = serializers.UUIDField(help_text=_("The marketing list's id in the CRM."))


class ActivityDistributedSerializer(serializers.Serializer):
    activity_id = serializers.UUIDField(help_text=_("The campaign activity's id in the CRM."))


class CrmEventSerializer(serializers.ModelSerializer):
    duplicate = serializers.BooleanField(
        read_only=True, help_text=_("True when an identical event was still waiting; no "
                                    "second one was recorded."))

    class Meta:
        model = CrmEvent
        fields = ["id", "kind", "crm_id", "received_at", "processed_at", "duplicate"]
        read_only_fields = fields


class _CrmEventView(APIView):
    authentication_classes = [BasicAuthentication, TokenAuthentication]
    permission_classes = [IsAuthenticated, IsTenantIntegration]
    kind: CrmEventKind
    input_serializer: type[serializers.Serializer]
    id_field: str

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        event, created = record_event(integration_tenant(self), self.kind,
                                      data.validated_data[self.id_field],
                                      user=request.user)  # type: ignore[arg-type]
        event.duplicate = not created  # type: ignore[attr-defined]
        return Response(CrmEventSerializer(event).data, status=status.HTTP_202_ACCEPTED)


class ListMarkedView(_CrmEventView):
    """The CRM side marked a marketing list for sync (S1)."""

    kind = CrmEventKind.LIST_MARKED
    input_serializer = ListMarkedSerializer
    id_field = "list_id"

    @extend_schema(request=ListMarkedSerializer, responses={202: CrmEventSerializer},
                   parameters=[KEY_PARAMETER])
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class ActivityDistributedView(_CrmEventView):
    """A campaign activity was distributed through the mailworx channel (S3)."""

    kind = CrmEventKind.ACTIVITY_DISTRIBUTED
    input_serializer = ActivityDistributedSerializer
    id_field = "activity_id"

    @extend_schema(request=ActivityDistributedSerializer, responses={202: CrmEventSerializer},
                   parameters=[KEY_PARAMETER])
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)
