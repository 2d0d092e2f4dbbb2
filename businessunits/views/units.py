"""Business units (C11): list, create, edit, delete, and the mapping overview (C12)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from businessunits import gating, owners, services
from businessunits.forms import BusinessUnitForm
from businessunits.models import BusinessUnit
from fieldmapping import services as mapping_services
from syncjobs import services as sync_services
from syncjobs.models import JobKind
from syncjobs.starting import latest_run
from tenants.access import TenantAccess, tenant_view


def _list(access: TenantAccess) -> HttpResponse:
    return redirect("businessunits:list", tenant=access.tenant.slug)


def _refuse_if_not_ready(request: HttpRequest, access: TenantAccess) -> HttpResponse | None:
    """C7: business-unit actions wait for the organisation settings."""
    if gating.settings_saved(access.tenant):
        return None
    messages.error(request, str(gating.NOT_READY_REASON))
    return _list(access)


@tenant_view()
def unit_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    units = BusinessUnit.objects.filter(tenant=access.tenant)
    return render(request, "businessunits/list.html", {
        "access": access, "units": units, "ready": gating.settings_saved(access.tenant),
        "not_ready_reason": gating.NOT_READY_REASON,
        "attribute_pull": latest_run(access.tenant, JobKind.ATTRIBUTE_PULL),
    })


def _form_page(request: HttpRequest, access: TenantAccess, form: BusinessUnitForm,
               unit: BusinessUnit | None = None) -> HttpResponse:
    return render(request, "businessunits/form.html", {
        "access": access, "form": form, "unit": unit,
        "ready": gating.settings_saved(access.tenant),
        "not_ready_reason": gating.NOT_READY_REASON,
        "owner_cache_empty": owners.cache_is_empty(access.tenant),
        "owner_refresh": latest_run(access.tenant, JobKind.OWNER_REFRESH),
    })


@tenant_view()
def unit_create(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    form = BusinessUnitForm(tenant=access.tenant)
    if request.method == "POST":
        access.require_write()
        if (refused := _refuse_if_not_ready(request, access)) is not None:
            return refused
        form = BusinessUnitForm(request.POST, tenant=access.tenant)
        if form.is_valid():
            try:
                unit = services.create_unit(access.tenant, **form.cleaned_data)
            except services.BusinessUnitError as exc:
                form.add_error("name", str(exc))
            else:
                messages.success(request, _("Business unit “%(name)s” created.") % {
                    "name": unit.name})
                return redirect("businessunits:detail", tenant=access.tenant.slug, pk=unit.pk)
    return _form_page(request, access, form)


@tenant_view()
def unit_edit(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    unit = access.get(BusinessUnit.objects.all(), pk=pk)
    form = BusinessUnitForm(instance=unit, tenant=access.tenant)
    if request.method == "POST":
        access.require_write()
        if (refused := _refuse_if_not_ready(request, access)) is not None:
            return refused
        form = BusinessUnitForm(request.POST, instance=unit, tenant=access.tenant)
        if form.is_valid():
            try:
                services.update_unit(unit, **form.cleaned_data)
            except services.BusinessUnitError as exc:
                form.add_error("name", str(exc))
            else:
                messages.success(request, _("Business unit saved."))
                return redirect("businessunits:detail", tenant=access.tenant.slug, pk=unit.pk)
    return _form_page(request, access, form, unit)


@tenant_view()
def unit_delete(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    unit = access.get(BusinessUnit.objects.all(), pk=pk)
    if request.method == "POST":
        access.require_write()
        if (refused := _refuse_if_not_ready(request, access)) is not None:
            return refused
        try:
            services.delete_unit(unit)
        except services.BusinessUnitError as exc:
            messages.error(request, str(exc))
            return redirect("businessunits:detail", tenant=access.tenant.slug, pk=unit.pk)
        messages.success(request, _("Business unit “%(name)s” deleted.") % {"name": unit.name})
        return _list(access)
    return render(request, "businessunits/delete.html", {
        "access": access, "unit": unit, "mapping_count": unit.field_mappings.count(),
        "usages": services.unit_usages(unit),
    })


@tenant_view()
def unit_detail(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    """The unit's mapping overview: every mapping, grouped by entity type, with warnings."""
    unit = access.get(BusinessUnit.objects.all(), pk=pk)
    return render(request, "businessunits/detail.html", {
        "access": access, "unit": unit, "ready": gating.settings_saved(access.tenant),
        "not_ready_reason": gating.NOT_READY_REASON,
        "groups": mapping_services.overview(unit),
        "catalogue_loaded": mapping_services.catalogue_loaded(access.tenant),
        "attribute_pull": latest_run(access.tenant, JobKind.ATTRIBUTE_PULL),
        "backfill_count": sync_services.backfill_needed(access.tenant),
        "owner_unknown": not owners.cache_is_empty(access.tenant)
        and owners.find_active(access.tenant, unit.owner_id) is None,
    })
