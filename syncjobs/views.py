"""Job pages: list, detail and the htmx progress partial every job page reuses."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from syncjobs import runner
from syncjobs.models import JobRun
from tenants.access import TenantAccess, tenant_view


@tenant_view()
def job_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    runs = JobRun.objects.filter(tenant=access.tenant).select_related("requested_by")
    page = Paginator(runs, 50).get_page(request.GET.get("page"))
    return render(request, "syncjobs/list.html", {"access": access, "page": page})


@tenant_view()
def job_detail(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    run = access.get(JobRun.objects.select_related("requested_by"), pk=pk)
    return render(request, "syncjobs/detail.html", {
        "access": access, "run": run, "log_lines": run.log_lines.all()[:500],
    })


@tenant_view()
def job_progress(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    """The partial polls itself while the run is active and stops once it has ended."""
    run = access.get(JobRun.objects.all(), pk=pk)
    return render(request, "syncjobs/_progress.html", {"run": run, "access": access})


@require_POST
@tenant_view()
def job_cancel(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    run = access.get(JobRun.objects.all(), pk=pk)
    if runner.request_cancel(run):
        messages.info(request, _("Cancellation requested; the job stops at its next step."))
    else:
        messages.error(request, _("This job has already ended."))
    return redirect(run)
