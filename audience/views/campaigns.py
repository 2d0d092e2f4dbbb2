"""Campaign pages: the list and one campaign with its reaction figures."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from audience.campaigns import figures_of, with_figures
from audience.models import (
    Campaign,
)
from audience.views.listing import (
    keyset_page,
)
from tenants.access import TenantAccess, tenant_view


@tenant_view()
def campaign_list(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    campaigns = with_figures(Campaign.objects.filter(tenant=access.tenant)
                             .select_related("group", "business_unit"))
    page, next_cursor = keyset_page(request, campaigns)
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
