"""Check integration (C9): start the check job and watch its steps turn green."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from orgsettings import services
from orgsettings.models import OrgSettings
from syncjobs import runner
from syncjobs.models import JobKind, JobRun
from tenants.access import TenantAccess, tenant_view


@tenant_view()
def check(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """GET: the latest check with its steps. POST: start a new check (any member may:
    it changes nothing in the CRM)."""
    tenant = access.tenant
    org = OrgSettings.objects.filter(tenant=tenant).first()
    ready_reason = services.check_refusal(tenant)
    if request.method == "POST":
        try:
            services.start_integration_check(tenant, user=request.user,
                                             language=get_language())
        except runner.NotReady as exc:
            messages.error(request, exc.explanation)
        except runner.JobAlreadyActive:
            messages.info(request, _("A check is already running; its progress is below."))
        return redirect("orgsettings:check", tenant=tenant.slug)
    latest = JobRun.objects.filter(tenant=tenant, kind=JobKind.INTEGRATION_CHECK).first()
    return render(request, "orgsettings/check.html", {
        "access": access, "org": org, "run": latest, "ready_reason": ready_reason,
    })
