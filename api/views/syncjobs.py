"""Runs and sync issues (S12, N3): list and read every run of the tenant, start a sync
(POST ``runs/``), cancel a run; list issues, retry one or all, ignore one. Starting and
retrying only queue runs — the CRM is called by the worker, never by the request."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.syncjobs import (
    ConflictSerializer,
    JobRunSerializer,
    RetryResultSerializer,
    SyncIssueSerializer,
    SyncStartSerializer,
)
from api.views.base import TenantScopedMixin, field_error
from audience.models import Subscriber, SubscriberGroup
from syncjobs import services
from syncjobs.models import JobKind, JobRun, JobStatus, SyncIssue, Trigger


def conflict(detail: str, run: JobRun | None = None) -> Response:
    return Response({"detail": detail, "active_run": run.pk if run is not None else None},
                    status=status.HTTP_409_CONFLICT)


def retry_response(outcome: services.RetryOutcome) -> Response:
    detail = (services.retry_message(outcome) if outcome.retried
              else _("There are no open issues to retry."))
    return Response({"retried": outcome.retried,
                     "run": JobRunSerializer(outcome.run).data if outcome.run else None,
                     "detail": detail}, status=status.HTTP_202_ACCEPTED)


class RunViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                 viewsets.GenericViewSet):
    """Every background run of the tenant (syncs, reaction exports, checks …), newest
    first. ``POST`` starts a sync."""

    serializer_class = JobRunSerializer
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[JobRun]:
        if self.is_schema:
            return JobRun.objects.none()
        runs = JobRun.objects.filter(tenant=self.tenant).select_related("requested_by")
        kind, state = self.request.query_params.get("kind"), self.request.query_params.get(
            "status")
        if kind:
            runs = runs.filter(kind=kind)
        if state:
            runs = runs.filter(status=state)
        return runs

    @extend_schema(parameters=[
        OpenApiParameter("kind", OpenApiTypes.STR, enum=JobKind.values),
        OpenApiParameter("status", OpenApiTypes.STR, enum=JobStatus.values)])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=SyncStartSerializer,
                   responses={201: JobRunSerializer, 409: ConflictSerializer},
                   description="Start a sync. 409 when a sync is queued or running already "
                               "(`active_run`), the sync is paused or the integration check "
                               "has not passed.")
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        data = SyncStartSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        mode = data.validated_data["mode"]
        group = subscriber = None
        if "group" in data.validated_data:
            group = SubscriberGroup.objects.filter(
                tenant=self.tenant, pk=data.validated_data["group"]).first()
            if group is None:
                raise field_error("group", _("No group with this id in this tenant."))
        if "subscriber" in data.validated_data:
            subscriber = Subscriber.objects.filter(
                tenant=self.tenant, pk=data.validated_data["subscriber"]).first()
            if subscriber is None:
                raise field_error("subscriber", _("No subscriber with this id in this tenant."))
        try:
            run = services.start_manual_sync(
                self.tenant, mode, user=request.user, trigger=Trigger.API, group=group,
                subscriber=subscriber, language=get_language(),
                dry_run=data.validated_data["dry_run"])
        except services.StartRefused as exc:
            return conflict(exc.explanation, exc.run)
        return Response(JobRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={201: JobRunSerializer, 409: ConflictSerializer},
                   description="Start a reaction export (opens, clicks and bounces → CRM "
                               "activities and campaign figures). 409 when one is queued or "
                               "running already, the sync is paused or the integration check "
                               "has not passed.")
    @action(detail=False, methods=["post"], url_path="reaction-export")
    def reaction_export(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            run = services.start_manual_reaction_export(
                self.tenant, user=request.user, trigger=Trigger.API, language=get_language())
        except services.StartRefused as exc:
            return conflict(exc.explanation, exc.run)
        return Response(JobRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses={202: JobRunSerializer, 409: ConflictSerializer},
                   description="Ask the run to stop: a queued run ends at once, a running "
                               "sync at its next batch boundary; its log then says where.")
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        run = self.get_object()
        if not services.cancel_run(run):
            return conflict(_("This run has already ended."))
        run.refresh_from_db()
        return Response(JobRunSerializer(run).data, status=status.HTTP_202_ACCEPTED)


class IssueViewSet(TenantScopedMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin,
                   viewsets.GenericViewSet):
    """Records that could not sync, with the reason and what to do (N3)."""

    serializer_class = SyncIssueSerializer
    lookup_value_converter = "int"

    def get_queryset(self) -> QuerySet[SyncIssue]:
        if self.is_schema:
            return SyncIssue.objects.none()
        state = self.request.query_params.get("state", "open")
        if self.action != "list":
            state = "all"
        return services.issues_for(self.tenant, state)

    @extend_schema(parameters=[OpenApiParameter(
        "state", OpenApiTypes.STR, enum=list(services.ISSUE_FILTERS),
        description="open (default: open and retrying), retrying, ignored, resolved, all")])
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(request=None, responses={202: RetryResultSerializer},
                   description="Give the record another try and queue a sync for it (its "
                               "subscriber's, or an incremental one).")
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        issue = self.get_object()
        return retry_response(services.retry_issues(
            self.tenant, [issue], user=request.user, trigger=Trigger.API,
            language=get_language()))

    @extend_schema(request=None, responses={202: RetryResultSerializer},
                   description="Retry every open issue with one incremental sync.")
    @action(detail=False, methods=["post"], url_path="retry-all")
    def retry_all(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return retry_response(services.retry_all(
            self.tenant, user=request.user, trigger=Trigger.API, language=get_language()))

    @extend_schema(request=None, responses={200: SyncIssueSerializer})
    @action(detail=True, methods=["post"])
    def ignore(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        issue = self.get_object()
        services.ignore(issue, user=request.user)
        return Response(SyncIssueSerializer(
            get_object_or_404(services.issues_for(self.tenant, "all"), pk=issue.pk)).data)
