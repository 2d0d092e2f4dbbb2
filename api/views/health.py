"""Sync health (issue #20) for scripts and monitoring: the figures of the Sync health page
— last and next runs, records in sync / not synced / failing, open issues by reason, the
CRM request budget — as one read-only answer. Retry and ignore stay per issue
(``sync-issues/``) here; the page also acts on a whole reason."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from api.serializers.syncjobs import JobRunSerializer
from api.views.base import TenantScopedMixin
from orgsettings.models import OrgSettings
from syncjobs import health, issue_groups
from syncjobs.overview import tenant_overviews


class HealthKindSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=["sync", "reaction_export", "reconcile"])
    last_run = JobRunSerializer(allow_null=True)
    next_at = serializers.DateTimeField(
        allow_null=True,
        help_text=_(
            "When the next scheduled run is due; null while nothing is scheduled (paused, "
            "stopped, not started)."
        ),
    )
    due_now = serializers.BooleanField()
    active = serializers.BooleanField(help_text=_("Its latest run is queued or running."))


class HealthCountSerializer(serializers.Serializer):
    reason = serializers.CharField(help_text=_("A stable key, or the engine's skip reason."))
    title = serializers.CharField(help_text=_("The reason in the request's language."))
    count = serializers.IntegerField()


class HealthRecordsSerializer(serializers.Serializer):
    in_sync = serializers.IntegerField(
        help_text=_("Linked records, active in the CRM, without an open issue.")
    )
    failing = serializers.IntegerField(help_text=_("Records with an open issue."))
    not_synced = HealthCountSerializer(many=True)
    held_back = HealthCountSerializer(
        many=True, help_text=_("What the latest successful tenant-wide sync skipped, per reason.")
    )
    held_back_run = serializers.IntegerField(allow_null=True)


class HealthIssueGroupSerializer(serializers.Serializer):
    key = serializers.CharField()
    step = serializers.CharField()
    code = serializers.CharField(allow_blank=True)
    reason = serializers.CharField(allow_blank=True)
    hint = serializers.CharField(allow_blank=True)
    count = serializers.IntegerField()
    retrying = serializers.IntegerField()
    last_seen = serializers.DateTimeField()


class HealthBudgetSerializer(serializers.Serializer):
    used = serializers.IntegerField()
    limit = serializers.IntegerField()
    percent = serializers.IntegerField()
    throttled = serializers.IntegerField()
    throttled_day = serializers.IntegerField()
    window_minutes = serializers.IntegerField()


class TenantSyncHealthSerializer(serializers.Serializer):
    state = serializers.CharField(
        help_text=_("ok, issues, failing, running, waiting, paused, stopped, not_started")
    )
    summary = serializers.CharField()
    runs = HealthKindSerializer(many=True)
    records = HealthRecordsSerializer()
    issue_groups = HealthIssueGroupSerializer(many=True)
    request_budget = HealthBudgetSerializer()


def _counts(items: list[health.Exclusion]) -> list[dict[str, Any]]:
    return [{"reason": e.key, "title": str(e.label), "count": e.count} for e in items]


class SyncHealthView(TenantScopedMixin):
    """The tenant's sync health (what the Sync health page shows, without the charts)."""

    serializer_class = TenantSyncHealthSerializer

    @extend_schema(responses={200: TenantSyncHealthSerializer})
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        tenant = self.tenant
        org = OrgSettings.objects.filter(tenant=tenant).first()
        overview = tenant_overviews([tenant])[0]
        records = health.records(tenant)
        budget = health.budget(tenant)
        return Response(
            TenantSyncHealthSerializer(
                {
                    "state": overview.health,
                    "summary": overview.health_label,
                    "runs": [
                        {
                            "kind": k.key,
                            "last_run": k.last,
                            "next_at": k.next_at,
                            "due_now": k.due_now,
                            "active": k.active,
                        }
                        for k in health.kinds(tenant, org)
                    ],
                    "records": {
                        "in_sync": records.in_sync,
                        "failing": records.failing,
                        "not_synced": _counts(records.excluded),
                        "held_back": _counts(records.held_back),
                        "held_back_run": records.held_back_run.pk
                        if records.held_back_run
                        else None,
                    },
                    "issue_groups": [vars(g) for g in issue_groups.open_groups(tenant)],
                    "request_budget": {**vars(budget), "percent": budget.percent},
                }
            ).data
        )
