"""Subscriber fields: list for everyone in the tenant, changes for administrators."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audience import services
from audience.forms.fields import FieldForm, OptionForm
from audience.models import SubscriberField, SubscriberFieldOption
from tenants.access import TenantAccess, tenant_view


def _fields_url(access: TenantAccess) -> HttpResponse:
    return redirect("audience:fields", tenant=access.tenant.slug)


@tenant_view()
def field_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    fields = SubscriberField.objects.filter(tenant=access.tenant).prefetch_related("options")
    return render(request, "audience/fields.html", {"access": access, "fields": fields})


@tenant_view()
def field_create(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    form = FieldForm()
    if request.method == "POST":
        access.require_write()
        form = FieldForm(request.POST)
        if form.is_valid():
            try:
                field = services.create_field(access.tenant, **form.cleaned_data)
            except services.FieldError as exc:
                form.add_error("key", str(exc))
            else:
                messages.success(request, _("Field “%(label)s” created.") % {
                    "label": field.label})
                return redirect("audience:field_edit", tenant=access.tenant.slug, pk=field.pk)
    return render(request, "audience/field_form.html", {"access": access, "form": form})


@tenant_view()
def field_edit(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    field = access.get(SubscriberField.objects.all(), pk=pk)
    form = FieldForm(instance=field)
    option_form = OptionForm()
    if request.method == "POST":
        access.require_write()
        if "add_option" in request.POST:
            option_form = OptionForm(request.POST)
            if option_form.is_valid():
                try:
                    services.add_option(field, **option_form.cleaned_data)
                except services.FieldError as exc:
                    option_form.add_error("value", str(exc))
                else:
                    messages.success(request, _("Option added."))
                    return redirect("audience:field_edit", tenant=access.tenant.slug, pk=pk)
        else:
            form = FieldForm(request.POST, instance=field)
            if form.is_valid():
                services.update_field(field, **form.cleaned_data)
                messages.success(request, _("Field “%(label)s” saved.") % {"label": field.label})
                return _fields_url(access)
    return render(request, "audience/field_form.html", {
        "access": access, "form": form, "field": field, "option_form": option_form,
        "usages": services.field_usages(field),
    })


@require_POST
@tenant_view(write=True)
def field_delete(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    field = access.get(SubscriberField.objects.all(), pk=pk)
    try:
        services.delete_field(field)
    except services.FieldError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("Field deleted."))
    return _fields_url(access)


def _option(access: TenantAccess, pk: int, option_pk: int) -> SubscriberFieldOption:
    field = access.get(SubscriberField.objects.all(), pk=pk)
    return get_object_or_404(SubscriberFieldOption.objects.select_related("field"),
                             field=field, pk=option_pk)


@tenant_view()
def option_edit(request: HttpRequest, access: TenantAccess, pk: int, option_pk: int
                ) -> HttpResponse:
    option = _option(access, pk, option_pk)
    form = OptionForm(instance=option)
    if request.method == "POST":
        access.require_write()
        form = OptionForm(request.POST, instance=option)
        if form.is_valid():
            services.update_option(option, **form.cleaned_data)
            messages.success(request, _("Option saved."))
            return redirect("audience:field_edit", tenant=access.tenant.slug, pk=pk)
    return render(request, "audience/option_form.html", {
        "access": access, "form": form, "option": option, "field": option.field})


@tenant_view()
def option_remove(request: HttpRequest, access: TenantAccess, pk: int, option_pk: int
                  ) -> HttpResponse:
    option = _option(access, pk, option_pk)
    usages = services.option_usages(option)
    if request.method == "POST":
        access.require_write()
        try:
            services.remove_option(option, confirmed=request.POST.get("confirm") == "yes")
        except services.FieldError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Option removed."))
            return redirect("audience:field_edit", tenant=access.tenant.slug, pk=pk)
    return render(request, "audience/option_remove.html", {
        "access": access, "option": option, "field": option.field, "usages": usages})
