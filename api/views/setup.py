"""Setup progress and "Start syncing" (C7), as the setup page shows and does them: the
steps with their state, what keeps syncing from starting, and the start itself (which,
like the page, queues the first sync at once)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.syncjobs import JobRunSerializer
from api.views.base import TenantScopedMixin
from orgsettings import services
from orgsettings.models import OrgSettings
from orgsettings.progress import setup_steps, start_blockers
from syncjobs import services as sync_services
from syncjobs.models import JobRun, Trigger


class SetupStepSerializer(serializers.Serializer):
    key = serializers.CharField(help_text=_(
        "settings, prepare, check, attributes, business_unit, mappings, start"))
    title = serializers.CharField()
    state = serializers.ChoiceField(choices=["done", "open", "waiting"], help_text=_(
        "waiting: an earlier step must be done first."))
    reason = serializers.CharField(allow_blank=True, help_text=_(
        "What the step waits for, or what is still missing."))
    details = serializers.ListField(child=serializers.CharField())


class SetupSerializer(serializers.Serializer):
    steps = SetupStepSerializer(many=True)
    sync_started_at = serializers.DateTimeField(allow_null=True, help_text=_(
        "When syncing was started; null: not yet (no sync runs but dry runs)."))
    sync_started_by = serializers.CharField(allow_null=True)
    sync_enabled = serializers.BooleanField(help_text=_(
        "Syncs run: syncing was started and the integration check passed since the "
        "connection last changed."))
    start_blockers = serializers.ListField(child=serializers.CharField(), help_text=_(
        "What keeps “Start syncing” closed, one line per step; empty when it may start."))
    backfill_pending = serializers.IntegerField(help_text=_(
        "Linked records a field-mapping change has not reached yet (S14); start a run with "
        "mode “backfill”, or the next incremental or full sync backfills first."))


class StartSyncingSerializer(serializers.Serializer):
    started = serializers.BooleanField(help_text=_(
        "True when this call started syncing; false when it was started already."))
    detail = serializers.CharField()
    run = JobRunSerializer(allow_null=True, help_text=_(
        "The first sync, queued by this call; null when none was queued now."))
    setup = SetupSerializer()


class StartRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    missing = serializers.ListField(child=serializers.CharField(), help_text=_(
        "What is still to do, one line per step."))


def setup_state(view: TenantScopedMixin) -> dict[str, Any]:
    tenant = view.tenant
    steps = setup_steps(tenant)
    org = OrgSettings.objects.filter(tenant=tenant).select_related("sync_started_by").first()
    started_by = org.sync_started_by if org is not None else None
    return {
        "steps": [{"key": s.key, "title": s.title, "state": s.state.value, "reason": s.reason,
                   "details": s.details} for s in steps],
        "sync_started_at": org.sync_started_at if org is not None else None,
        "sync_started_by": (started_by.email or started_by.get_username()) if started_by
        else None,
        "sync_enabled": bool(org is not None and org.sync_enabled),
        "start_blockers": start_blockers(tenant, steps),
        "backfill_pending": sync_services.backfill_needed(tenant),
    }


class SetupView(TenantScopedMixin):
    """The setup steps and whether syncing runs."""

    serializer_class = SetupSerializer

    @extend_schema(responses={200: SetupSerializer})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return Response(SetupSerializer(setup_state(self)).data)


class StartSyncingView(TenantScopedMixin):
    """"Start syncing": from now on the schedule and the CRM side's reports start syncs."""

    serializer_class = StartSyncingSerializer

    @extend_schema(request=None,
                   responses={200: StartSyncingSerializer, 409: StartRefusedSerializer},
                   description="Start syncing and queue the first incremental sync. 409 with "
                               "the missing steps while the setup is not finished; taking "
                               "the step again changes nothing (`started: false`).")
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        try:
            _org, started = services.start_syncing(self.tenant, user=request.user)
        except services.StartSyncingRefused as exc:
            return Response({"detail": exc.explanation, "missing": exc.reasons},
                            status=status.HTTP_409_CONFLICT)
        run: JobRun | None = None
        detail = str(_("Syncing was started already."))
        if started:
            try:
                run = sync_services.start_manual_sync(
                    self.tenant, "incremental", user=request.user, trigger=Trigger.API,
                    language=get_language())
                detail = str(_("Syncing started; the first sync is queued."))
            except sync_services.StartRefused as exc:
                detail = str(_("Syncing started. The first sync could not be queued now "
                               "(%(why)s); the schedule starts it.") % {"why": exc.explanation})
        return Response(StartSyncingSerializer({
            "started": started, "detail": detail, "run": run, "setup": setup_state(self),
        }).data)
