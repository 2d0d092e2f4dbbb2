"""Pages of the audience data: subscribers, groups (with CSV import/export), campaigns.

List pages use keyset pagination (``?before=<id>``): no COUNT(*) over 100,000 rows, and a
fixed number of queries whatever the page size.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

from django.contrib import messages
from django.db.models import Exists, Model, OuterRef, Prefetch, Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audience import csv_io, groups
from audience.campaigns import figures_of, with_figures
from audience.forms_data import CsvUploadForm, GroupForm, SyncSettingForm
from audience.models import (
    Campaign,
    GroupMembership,
    GroupSyncSetting,
    Subscriber,
    SubscriberField,
    SubscriberGroup,
    SubscriberStatus,
    SubscriberValue,
)
from audience.subscribers import tenant_fields, unsubscribe
from tenants.access import TenantAccess, tenant_view

M = TypeVar("M", bound=Model)
PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
NAME_KEYS = [SubscriberField.FIRST_NAME, SubscriberField.LAST_NAME]


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def _keyset_page(request: HttpRequest, qs: QuerySet[M]) -> tuple[list[M], int | None]:
    """One page ordered by descending id, and the cursor of the next page (or None)."""
    size = min(_int(request.GET.get("size")) or PAGE_SIZE, MAX_PAGE_SIZE)
    before = _int(request.GET.get("before"))
    if before:
        qs = qs.filter(pk__lt=before)
    rows = list(qs.order_by("-pk")[: size + 1])
    return rows[:size], (rows[size - 1].pk if len(rows) > size else None)


def _with_names(qs: QuerySet[Subscriber]) -> QuerySet[Subscriber]:
    return qs.prefetch_related(Prefetch(
        "values", to_attr="name_values",
        queryset=SubscriberValue.objects.filter(field__key__in=NAME_KEYS).select_related("field"),
    ))


def _name(sub: Subscriber) -> str:
    names = {v.field.key: v.value for v in getattr(sub, "name_values", [])}
    return " ".join(n for n in (names.get(k, "") for k in NAME_KEYS) if n)


@tenant_view()
def subscriber_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    qs = Subscriber.objects.live().filter(tenant=access.tenant)
    q = request.GET.get("q", "").strip()
    if q:
        by_name = SubscriberValue.objects.filter(
            subscriber=OuterRef("pk"), field__key__in=NAME_KEYS, value__icontains=q)
        qs = qs.filter(Q(email_normalised__contains=q.lower()) | Exists(by_name))
    status = request.GET.get("status", "")
    if status in SubscriberStatus.values:
        qs = qs.filter(status=status)
    group_id = _int(request.GET.get("group"))
    if group_id:
        qs = qs.filter(Exists(GroupMembership.objects.filter(
            subscriber=OuterRef("pk"), group_id=group_id, group__tenant=access.tenant)))
    page, next_cursor = _keyset_page(request, _with_names(qs))
    params = request.GET.copy()
    params.pop("before", None)
    return render(request, "audience_data/subscriber_list.html", {
        "access": access, "rows": [(s, _name(s)) for s in page], "next_cursor": next_cursor,
        "q": q, "status": status, "group_id": group_id, "statuses": SubscriberStatus.choices,
        "groups": SubscriberGroup.objects.filter(tenant=access.tenant).only("pk", "name"),
        "params": params.urlencode(), "first_page": "before" in request.GET,
    })


@tenant_view()
def subscriber_detail(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    sub = access.get(Subscriber.objects.all(), pk=pk)
    if sub.merged_into_id:
        messages.info(request, _("This subscriber was merged into another one."))
        return redirect("audience_data:subscriber", tenant=access.tenant.slug,
                        pk=sub.merged_into_id)
    values = {v.field_id: v for v in SubscriberValue.objects.filter(subscriber=sub)}
    fields = tenant_fields(access.tenant).values()
    return render(request, "audience_data/subscriber_detail.html", {
        "access": access, "subscriber": sub,
        "values": [(f, values.get(f.pk)) for f in sorted(fields, key=lambda f: f.position)],
        "memberships": GroupMembership.objects.filter(subscriber=sub).select_related("group")
        .order_by("group__name"),
        "reactions": sub.reactions.select_related("campaign")[:100],
        "merged_from": sub.merged_from.all().only("pk", "email"),
    })


@require_POST
@tenant_view(write=True)
def subscriber_unsubscribe(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    sub = access.get(Subscriber.objects.live(), pk=pk)
    if unsubscribe(sub):
        messages.success(request, _("%(email)s was unsubscribed.") % {"email": sub.email})
    return redirect("audience_data:subscriber", tenant=access.tenant.slug, pk=sub.pk)


def _csv_response(rows: Any, filename: str) -> HttpResponse:
    response = StreamingHttpResponse(rows, content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    # tenant_view is typed for HttpResponse; a streaming response is served the same way.
    return cast(HttpResponse, response)


@tenant_view()
def subscriber_export(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    return _csv_response(csv_io.export_rows(access.tenant), f"{access.tenant.slug}-subscribers.csv")


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
    members = _with_names(Subscriber.objects.live().filter(memberships__group=group))
    page, next_cursor = _keyset_page(request, members)
    return render(request, "audience_data/group_detail.html", {
        "access": access, "group": group, "setting": setting, "form": form,
        "rows": [(s, _name(s)) for s in page], "next_cursor": next_cursor,
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
    """Upload → preview (nothing stored) → confirm (all rows in one transaction, or none)."""
    group = access.get(SubscriberGroup.objects.all(), pk=pk)
    form = CsvUploadForm()
    context: dict[str, Any] = {"access": access, "group": group}
    if request.method == "POST" and "csv_text" in request.POST:
        text = request.POST["csv_text"]
        report = csv_io.import_csv(group, text, confirm=True)
        if report.imported:
            messages.success(request, _("%(rows)s rows imported into “%(group)s”.")
                             % {"rows": report.rows, "group": group.name})
            return redirect("audience_data:group", tenant=access.tenant.slug, pk=group.pk)
        context.update(report=report, csv_text=text)
    elif request.method == "POST":
        form = CsvUploadForm(request.POST, request.FILES)
        if form.is_valid():
            text = csv_io.decode(form.cleaned_data["file"].read())
            context.update(report=csv_io.import_csv(group, text, confirm=False), csv_text=text)
    context["form"] = form
    return render(request, "audience_data/group_import.html", context)


@tenant_view()
def group_export(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    group = access.get(SubscriberGroup.objects.all(), pk=pk)
    return _csv_response(csv_io.export_rows(access.tenant, group),
                         f"{access.tenant.slug}-group-{group.pk}.csv")


@tenant_view()
def campaign_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    campaigns = with_figures(Campaign.objects.filter(tenant=access.tenant)
                             .select_related("group", "business_unit"))
    page, next_cursor = _keyset_page(request, campaigns)
    return render(request, "audience_data/campaign_list.html", {
        "access": access, "rows": [(c, figures_of(c)) for c in page],
        "next_cursor": next_cursor,
    })


@tenant_view()
def campaign_detail(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    campaign = access.get(with_figures(Campaign.objects.select_related(
        "group", "business_unit")), pk=pk)
    return render(request, "audience_data/campaign_detail.html", {
        "access": access, "campaign": campaign, "figures": figures_of(campaign),
    })
