"""The tenant's alerts: open incidents first, then the recently resolved ones."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from syncjobs.alerts.incidents import open_for
from syncjobs.models import Incident
from tenants.access import TenantAccess, tenant_view

RESOLVED_SHOWN = 20


@tenant_view()
def incident_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    resolved = Incident.objects.filter(tenant=access.tenant, resolved_at__isnull=False)
    return render(
        request,
        "syncjobs/incidents.html",
        {
            "access": access,
            "incidents": open_for(access.tenant),
            "resolved": list(resolved.order_by("-resolved_at")[:RESOLVED_SHOWN]),
        },
    )
