"""Configuration changes that touch the engine's memory (S14).

Pointing a tenant at another CRM organisation while records are linked would apply links,
cursors and issues of one organisation to another: the save is refused
(``orgsettings.services``) until the admin resets them here (``reset_links``).
"""

from __future__ import annotations

from django.db import transaction

from mailworx_crm.texts import deferred as _
from syncjobs.models import JobKind, JobRun, JobStatus
from syncjobs.models.sync import RecordLink, SyncCursor, SyncIssue, SyncStatus
from tenants.models import Tenant


class ResetRefused(Exception):
    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


@transaction.atomic
def reset_links(tenant: Tenant) -> dict[str, int]:
    """Forget every link, cursor and issue of the tenant (S14); refused while a sync runs."""
    if JobRun.objects.filter(tenant=tenant, kind=JobKind.SYNC,
                             status__in=JobStatus.active()).exists():
        raise ResetRefused(_("A sync is queued or running; wait for it to end (or cancel it) "
                             "before resetting the links."))
    links, _d = RecordLink.objects.filter(tenant=tenant).delete()
    cursors, _d = SyncCursor.objects.filter(tenant=tenant).delete()
    issues, _d = SyncIssue.objects.filter(tenant=tenant).delete()
    SyncStatus.objects.filter(tenant=tenant).delete()
    return {"links": links, "cursors": cursors, "issues": issues}
