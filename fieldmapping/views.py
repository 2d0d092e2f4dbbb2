"""Field mappings of a business unit (C12-C14). The overview is the unit's detail page."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from businessunits.models import BusinessUnit
from fieldmapping import services
from fieldmapping.forms import MappingForm
from fieldmapping.models import FieldMapping
from mailworx_crm.entity_types import EntityType
from syncjobs import runner
from syncjobs import services as sync_services
from syncjobs.models import JobKind
from syncjobs.starting import start_from_request
from tenants.access import TenantAccess, tenant_view


def _entity(entity: str) -> str:
    if entity not in EntityType.values:
        raise Http404
    return entity


def _overview(access: TenantAccess, unit: BusinessUnit) -> HttpResponse:
    return redirect("businessunits:detail", tenant=access.tenant.slug, pk=unit.pk)


def _saved(request: HttpRequest, access: TenantAccess, mapping: FieldMapping) -> HttpResponse:
    """Say that the mapping was saved — and, when records were linked before it, that they
    need a backfill (S14), which the overview offers with one click."""
    messages.success(request, _("Mapping “%(mapping)s” saved.") % {"mapping": mapping})
    pending = sync_services.backfill_needed(access.tenant)
    if pending:
        messages.warning(request, ngettext(
            "%(n)s record was linked before this change: “Backfill now” below gives it the "
            "newly mapped fields (S14); otherwise the next sync backfills first.",
            "%(n)s records were linked before this change: “Backfill now” below gives them "
            "the newly mapped fields (S14); otherwise the next sync backfills first.",
            pending) % {"n": pending})
    return _overview(access, mapping.business_unit)


def _form_page(request: HttpRequest, access: TenantAccess, form: MappingForm) -> HttpResponse:
    return render(request, "fieldmapping/mapping_form.html", {
        "access": access, "form": form, "unit": form.unit,
        "entity_label": EntityType(form.entity_type).label, "mapping": form.mapping,
        "catalogue_loaded": services.catalogue_loaded(access.tenant),
    })


@tenant_view()
def mapping_create(request: HttpRequest, access: TenantAccess, unit_pk: int, entity: str
                   ) -> HttpResponse:
    unit = access.get(BusinessUnit.objects.all(), pk=unit_pk)
    entity = _entity(entity)
    form = MappingForm(unit, entity)
    if request.method == "POST":
        access.require_write()
        form = MappingForm(unit, entity, request.POST)
        if "refresh" in request.POST:  # no-JS "update choices": re-render, save nothing
            form = MappingForm(unit, entity, initial=request.POST.dict())
        elif form.is_valid():
            mapping = services.save_mapping(unit, entity, form.to_input())
            return _saved(request, access, mapping)
    return _form_page(request, access, form)


def _mapping(access: TenantAccess, pk: int) -> FieldMapping:
    return get_object_or_404(
        FieldMapping.objects.select_related("business_unit__tenant", "crm_attribute",
                                            "related_attribute", "subscriber_field"),
        business_unit__tenant=access.tenant, pk=pk)


@tenant_view()
def mapping_edit(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    mapping = _mapping(access, pk)
    unit = mapping.business_unit
    form = MappingForm(unit, mapping.entity_type, mapping=mapping)
    if request.method == "POST":
        access.require_write()
        form = MappingForm(unit, mapping.entity_type, request.POST, mapping=mapping)
        if "refresh" in request.POST:
            form = MappingForm(unit, mapping.entity_type, initial=request.POST.dict(),
                               mapping=mapping)
        elif form.is_valid():
            services.save_mapping(unit, mapping.entity_type, form.to_input(), mapping)
            return _saved(request, access, mapping)
    return _form_page(request, access, form)


@tenant_view()
def mapping_delete(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    mapping = _mapping(access, pk)
    if request.method == "POST":
        access.require_write()
        services.delete_mapping(mapping)
        messages.success(request, _("Mapping deleted."))
        return _overview(access, mapping.business_unit)
    return render(request, "fieldmapping/mapping_delete.html", {
        "access": access, "mapping": mapping, "unit": mapping.business_unit})


@tenant_view()
def mapping_dynamic(request: HttpRequest, access: TenantAccess, unit_pk: int, entity: str
                    ) -> HttpResponse:
    """htmx partial: the attribute list (fitting the chosen subscriber field, filtered by
    the search), the related-attribute select and the option table for the current
    choice of attribute and subscriber field (GET parameters)."""
    unit = access.get(BusinessUnit.objects.all(), pk=unit_pk)
    entity = _entity(entity)
    mapping = None
    mapping_id = request.GET.get("mapping", "")
    if mapping_id:
        if not mapping_id.isdigit():
            return HttpResponseBadRequest(_("The mapping must be given by its number."))
        mapping = _mapping(access, int(mapping_id))
    form = MappingForm(unit, entity, initial=request.GET.dict(), mapping=mapping)
    return render(request, "fieldmapping/_mapping_choices.html", {
        "form": form, "mapping": mapping, "dynamic_url": request.path})


@require_POST
@tenant_view()
def attribute_pull(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    """Start the CRM attribute pull (C10); the pull itself runs in a worker."""
    access.require_write()
    try:
        return start_from_request(request, access, JobKind.ATTRIBUTE_PULL, start=lambda: (
            services.start_attribute_pull(access.tenant, user=request.user)))
    except runner.NotReady as exc:
        messages.error(request, exc.explanation)
        return redirect("businessunits:list", tenant=access.tenant.slug)
