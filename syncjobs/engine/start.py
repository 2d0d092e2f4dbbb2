"""Starting a sync: the one service views, the API and the scheduler call."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from audience.models import Subscriber, SubscriberGroup
from orgsettings.models import OrgSettings
from orgsettings.progress import integration_ready
from syncjobs import runner
from syncjobs.engine.run import MODES
from syncjobs.models import JobKind, JobRun, Trigger
from tenants.models import Tenant


class SyncRefused(Exception):
    """The sync may not start now; ``explanation`` says why, for the admin."""

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


def sync_refusal(tenant: Tenant) -> str | None:
    """Why no sync may start for the tenant now, in words for the admin; None if it may."""
    if not integration_ready(tenant):
        return str(_("Syncs start only after an integration check passed (and again after "
                     "the connection settings changed). Run the check first."))
    if OrgSettings.objects.filter(tenant=tenant, sync_paused=True).exists():
        return str(_("The sync of this tenant is paused. Resume it in the organisation "
                     "settings first."))
    return None


def start_sync(tenant: Tenant, mode: str, *, trigger: str = Trigger.MANUAL, user: Any = None,
               group: SubscriberGroup | None = None, subscriber: Subscriber | None = None,
               language: str | None = None) -> JobRun:
    """Queue a sync run; ``JobAlreadyActive`` when one is queued or running already."""
    if mode not in MODES:
        raise ValueError(f"unknown sync mode {mode!r}")
    refusal = sync_refusal(tenant)
    if refusal:
        raise SyncRefused(refusal)
    params: dict[str, Any] = {"mode": mode}
    if mode == "group":
        if group is None or group.tenant_id != tenant.pk:
            raise ValueError("a group sync needs one of the tenant's groups")
        params["group_id"] = group.pk
    if mode == "subscriber":
        if subscriber is None or subscriber.tenant_id != tenant.pk:
            raise ValueError("a subscriber sync needs one of the tenant's subscribers")
        params["subscriber_id"] = subscriber.pk
    return runner.enqueue(tenant, JobKind.SYNC, trigger=trigger, user=user, params=params,
                          language=language)
