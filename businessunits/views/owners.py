"""The reaction-owner picker (C11): search the cached CRM users and teams, choose one,
refresh the cache. These views read the cache only; the refresh runs as a job."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from businessunits import gating, owners, services
from businessunits.forms import BusinessUnitForm
from businessunits.models import CrmPrincipal
from syncjobs import runner
from syncjobs.models import JobKind
from syncjobs.starting import latest_run, start_from_request
from tenants.access import TenantAccess, tenant_view


@require_GET
@tenant_view()
def owner_search(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """htmx partial: cached principals matching ``q`` (never a CRM request)."""
    text = request.GET.get("q", "").strip()[:100]
    return render(request, "businessunits/_owner_results.html", {
        "access": access, "query": text,
        "principals": owners.search(access.tenant, text),
        "cache_empty": owners.cache_is_empty(access.tenant),
    })


@require_GET
@tenant_view()
def owner_choose(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """htmx partial: the owner fieldset filled with the chosen cached principal."""
    principal = owners.find_active(access.tenant, request.GET.get("id", ""))
    if principal is None:
        raise Http404
    form = BusinessUnitForm(tenant=access.tenant, initial={
        "owner_id": principal.crm_id, "owner_name": principal.name,
        "owner_type": principal.principal_type})
    return render(request, "businessunits/_owner_picker.html", {
        "access": access, "form": form, "chosen": principal,
        "owner_cache_empty": False,
    })


@require_GET
@tenant_view()
def owner_search_block(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """htmx partial, polled while no user or team is cached: the search field once the
    refresh has filled the cache, else the notice again (which polls on)."""
    return render(request, "businessunits/_owner_search.html", {
        "access": access, "ready": gating.settings_saved(access.tenant),
        "owner_cache_empty": owners.cache_is_empty(access.tenant),
    })


@require_POST
@tenant_view()
def owner_refresh(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """Start reading the CRM's users and teams into the cache."""
    access.require_write()
    try:
        return start_from_request(request, access, JobKind.OWNER_REFRESH, start=lambda: (
            services.start_owner_refresh(access.tenant, user=request.user)))
    except runner.NotReady as exc:
        messages.error(request, exc.explanation)
        return redirect("businessunits:list", tenant=access.tenant.slug)


@require_GET
@tenant_view()
def owner_cache(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """The cached users and teams, with the latest refresh and its button."""
    return render(request, "businessunits/owners.html", {
        "access": access, "ready": gating.settings_saved(access.tenant),
        "principals": CrmPrincipal.objects.filter(tenant=access.tenant)
        .order_by("-is_active", "principal_type", "name"),
        "owner_refresh": latest_run(access.tenant, JobKind.OWNER_REFRESH),
    })
