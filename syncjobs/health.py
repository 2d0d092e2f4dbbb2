"""The tenant's sync health in figures (issue #20): the last and next run of each scheduled
kind, the records in sync, held back (with the reason) and failing, and the CRM request
budget of the current 5-minute window. Pure queries, a handful for any tenant size; the
figures come from what the engine already records (links, issues, run counters).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Count, IntegerField, Q, QuerySet, Sum
from django.db.models.fields.json import KT
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from audience.models import Subscriber
from dynamics.accounting import SERVICE_PROTECTION_REQUESTS, SERVICE_PROTECTION_WINDOW_S
from orgsettings.models import OrgSettings
from syncjobs.counter_labels import counter_label
from syncjobs.models import (
    IssueState,
    JobKind,
    JobRun,
    JobStatus,
    LinkState,
    RecordLink,
    SyncIssue,
)
from syncjobs.models.sync import HOLDING_STATES
from syncjobs.schedule import RECONCILE_MODES, SYNC_MODES, schedule_of
from tenants.models import Tenant

OPEN = (IssueState.OPEN, IssueState.RETRYING)


@dataclass(frozen=True)
class KindHealth:
    key: str  # "sync", "reaction_export", "reconcile"
    label: str | Promise
    last: JobRun | None  # the latest run of this kind (any outcome)
    next_at: dt.datetime | None  # None: nothing is scheduled (paused, stopped, not started)
    active: bool  # its latest run is queued or running
    due_now: bool  # overdue or never run: the scheduler queues one within a minute


@dataclass(frozen=True)
class Exclusion:
    key: str
    label: str | Promise
    count: int


@dataclass(frozen=True)
class RecordHealth:
    in_sync: int  # linked, active in the CRM, no open issue
    failing: int  # records with an open issue
    excluded: list[Exclusion]  # from the links and groups as they are now
    held_back: list[Exclusion]  # skipped by the latest tenant-wide sync, by reason
    held_back_run: JobRun | None


@dataclass(frozen=True)
class Budget:
    used: int  # CRM requests of runs active in the current 5-minute window
    limit: int  # one application user's service-protection budget per window
    throttled: int  # throttled requests in the window
    throttled_day: int  # throttled requests in the last 24 hours
    window_minutes: int

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.used / self.limit)) if self.limit else 0


def _kind_runs(tenant: Tenant) -> dict[str, QuerySet[JobRun]]:
    runs = JobRun.objects.filter(tenant=tenant).exclude(params__has_key="dry_run")
    return {
        "sync": runs.filter(kind=JobKind.SYNC, params__mode__in=SYNC_MODES),
        "reaction_export": runs.filter(kind=JobKind.REACTION_EXPORT),
        "reconcile": runs.filter(kind=JobKind.SYNC, params__mode__in=RECONCILE_MODES),
    }


def _labels() -> dict[str, Promise]:
    return {
        "sync": _("Subscriber sync"),
        "reaction_export": _("Reaction export"),
        "reconcile": _("Reconcile"),
    }


def kinds(
    tenant: Tenant, org: OrgSettings | None, now: dt.datetime | None = None
) -> list[KindHealth]:
    """Last and next run of the sync, the reaction export and the reconcile run."""
    now = now or timezone.now()
    scheduled = org is not None and org.sync_enabled and not org.sync_paused
    nexts: dict[str, dt.datetime] = {}
    if scheduled:
        assert org is not None
        for due, _last, due_at in schedule_of(org, now):
            key = "reconcile" if due.mode == "reconcile" else str(due.kind)
            nexts[key] = due_at
    labels = _labels()
    out = []
    for key, runs in _kind_runs(tenant).items():
        last = runs.select_related("tenant").first()
        next_at = nexts.get(key)
        out.append(
            KindHealth(
                key,
                labels[key],
                last,
                next_at,
                active=last is not None and last.is_active,
                due_now=next_at is not None and next_at <= now,
            )
        )
    return out


def records(tenant: Tenant) -> RecordHealth:
    failing_subs = SyncIssue.objects.filter(
        tenant=tenant, state__in=OPEN, subscriber__isnull=False
    ).values("subscriber_id")
    live = Q(state=LinkState.ACTIVE)
    links = RecordLink.objects.filter(tenant=tenant).aggregate(
        in_sync=Count("pk", filter=live & Q(crm_active=True) & ~Q(subscriber_id__in=failing_subs)),
        lead_off=Count("pk", filter=live & Q(crm_active=False, entity_type="lead")),
        record_off=Count("pk", filter=live & Q(crm_active=False) & ~Q(entity_type="lead")),
        deleted=Count("pk", filter=Q(state=LinkState.CRM_DELETED)),
        pending=Count("pk", filter=Q(state=LinkState.PENDING)),
    )
    issues = SyncIssue.objects.filter(tenant=tenant, state__in=OPEN).aggregate(
        subscribers=Count("subscriber", distinct=True),
        records=Count("pk", filter=Q(subscriber__isnull=True)),
    )
    unlinked = (
        Subscriber.objects.filter(tenant=tenant).live().exclude(crm_links__state__in=HOLDING_STATES)
    )
    in_groups = Subscriber.objects.filter(
        tenant=tenant, memberships__group__sync_setting__enabled=True
    )
    waiting = unlinked.filter(pk__in=in_groups.values("pk")).count()
    outside = unlinked.count() - waiting
    excluded = [
        Exclusion("not_in_synced_group", _("Not in a synced group"), outside),
        Exclusion("not_linked", _("In a synced group, no CRM record linked yet"), waiting),
        Exclusion(
            "qualified_lead", _("Lead qualified or deactivated in the CRM"), links["lead_off"]
        ),
        Exclusion("deactivated", _("CRM record deactivated"), links["record_off"]),
        Exclusion("deleted", _("CRM record deleted"), links["deleted"]),
        Exclusion("pending", _("Being created in the CRM"), links["pending"]),
    ]
    held_run = (
        _kind_runs(tenant)["sync"]
        .filter(status=JobStatus.SUCCEEDED)
        .select_related("tenant")
        .first()
    )
    return RecordHealth(
        in_sync=links["in_sync"],
        failing=issues["subscribers"] + issues["records"],
        excluded=excluded,
        held_back=held_back(held_run),
        held_back_run=held_run,
    )


def held_back(run: JobRun | None) -> list[Exclusion]:
    """The records a run skipped, per reason over all its steps (qualified leads, records
    without an address …), as its counters say."""
    totals: dict[str, int] = {}
    for values in (run.counters or {}).values() if run is not None else ():
        if isinstance(values, dict):
            for reason, n in (values.get("skipped") or {}).items():
                totals[reason] = totals.get(reason, 0) + int(n or 0)
    return sorted(
        (Exclusion(reason, counter_label(reason), n) for reason, n in totals.items() if n),
        key=lambda e: -e.count,
    )


def _http(key: str) -> Cast:
    return Cast(KT(f"counters__http__{key}"), IntegerField())


def budget(tenant: Tenant, now: dt.datetime | None = None) -> Budget:
    """CRM requests in the current service-protection window. A run reports its requests
    as a total, so the window counts the requests of every run that was running in it."""
    now = now or timezone.now()
    window = now - timedelta(seconds=SERVICE_PROTECTION_WINDOW_S)
    in_window = Q(status=JobStatus.RUNNING) | Q(finished_at__gte=window)
    day = Q(finished_at__gte=now - timedelta(days=1)) | Q(status=JobStatus.RUNNING)
    figures = JobRun.objects.filter(tenant=tenant, counters__has_key="http").aggregate(
        used=Sum(_http("round_trips"), filter=in_window),
        throttled=Sum(_http("throttled"), filter=in_window),
        throttled_day=Sum(_http("throttled"), filter=day),
    )
    return Budget(
        used=figures["used"] or 0,
        limit=SERVICE_PROTECTION_REQUESTS,
        throttled=figures["throttled"] or 0,
        throttled_day=figures["throttled_day"] or 0,
        window_minutes=int(SERVICE_PROTECTION_WINDOW_S // 60),
    )
