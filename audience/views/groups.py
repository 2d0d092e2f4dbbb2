"""Group pages: the list, one group with its CRM setting, CSV import and export."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from audience import csv_io, groups
from audience.consent import Who
from audience.forms.groups import CsvUploadForm, GroupForm, SyncSettingForm
from audience.models import (
    GroupSyncSetting,
    Subscriber,
    SubscriberGroup,
)
from audience.views.listing import (
    csv_response,
    display_name,
    keyset_page,
    with_names,
)
from tenants.access import TenantAccess, tenant_view


@tenant_view()
def group_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    form = GroupForm()
    if request.method == "POST":
        access.require_write()
        form = GroupForm(request.POST)
        if form.is_valid():
            try:
                group = groups.create_group(access.tenant, form.cleaned_data["name"],
                                            form.cleaned_data["description"])
            except groups.GroupError as exc:
                form.add_error("name", str(exc))
            else:
                messages.success(request, _("Group “%(name)s” created.") % {"name": group.name})
                return redirect("audience_data:group", tenant=access.tenant.slug, pk=group.pk)
    return render(request, "audience_data/group_list.html", {
        "access": access, "form": form,
        "groups": SubscriberGroup.objects.filter(tenant=access.tenant)
        .select_related("sync_setting").order_by("name"),
    })


@tenant_view()
def group_detail(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    group = access.get(SubscriberGroup.objects.all(), pk=pk)
    setting = GroupSyncSetting.objects.filter(group=group).select_related("business_unit").first()
    form = SyncSettingForm(instance=setting, tenant=access.tenant)
    if request.method == "POST":
        access.require_write()
        form = SyncSettingForm(request.POST, instance=setting, tenant=access.tenant)
        if form.is_valid():
            groups.save_sync_setting(group, **{k: form.cleaned_data[k] for k in form.fields})
            messages.success(request, _("CRM sync setting saved."))
            return redirect("audience_data:group", tenant=access.tenant.slug, pk=group.pk)
    members = with_names(Subscriber.objects.live().filter(memberships__group=group))
    page, next_cursor = keyset_page(request, members)
    return render(request, "audience_data/group_detail.html", {
        "access": access, "group": group, "setting": setting, "form": form,
        "rows": [(s, display_name(s)) for s in page], "next_cursor": next_cursor,
    })


@require_POST
@tenant_view(write=True)
def group_remove_member(
    request: HttpRequest, access: TenantAccess, pk: int, subscriber: int
) -> HttpResponse:
    group = access.get(SubscriberGroup.objects.all(), pk=pk)
    sub = access.get(Subscriber.objects.all(), pk=subscriber)
    if groups.remove_member(group, sub):
        messages.success(request, _("%(email)s removed from the group.") % {"email": sub.email})
    return redirect("audience_data:group", tenant=access.tenant.slug, pk=group.pk)


@tenant_view(write=True)
def group_import(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    """Upload → preview (the checked file is kept server-side, nothing imported) → confirm
    (all rows in one transaction, or none)."""
    group = access.get(SubscriberGroup.objects.all(), pk=pk)
    form = CsvUploadForm()
    context: dict[str, Any] = {"access": access, "group": group}
    if request.method == "POST" and "import_id" in request.POST:
        pending = csv_io.pending_import(group, request.POST["import_id"])
        if pending is None:
            messages.error(request, _("This preview has expired or was imported already; "
                                      "upload the file again."))
            return redirect("audience_data:group_import", tenant=access.tenant.slug,
                            pk=group.pk)
        report = csv_io.import_csv(group, pending.text, confirm=True,
                                   who=Who(user=request.user))
        if report.imported:
            pending.delete()
            messages.success(request, ngettext("%(rows)s row imported into “%(group)s”.",
                                               "%(rows)s rows imported into “%(group)s”.",
                                               report.rows)
                             % {"rows": report.rows, "group": group.name})
            if report.counts.get("suppressed"):
                messages.warning(request, ngettext(
                    "%(count)s suppressed address not re-added: it opted out, bounced or was "
                    "erased.",
                    "%(count)s suppressed addresses not re-added: they opted out, bounced or "
                    "were erased.", report.counts["suppressed"])
                    % {"count": report.counts["suppressed"]})
            return redirect("audience_data:group", tenant=access.tenant.slug, pk=group.pk)
        context.update(report=report, pending=pending, encoding=pending.encoding)
    elif request.method == "POST":
        form = CsvUploadForm(request.POST, request.FILES)
        if form.is_valid():
            decoded = csv_io.decode(form.cleaned_data["file"].read())
            report = csv_io.import_csv(group, decoded.text, confirm=False)
            pending = csv_io.keep_for_confirmation(group, decoded, report) if report.ok else None
            context.update(report=report, pending=pending, encoding=decoded.encoding)
    context["form"] = form
    return render(request, "audience_data/group_import.html", context)


@tenant_view()
def group_export(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    group = access.get(SubscriberGroup.objects.all(), pk=pk)
    return csv_response(csv_io.export_rows(access.tenant, group),
                         f"{access.tenant.slug}-group-{group.pk}.csv")


