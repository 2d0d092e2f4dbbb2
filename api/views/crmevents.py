"""What the CRM side calls (S12, C8): only the tenant's integration user, with the
activation key. The event is stored durably first, then the matching sync run is queued
(list marked → mode ``lists`` for that list, activity distributed → mode ``campaigns`` for
that activity). Both are answered with 202. When no run can be queued now — one is queued
or running already, or syncs are refused (check missing, paused) — the event stays waiting
and the answer says so: the next run handles waiting events, and polling finds the list or
activity anyway."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.authentication import BasicAuthentication
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.authentication import TokenAuthentication
from api.permissions import ACTIVATION_KEY_HEADER, IsTenantIntegration, integration_tenant
from api.throttles import CrmEventThrottle
from crmevents.models import CrmEvent, CrmEventKind
from crmevents.services import record_event
from syncjobs import runner
from syncjobs.engine.start import SyncRefused, join_queued_run, start_sync
from syncjobs.models import JobRun, Trigger
from tenants.models import Tenant

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


class CrmEventAnswerSerializer(CrmEventSerializer):
    queued = serializers.BooleanField(
        read_only=True, help_text=_("True when this report queued a sync run for the event."))
    run_id = serializers.IntegerField(
        read_only=True, allow_null=True,
        help_text=_("The sync run queued for the event, or the run already queued or running "
                    "that the event waits for; empty when syncs are refused."))
    message = serializers.CharField(read_only=True, help_text=_("What happens next, in words."))

    class Meta(CrmEventSerializer.Meta):
        fields = [*CrmEventSerializer.Meta.fields, "queued", "run_id", "message"]
        read_only_fields = fields


class _CrmEventView(APIView):
    authentication_classes = [BasicAuthentication, TokenAuthentication]
    permission_classes = [IsAuthenticated, IsTenantIntegration]
    kind: CrmEventKind
    mode: str  # the sync mode that handles this kind of event
    input_serializer: type[serializers.Serializer]
    id_field: str
    # Per tenant, so one tenant's burst slows no other (settings: CRM_EVENTS_RATE).
    throttle_classes = [CrmEventThrottle]

    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = self.input_serializer(data=request.data)
        data.is_valid(raise_exception=True)
        tenant = integration_tenant(self)
        crm_id = data.validated_data[self.id_field]
        # Recorded before anything else: whatever happens next, the event is not lost.
        event, created = record_event(tenant, self.kind, crm_id,
                                      user=request.user)  # type: ignore[arg-type]
        event.duplicate = not created  # type: ignore[attr-defined]
        event.queued, event.run_id, event.message = self._queue(  # type: ignore[attr-defined]
            tenant, str(crm_id), request.user)
        return Response(CrmEventAnswerSerializer(event).data, status=status.HTTP_202_ACCEPTED)

    def _queue(self, tenant: Tenant, crm_id: str, user: Any) -> tuple[bool, int | None, str]:
        try:
            run = self.start(tenant, crm_id, user)
        except runner.JobAlreadyActive as exc:
            if join_queued_run(exc.run, self.mode, crm_id):
                return False, exc.run.pk, gettext(
                    "A sync run is already queued or running (run %(run)d); the event joined "
                    "it, and that run handles it.") % {"run": exc.run.pk}
            return False, exc.run.pk, gettext(
                "A sync run is already queued or running (run %(run)d); the event waits, and "
                "a run for waiting events starts within a minute after it ends.") % {
                "run": exc.run.pk}
        except SyncRefused as exc:
            return False, None, gettext(
                "No sync run was queued: %(why)s The event waits and the first sync after "
                "that handles it.") % {"why": exc.explanation}
        return True, run.pk, gettext("A sync run was queued for the event (run %(run)d).") % {
            "run": run.pk}

    def start(self, tenant: Tenant, crm_id: str, user: Any) -> JobRun:
        """Queue the sync run that handles the event (S12)."""
        raise NotImplementedError


class ListMarkedView(_CrmEventView):
    """The CRM side marked a marketing list for sync (S1)."""

    kind = CrmEventKind.LIST_MARKED
    mode = "lists"
    input_serializer = ListMarkedSerializer
    id_field = "list_id"

    def start(self, tenant: Tenant, crm_id: str, user: Any) -> JobRun:
        return start_sync(tenant, "lists", list_id=crm_id, trigger=Trigger.CRM, user=user)

    @extend_schema(request=ListMarkedSerializer, responses={202: CrmEventAnswerSerializer},
                   parameters=[KEY_PARAMETER])
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


class ActivityDistributedView(_CrmEventView):
    """A campaign activity was distributed through the mailworx channel (S3)."""

    kind = CrmEventKind.ACTIVITY_DISTRIBUTED
    mode = "campaigns"
    input_serializer = ActivityDistributedSerializer
    id_field = "activity_id"

    def start(self, tenant: Tenant, crm_id: str, user: Any) -> JobRun:
        return start_sync(tenant, "campaigns", activity_id=crm_id, trigger=Trigger.CRM,
                          user=user)

    @extend_schema(request=ActivityDistributedSerializer,
                   responses={202: CrmEventAnswerSerializer},
                   parameters=[KEY_PARAMETER])
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)
