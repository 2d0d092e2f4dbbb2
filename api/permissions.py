"""Who may call which endpoint (C1, C8).

- Tenant-scoped endpoints resolve ``<slug:tenant>`` through the same door as the UI
  (:func:`tenants.access.get_tenant_access`): a tenant the caller is no UI member of — an
  outsider, or the CRM side's integration user — is "not found" (404), never 403.
- Members with the role *user* read; writes need an administrator (403: they do belong to
  the tenant, so nothing is revealed).
- The CRM-side endpoints admit only the tenant's integration user presenting the
  activation key of the tenant's :class:`~orgsettings.models.IntegrationAccess`.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404
from django.utils.translation import gettext_lazy as _
from rest_framework.exceptions import PermissionDenied
from rest_framework.permissions import SAFE_METHODS, BasePermission
from rest_framework.request import Request

from orgsettings.models import IntegrationAccess
from tenants.access import TenantAccess, get_tenant_access
from tenants.models import Membership, Role, Tenant

ACTIVATION_KEY_HEADER = "X-Mailworx-Activation-Key"


class IsTenantMember(BasePermission):
    """Resolve the URL's tenant for a UI member (else 404); writes need an administrator.

    Sets ``view.access`` (:class:`~tenants.access.TenantAccess`). A view whose unsafe
    methods members may use (e.g. starting a sync later) sets ``member_may_write = True``.
    """

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        access = get_tenant_access(request._request, view.kwargs["tenant"])
        view.access = access
        if (request.method not in SAFE_METHODS and not access.can_write
                and not getattr(view, "member_may_write", False)):
            raise PermissionDenied(_("Only the tenant's administrators may change this."))
        return True


def resolve_access(view: Any) -> TenantAccess:
    access: TenantAccess = view.access
    return access


class IsTenantIntegration(BasePermission):
    """Only the tenant's integration user, with the activation key (C8)."""

    def has_permission(self, request: Request, view: Any) -> bool:
        if not request.user or not request.user.is_authenticated:
            return False
        membership = (
            Membership.objects.select_related("tenant")
            .filter(tenant__slug=view.kwargs["tenant"], user_id=request.user.pk,
                    role=Role.INTEGRATION)
            .first()
        )
        access = (IntegrationAccess.objects.filter(tenant_id=membership.tenant_id,
                                                   user_id=request.user.pk).first()
                  if membership else None)
        if membership is None or access is None:
            raise Http404
        key = request.headers.get(ACTIVATION_KEY_HEADER, "")
        if not key or not access.check_activation_key(key):
            raise PermissionDenied(
                _("The activation key is missing or wrong: send the key issued by “prepare "
                  "mailworx” in the X-Mailworx-Activation-Key header."))
        view.tenant = membership.tenant
        return True


def integration_tenant(view: Any) -> Tenant:
    tenant: Tenant = view.tenant
    return tenant
