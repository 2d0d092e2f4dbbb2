"""One line per tenant for the tenant list (and ``GET /api/v1/tenants/``): how far its setup
is and how its syncing goes, at a glance.

Tenants that are syncing cost three queries together, however many there are; a tenant
still in setup adds the queries of its setup steps (``orgsettings.progress``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from orgsettings.models import OrgSettings
from orgsettings.progress import START_NEEDS, State, setup_steps
from syncjobs.models import JobKind, JobRun, JobStatus, SyncStatus
from tenants.models import Tenant


class Setup:
    DONE = "done"  # syncing was started
    READY = "ready"  # every step done: "Start syncing" is open
    IN_PROGRESS = "in_progress"


class Health:
    OK = "ok"
    ISSUES = "issues"  # syncs succeed, some records could not sync
    FAILING = "failing"  # the latest sync failed
    RUNNING = "running"  # started, no sync finished yet (one is queued or running)
    WAITING = "waiting"  # started, no sync finished nor queued yet (the scheduler starts one)
    PAUSED = "paused"
    STOPPED = "stopped"  # started, but the connection changed: no sync until a check passes
    NOT_STARTED = "not_started"


@dataclass(frozen=True)
class TenantOverview:
    tenant: Tenant
    setup: str
    setup_label: str
    next_step: str  # title of the next step to do ("" once syncing was started)
    steps_done: int
    steps_total: int
    health: str
    health_label: str
    last_success_at: dt.datetime | None
    last_error: str
    open_issues: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "setup": {"state": self.setup, "summary": self.setup_label,
                      "next_step": self.next_step, "steps_done": self.steps_done,
                      "steps_total": self.steps_total},
            "sync_health": {"state": self.health, "summary": self.health_label,
                            "last_success_at": self.last_success_at,
                            "last_error": self.last_error, "open_issues": self.open_issues},
        }


def _when(value: dt.datetime | None) -> str:
    return formats.date_format(value, "SHORT_DATETIME_FORMAT") if value else "—"


def _setup(tenant: Tenant, org: OrgSettings | None) -> tuple[str, str, str, int, int]:
    if org is not None and org.sync_started_at is not None:
        total = len(START_NEEDS) + 1
        return (Setup.DONE, _("Set up; syncing since %(when)s") % {
            "when": _when(org.sync_started_at)}, "", total, total)
    steps = setup_steps(tenant)
    done = sum(step.done for step in steps)
    upcoming = next((s for s in steps if s.state is State.OPEN), None)
    if steps[-1].state is State.OPEN:
        return (Setup.READY, _("Ready: start syncing"), steps[-1].title, done, len(steps))
    return (Setup.IN_PROGRESS, _("Setup: %(done)s of %(total)s steps done") % {
        "done": done, "total": len(steps)}, upcoming.title if upcoming else "", done,
        len(steps))


def _health(org: OrgSettings | None, status: SyncStatus | None,
            active: bool) -> tuple[str, str]:
    if org is None or org.sync_started_at is None:
        return Health.NOT_STARTED, _("No syncs until the setup is finished")
    if org.sync_paused:
        return Health.PAUSED, _("Paused")
    if not org.integration_ready:
        return Health.STOPPED, _("Stopped: the connection changed; check the integration "
                                 "again")
    if status is None or status.last_sync_at is None:
        if active:
            return Health.RUNNING, _("The first sync is running")
        return Health.WAITING, _("The first sync starts within a minute")
    if status.last_error:
        return Health.FAILING, _("The latest sync failed: %(error)s") % {
            "error": status.last_error}
    if status.open_issues:
        return Health.ISSUES, ngettext("Syncing; %(n)s record could not sync",
                                       "Syncing; %(n)s records could not sync",
                                       status.open_issues) % {"n": status.open_issues}
    return Health.OK, _("Healthy: last successful sync %(when)s") % {
        "when": _when(status.last_success_at)}


def tenant_overviews(tenants: Iterable[Tenant]) -> list[TenantOverview]:
    """The setup state and sync health of each tenant, in the order given."""
    tenants = list(tenants)
    ids = [t.pk for t in tenants]
    orgs = {o.tenant_id: o for o in OrgSettings.objects.filter(tenant_id__in=ids)}
    statuses = {s.tenant_id: s for s in SyncStatus.objects.filter(tenant_id__in=ids)}
    active = set(JobRun.objects.filter(tenant_id__in=ids, kind=JobKind.SYNC,
                                       status__in=JobStatus.active())
                 .exclude(params__has_key="dry_run").values_list("tenant_id", flat=True))
    out = []
    for tenant in tenants:
        org, status = orgs.get(tenant.pk), statuses.get(tenant.pk)
        setup, setup_label, next_step, done, total = _setup(tenant, org)
        health, health_label = _health(org, status, tenant.pk in active)
        out.append(TenantOverview(
            tenant=tenant, setup=setup, setup_label=setup_label, next_step=next_step,
            steps_done=done, steps_total=total, health=health, health_label=health_label,
            last_success_at=status.last_success_at if status else None,
            last_error=status.last_error if status else "",
            open_issues=status.open_issues if status else 0))
    return out
