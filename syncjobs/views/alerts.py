"""The tenant's alerts: open incidents first, then the recently resolved ones."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from syncjobs.models import Incident
from tenants.access import TenantAccess, tenant_view

RESOLVED_SHOWN = 20


def open_incidents(access: TenantAccess) -> list[Incident]:
    """For the partial ``syncjobs/_incidents.html`` on other pages (context ``incidents``)."""
    return list(Incident.objects.filter(tenant=access.tenant, resolved_at__isnull=True))


@tenant_view()
def incident_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    resolved = Incident.objects.filter(tenant=access.tenant, resolved_at__isnull=False)
    return render(
        request,
        "syncjobs/incidents.html",
        {
            "access": access,
            "incidents": open_incidents(access),
            "resolved": list(resolved.order_by("-resolved_at")[:RESOLVED_SHOWN]),
        },
    )
