"""Navigation context for every page: the user's tenants and the current one."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from tenants.access import tenants_for_user


def tenant_nav(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    access = getattr(request, "tenant_access", None)
    return {
        # Lazy: evaluated only by templates that render the switcher.
        "nav_tenants": tenants_for_user(user),
        "current_tenant": access.tenant if access else None,
        "tenant_access": access,
    }
