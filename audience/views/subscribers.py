"""Subscriber pages: the list, one subscriber, editing it, unsubscribe, CSV export."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from audience import csv_io
from audience.consent import Who, history
from audience.forms.subscribers import SubscriberForm
from audience.models import (
    ConsentState,
    GroupMembership,
    Subscriber,
    SubscriberGroup,
    SubscriberStatus,
    SubscriberValue,
)
from audience.subscribers import (
    SubscriberError,
    current_values,
    tenant_fields,
    unsubscribe,
    update_subscriber,
)
from audience.views.listing import (
    NAME_KEYS,
    csv_response,
    display_name,
    int_or_none,
    keyset_page,
    with_names,
)
from tenants.access import TenantAccess, tenant_view


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
        qs = qs.filter(consent__in=ConsentState.with_status(status))
    group_id = int_or_none(request.GET.get("group"))
    if group_id:
        qs = qs.filter(Exists(GroupMembership.objects.filter(
            subscriber=OuterRef("pk"), group_id=group_id, group__tenant=access.tenant)))
    page, next_cursor = keyset_page(request, with_names(qs))
    params = request.GET.copy()
    params.pop("before", None)
    return render(request, "audience_data/subscriber_list.html", {
        "access": access, "rows": [(s, display_name(s)) for s in page], "next_cursor": next_cursor,
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
        "consent_events": history(sub)[:200],
        "merged_from": sub.merged_from.all().only("pk", "email"),
    })


@tenant_view(write=True)
def subscriber_edit(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    """Correct a subscriber's values (administrators): all checked first, then written in
    one transaction, so a refused value leaves everything as it was."""
    sub = access.get(Subscriber.objects.live(), pk=pk)
    fields = tenant_fields(access.tenant)
    values = current_values([sub.pk]).get(sub.pk, {})
    form = SubscriberForm(sub, fields, values, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            with transaction.atomic():
                changed = update_subscriber(sub, form.values())
        except SubscriberError as exc:
            form.add_error(None, str(exc))
        else:
            if changed:
                messages.success(request, _("The subscriber was saved; the next sync takes "
                                            "the changes to the CRM."))
            else:
                messages.info(request, _("Nothing was changed."))
            return redirect("audience_data:subscriber", tenant=access.tenant.slug, pk=sub.pk)
    return render(request, "audience_data/subscriber_edit.html", {
        "access": access, "subscriber": sub, "form": form})


@require_POST
@tenant_view(write=True)
def subscriber_unsubscribe(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    sub = access.get(Subscriber.objects.live(), pk=pk)
    if unsubscribe(sub, who=Who(user=request.user)):
        messages.success(request, _("%(email)s was unsubscribed.") % {"email": sub.email})
    return redirect("audience_data:subscriber", tenant=access.tenant.slug, pk=sub.pk)



@tenant_view()
def subscriber_export(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    return csv_response(csv_io.export_rows(access.tenant), f"{access.tenant.slug}-subscribers.csv")


