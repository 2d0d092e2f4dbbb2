"""Check integration (C9): start the check job and watch its steps turn green."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from orgsettings.models import OrgSettings
from orgsettings.progress import mailworx_prepared
from syncjobs import runner
from syncjobs.models import JobKind, JobRun
from tenants.access import TenantAccess, tenant_view


@tenant_view()
def check(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """GET: the latest check with its steps. POST: start a new check (any member may:
    it changes nothing in the CRM)."""
    tenant = access.tenant
    org = OrgSettings.objects.filter(tenant=tenant).first()
    ready_reason = ""
    if org is None:
        ready_reason = _("Save the organisation settings first.")
    elif not mailworx_prepared(tenant):
        ready_reason = _("Prepare mailworx first.")
    if request.method == "POST":
        if ready_reason:
            messages.error(request, ready_reason)
        else:
            try:
                runner.enqueue(tenant, JobKind.INTEGRATION_CHECK, user=request.user,
                               language=get_language())
            except runner.JobAlreadyActive:
                messages.info(request, _("A check is already running; its progress is below."))
        return redirect("orgsettings:check", tenant=tenant.slug)
    latest = JobRun.objects.filter(tenant=tenant, kind=JobKind.INTEGRATION_CHECK).first()
    return render(request, "orgsettings/check.html", {
        "access": access, "org": org, "run": latest, "ready_reason": ready_reason,
    })
