""""Start syncing" (C7): the setup's last step. Before it no sync runs — not on schedule, not
for the CRM side's reports, not by hand; a dry run may, so the page offers one first."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from orgsettings import services
from orgsettings.models import OrgSettings
from orgsettings.progress import setup_steps, start_blockers
from syncjobs import services as sync_services
from syncjobs.models import JobKind, JobRun
from tenants.access import TenantAccess, tenant_view


def latest_dry_run(access: TenantAccess) -> JobRun | None:
    return (JobRun.objects.filter(tenant=access.tenant, kind=JobKind.SYNC,
                                  params__has_key="dry_run")
            .select_related("tenant").first())


@tenant_view()
def start(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """GET: what starting means, what is still missing, a dry run. POST (administrators):
    start syncing, then queue the first sync at once (the schedule takes over from it)."""
    tenant = access.tenant
    if request.method == "POST":
        access.require_write()
        try:
            _org, started = services.start_syncing(tenant, user=request.user)
        except services.StartSyncingRefused as exc:
            messages.error(request, exc.explanation)
            return redirect("orgsettings:start", tenant=tenant.slug)
        if not started:
            messages.info(request, _("Syncing was started already."))
            return redirect("orgsettings:start", tenant=tenant.slug)
        try:
            run = sync_services.start_manual_sync(tenant, "incremental", user=request.user,
                                                  language=get_language())
        except sync_services.StartRefused as exc:
            messages.success(request, _("Syncing started. The first sync could not be queued "
                                        "now (%(why)s); the schedule starts it.")
                             % {"why": exc.explanation})
            return redirect("orgsettings:start", tenant=tenant.slug)
        messages.success(request, _("Syncing started: the first sync is running, and from now "
                                    "on the schedule and the CRM side's reports start syncs."))
        return redirect(run.get_absolute_url())
    steps = setup_steps(tenant)
    org = OrgSettings.objects.filter(tenant=tenant).select_related("sync_started_by").first()
    return render(request, "orgsettings/start.html", {
        "access": access, "org": org, "step": steps[-1],
        "blockers": start_blockers(tenant, steps),
        "dry_run": latest_dry_run(access),
        "can_dry_run": org is not None and org.integration_ready and not org.sync_paused,
    })
