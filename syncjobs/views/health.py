"""Sync health (issue #20): the tenant's home once syncing was started — last and next
runs, records in sync / held back / failing, open issues by reason with retry and ignore
per reason, the CRM request budget, and charts of the latest syncs and reactions."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from orgsettings.models import OrgSettings
from syncjobs import health, health_charts, issue_groups
from syncjobs.alerts.incidents import open_for
from syncjobs.overview import tenant_overviews
from tenants.access import TenantAccess, tenant_view


@tenant_view()
def sync_health(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    org = OrgSettings.objects.filter(tenant=access.tenant).first()
    if org is None or org.sync_started_at is None:
        # Before "Start syncing" the setup checklist is the tenant's home (C7).
        return redirect("orgsettings:progress", tenant=access.tenant.slug)
    runs = health_charts.recent_syncs(access.tenant)
    changes, duration = health_charts.run_charts(runs)
    return render(
        request,
        "syncjobs/health.html",
        {
            "access": access,
            "overview": tenant_overviews([access.tenant])[0],
            "kinds": health.kinds(access.tenant, org),
            "records": health.records(access.tenant),
            "groups": issue_groups.open_groups(access.tenant),
            "budget": health.budget(access.tenant),
            "incidents": open_for(access.tenant),  # the open alerts, first thing to see
            "run_charts": [changes, duration] if runs else [],
            "reactions_chart": health_charts.reactions_chart(access.tenant),
        },
    )
