"""Subject rights pages (GDPR Art. 15, 17): the tenant's privacy page (find an address,
download what is held about it, the erasures sent to the CRM with their outcome), and a
subscriber's erasure with its confirmation."""

from __future__ import annotations

import json

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from audience.erasure import erasure_set
from audience.models import Subscriber
from mailworx_crm.email_address import normalise_email
from orgsettings.models import ErasureInCrm, OrgSettings
from syncjobs.erasure import erase
from syncjobs.models import ErasurePropagation, LinkState, RecordLink
from syncjobs.subject_access import export_address, subscribers_for
from tenants.access import TenantAccess, tenant_view


@tenant_view()
def privacy_page(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    email = request.GET.get("email", "").strip()
    found = subscribers_for(access.tenant, email) if email else []
    propagations = list(ErasurePropagation.objects.filter(tenant=access.tenant)[:100])
    labels = dict(ErasureInCrm.choices)
    return render(
        request,
        "syncjobs/privacy/page.html",
        {
            "access": access,
            "email": email,
            "found": found,
            "searched": bool(email),
            "propagations": [(p, labels.get(p.action, p.action)) for p in propagations],
        },
    )


@tenant_view()
def access_export(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    email = request.GET.get("email", "").strip()
    if "@" not in email:
        messages.error(request, _("Enter the email address whose data you want to export."))
        return redirect("syncjobs:privacy", tenant=access.tenant.slug)
    return _json_download(access, email)


@tenant_view()
def subscriber_access_export(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    sub = access.get(Subscriber.objects.all(), pk=pk)
    return _json_download(access, sub.email)


def _json_download(access: TenantAccess, email: str) -> HttpResponse:
    data = export_address(access.tenant, email)
    response = HttpResponse(
        json.dumps(data, ensure_ascii=False, indent=2),
        content_type="application/json; charset=utf-8",
    )
    name = normalise_email(email).replace("@", "_at_")
    response["Content-Disposition"] = f'attachment; filename="personal-data-{name}.json"'
    response["Cache-Control"] = "no-store"
    return response


@tenant_view(write=True)
def subscriber_erase(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    sub = access.get(Subscriber.objects.all(), pk=pk)
    if request.method == "POST":
        if request.POST.get("confirm_email", "").strip().lower() != sub.email_normalised:
            messages.error(
                request, _("Type the subscriber's email address to confirm the erasure.")
            )
            return redirect("syncjobs:subscriber_erase", tenant=access.tenant.slug, pk=sub.pk)
        result = erase(sub, user=request.user)
        messages.success(
            request,
            _(
                "The personal data of %(count)s subscriber(s) was erased; the address stays on "
                "the suppression list. Linked CRM records to tell: %(crm)s."
            )
            % {"count": len(result.erased.subscriber_ids), "crm": result.propagations},
        )
        return redirect("syncjobs:privacy", tenant=access.tenant.slug)
    people = erasure_set(sub)
    links = RecordLink.objects.filter(
        subscriber__in=people, state__in=[LinkState.ACTIVE, LinkState.PENDING]
    )
    org = OrgSettings.objects.filter(tenant=access.tenant).first()
    action = ErasureInCrm(org.erasure_in_crm) if org else None
    return render(
        request,
        "syncjobs/privacy/erase.html",
        {
            "access": access,
            "subscriber": sub,
            "people": people,
            "links": links,
            "action": action.label if action else "",
        },
    )
