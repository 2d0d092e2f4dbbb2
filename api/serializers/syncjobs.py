"""Runs (every background job; syncs start here) and sync issues (N3)."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from syncjobs.engine.run import MODES
from syncjobs.models import JobRun, SyncIssue


class ProgressSerializer(serializers.Serializer):
    done = serializers.IntegerField()
    total = serializers.IntegerField()
    percent = serializers.IntegerField()
    step = serializers.CharField(help_text=_("Where the run is, e.g. “Step: push”."))


class JobRunSerializer(serializers.ModelSerializer):
    mode = serializers.SerializerMethodField(
        help_text=_("The sync mode (sync runs only)."))
    group_id = serializers.SerializerMethodField()
    subscriber_id = serializers.SerializerMethodField()
    requested_by = serializers.SerializerMethodField(
        help_text=_("Email of the person who started it; null for scheduled runs."))
    progress = serializers.SerializerMethodField()
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)
    counters = serializers.DictField(
        read_only=True, help_text=_("Per step (pull, match, push, …) its counts and "
                                    "`skipped: {reason: n}`; `http`: round trips, "
                                    "operations, throttled, retries, seconds waited."))
    result = serializers.DictField(read_only=True)
    outcome = serializers.CharField(
        read_only=True, help_text=_("The status as pages show it: `succeeded_with_issues` for "
                                    "a run that succeeded but left records that could not "
                                    "sync, else the same as `status`."))
    issues_left = serializers.IntegerField(
        read_only=True, help_text=_("Records the run could not sync (open issues it left)."))
    worker_lost = serializers.BooleanField(
        read_only=True, help_text=_("Running, but its worker stopped sending heartbeats: "
                                    "the run resumes from its cursors once its lease "
                                    "expires."))

    class Meta:
        model = JobRun
        fields = ["id", "kind", "status", "outcome", "issues_left", "trigger", "mode",
                  "group_id", "subscriber_id",
                  "requested_by", "progress", "counters", "result", "error",
                  "cancel_requested", "attempts", "created_at", "started_at", "finished_at",
                  "duration_seconds", "worker_lost"]
        read_only_fields = fields

    def get_mode(self, run: JobRun) -> str | None:
        mode = (run.params or {}).get("mode")
        return str(mode) if mode else None

    def get_group_id(self, run: JobRun) -> int | None:
        value = (run.params or {}).get("group_id")
        return int(value) if value is not None else None

    def get_subscriber_id(self, run: JobRun) -> int | None:
        value = (run.params or {}).get("subscriber_id")
        return int(value) if value is not None else None

    def get_requested_by(self, run: JobRun) -> str | None:
        user = run.requested_by
        return str(user.email or user.get_username()) if user is not None else None

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, run: JobRun) -> dict[str, Any]:
        return {"done": run.progress_done, "total": run.progress_total,
                "percent": run.percent, "step": run.progress_label}


class SyncStartSerializer(serializers.Serializer):
    mode = serializers.ChoiceField(
        choices=list(MODES), default="incremental",
        help_text=_("incremental (pull → match → push), full (reconcile first), group and "
                    "subscriber (limited to one group / subscriber), backfill, reconcile."))
    group = serializers.IntegerField(
        required=False, min_value=1, help_text=_("The group's id; required for mode group."))
    subscriber = serializers.IntegerField(
        required=False, min_value=1,
        help_text=_("The subscriber's id; required for mode subscriber."))
    dry_run = serializers.BooleanField(
        default=False, help_text=_("Only report what the sync would do (result.dry_run); "
                                   "nothing is written to the CRM or saved in mailworx."))

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        mode = attrs.get("mode", "incremental")
        for name in ("group", "subscriber"):
            if mode == name and attrs.get(name) is None:
                raise serializers.ValidationError(
                    {name: [_("Required for mode %(mode)s.") % {"mode": mode}]})
            if mode != name and attrs.get(name) is not None:
                raise serializers.ValidationError(
                    {name: [_("Only for mode %(mode)s.") % {"mode": name}]})
        return attrs


class ConflictSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text=_("Why nothing was started, in words."))
    active_run = serializers.IntegerField(
        allow_null=True, help_text=_("The run in the way (queued or running), if any."))


class SyncIssueSerializer(serializers.ModelSerializer):
    subscriber_email = serializers.SerializerMethodField()
    code = serializers.CharField(read_only=True, help_text=_("The CRM's error code, if any."))

    class Meta:
        model = SyncIssue
        fields = ["id", "state", "step", "reason", "hint", "code", "attempts", "subscriber",
                  "subscriber_email", "entity_type", "crm_id", "run", "first_seen",
                  "last_seen"]
        read_only_fields = fields

    def get_subscriber_email(self, issue: SyncIssue) -> str | None:
        return issue.subscriber.email if issue.subscriber is not None else None


class RetryResultSerializer(serializers.Serializer):
    retried = serializers.IntegerField(help_text=_("How many records get another try."))
    run = JobRunSerializer(allow_null=True, help_text=_(
        "The sync queued for them; null when none could start now (see detail) — the next "
        "sync then tries them."))
    detail = serializers.CharField()
