"""Additional application users on the settings page: add one, remove one."""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from orgsettings import app_users
from orgsettings.forms import AppUserForm
from tenants.access import TenantAccess, tenant_view


def _back(access: TenantAccess) -> HttpResponse:
    return redirect(
        reverse("orgsettings:edit", kwargs={"tenant": access.tenant.slug}) + "#app-users"
    )


@sensitive_post_parameters("app_client_secret")
@tenant_view(write=True)
@require_POST
def add(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    form = AppUserForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for error in errors:
                messages.error(request, str(error))
        return _back(access)
    client_id = form.cleaned_data["app_client_id"]
    try:
        _user, again = app_users.add_app_user(
            access.tenant, client_id, form.cleaned_data["app_client_secret"], user=request.user
        )
    except app_users.AppUserError as exc:
        messages.error(request, str(exc))
        return _back(access)
    if again:
        messages.success(
            request,
            _(
                "The secret of %(client_id)s was entered again. The next integration check signs "
                "in as it; syncs use it once that check passed."
            )
            % {"client_id": client_id.lower()},
        )
    else:
        messages.success(
            request,
            _(
                "Application user %(client_id)s added. The next integration check signs in as "
                "it; syncs use it once that check passed."
            )
            % {"client_id": client_id.lower()},
        )
    return _back(access)


@tenant_view(write=True)
@require_POST
def remove(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    removed = app_users.remove_app_user(access.tenant, pk)
    if removed is None:
        raise Http404
    messages.success(
        request, _("Application user %(client_id)s removed.") % {"client_id": removed.client_id}
    )
    return _back(access)
