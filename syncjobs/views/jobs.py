"""Job pages: the runs list (with the tenant's "Sync now"), a run's detail, the htmx
progress partial every job page reuses, and cancelling a run."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from syncjobs import services
from syncjobs.engine.start import NOT_STARTED, sync_refusal
from syncjobs.models import JobKind, JobRun, JobStatus, SyncStatus
from tenants.access import TenantAccess, tenant_view

PAGE_SIZE = 50


@tenant_view()
def job_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    runs = JobRun.objects.filter(tenant=access.tenant).select_related("requested_by", "tenant")
    kind = request.GET.get("kind", "")
    status = request.GET.get("status", "")
    if kind in JobKind.values:
        runs = runs.filter(kind=kind)
    if status in JobStatus.values:
        runs = runs.filter(status=status)
    page = Paginator(runs, PAGE_SIZE).get_page(request.GET.get("page"))
    filters = {k: v for k, v in (("kind", kind), ("status", status)) if v}
    refusal = sync_refusal(access.tenant)
    return render(request, "syncjobs/list.html", {
        "access": access, "page": page, "kind": kind, "status": status,
        "kinds": JobKind.choices, "statuses": JobStatus.choices,
        "filter_query": urlencode(filters),
        "latest_sync": (JobRun.objects.filter(tenant=access.tenant, kind=JobKind.SYNC)
                        .select_related("tenant").first()),
        "sync_status": SyncStatus.objects.filter(tenant=access.tenant).first(),
        "sync_refusal": refusal,
        "not_started": refusal == str(NOT_STARTED),
        "backfill_count": services.backfill_needed(access.tenant),
    })


@tenant_view()
def job_detail(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    run = access.get(JobRun.objects.select_related("requested_by", "tenant"), pk=pk)
    return render(request, "syncjobs/detail.html", {
        "access": access, "run": run, "log_lines": run.log_lines.all()[:500],
        "issues": run.issues.select_related("subscriber")[:50],
    })


@tenant_view()
def job_progress(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    """The partial polls itself while the run is active and stops once it has ended; on the
    run's page (``?cancel=1``) it carries the Cancel button until then."""
    run = access.get(JobRun.objects.select_related("tenant"), pk=pk)
    return render(request, "syncjobs/_progress.html", {
        "run": run, "access": access, "cancellable": request.GET.get("cancel") == "1"})


@require_POST
@tenant_view(write=True)
def job_cancel(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    run = access.get(JobRun.objects.all(), pk=pk)
    if services.cancel_run(run):
        messages.info(request, _("Cancellation requested; the job stops at its next step. "
                                 "Its log then says where it stopped."))
    else:
        messages.error(request, _("This job has already ended."))
    return redirect(run)
