"""The one tenant-scoped door every view goes through (C1).

A tenant the user does not belong to is "not found" (404), never "forbidden": a 403
would confirm that the tenant exists.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Concatenate, ParamSpec, TypeVar

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404

from tenants.models import Membership, Role, Tenant

P = ParamSpec("P")
M = TypeVar("M", bound=Model)


@dataclass(frozen=True)
class TenantAccess:
    """What the current user may do in the tenant named by the URL."""

    tenant: Tenant
    membership: Membership

    @property
    def role(self) -> Role:
        return self.membership.role_enum

    @property
    def can_write(self) -> bool:
        return self.membership.can_write

    def require_write(self) -> None:
        if not self.can_write:
            raise PermissionDenied("Only the tenant's administrators may change this.")

    def get(self, queryset: QuerySet[M], **lookup: Any) -> M:
        """Fetch one object of this tenant or 404 — for objects below the tenant."""
        return get_object_or_404(queryset, tenant=self.tenant, **lookup)


def tenants_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Tenant]:
    if not user.is_authenticated:
        return Tenant.objects.none()
    return Tenant.objects.filter(memberships__user=user.pk).order_by("name")


def admin_tenants_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Tenant]:
    return tenants_for_user(user).filter(memberships__role=Role.ADMINISTRATOR)


def get_tenant_access(request: HttpRequest, slug: str) -> TenantAccess:
    """Resolve ``slug`` for the requesting user, or raise 404."""
    if not request.user.is_authenticated:
        raise Http404
    membership = (
        Membership.objects.select_related("tenant")
        .filter(tenant__slug=slug, user=request.user)
        .first()
    )
    if membership is None or membership.role not in (Role.ADMINISTRATOR, Role.USER):
        raise Http404
    return TenantAccess(tenant=membership.tenant, membership=membership)


TenantView = Callable[Concatenate[HttpRequest, TenantAccess, P], HttpResponse]


def tenant_view(
    *, write: bool = False
) -> Callable[[TenantView[P]], Callable[Concatenate[HttpRequest, str, P], HttpResponse]]:
    """Decorate a view taking ``(request, access, ...)``; the URL supplies ``tenant`` (slug).

    ``write=True`` lets only administrators through (others get 403 — they do belong to
    the tenant, so nothing is revealed). Read-only views that also accept POST should
    call ``access.require_write()`` themselves.
    """

    def decorator(
        view: TenantView[P],
    ) -> Callable[Concatenate[HttpRequest, str, P], HttpResponse]:
        @login_required
        @wraps(view)
        def wrapper(
            request: HttpRequest, tenant: str, *args: P.args, **kwargs: P.kwargs
        ) -> HttpResponse:
            access = get_tenant_access(request, tenant)
            request.tenant_access = access  # type: ignore[attr-defined]
            if write:
                access.require_write()
            return view(request, access, *args, **kwargs)

        return wrapper

    return decorator
