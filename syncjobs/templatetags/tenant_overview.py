"""``{% tenant_overviews tenants as rows %}``: the tenant list's setup state and sync health.

A template tag, because the tenant list lives in ``tenants``, which imports no other app
(docs/architecture.md); the template asks syncjobs for what it shows.
"""

from __future__ import annotations

from collections.abc import Iterable

from django import template

from syncjobs.overview import TenantOverview
from syncjobs.overview import tenant_overviews as overviews
from tenants.models import Tenant

register = template.Library()


@register.simple_tag
def tenant_overviews(tenants: Iterable[Tenant]) -> list[TenantOverview]:
    return overviews(tenants)
