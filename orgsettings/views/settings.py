"""Organisation settings, setup progress, prepare mailworx and the audit history."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_POST

from orgsettings import integration_access, services
from orgsettings.app_users import app_user_rows
from orgsettings.audit import describe_page, tenant_history
from orgsettings.forms import AppUserForm, OrgSettingsForm
from orgsettings.models import IntegrationAccess, OrgSettings
from orgsettings.progress import setup_steps
from syncjobs.models import JobKind
from syncjobs.starting import latest_run
from tenants.access import TenantAccess, admin_tenants_for_user, tenant_view


@sensitive_post_parameters("client_secret", "onprem_password")
@tenant_view()
def edit(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    tenant = access.tenant
    instance = OrgSettings.objects.filter(tenant=tenant).first() or OrgSettings(tenant=tenant)
    form_kwargs = {
        "instance": instance,
        "admin_tenants": admin_tenants_for_user(request.user) if access.can_write else None,
        "read_only": not access.can_write,
    }
    if request.method == "POST":
        access.require_write()
        form = OrgSettingsForm(request.POST, **form_kwargs)  # type: ignore[arg-type]
        if form.is_valid():
            tenants = form.chosen_tenants() or [tenant]
            try:
                saved = services.save_org_settings(
                    tenants, form.settings_values(), form.secrets(), user=request.user
                )
            except services.SettingsError as exc:
                form.add_error(None, str(exc))
            except ValidationError as exc:  # model-level checks in the service
                form.add_error(None, exc.messages)
            else:
                messages.success(request, _("Settings saved for: %(tenants)s.") % {
                    "tenants": ", ".join(s.tenant.name for s in saved)})
                return redirect("orgsettings:edit", tenant=tenant.slug)
    else:
        form = OrgSettingsForm(initial={"tenants": [tenant.pk]}, **form_kwargs)  # type: ignore[arg-type]
    org = instance if instance.pk else None
    return render(request, "orgsettings/edit.html", {
        "access": access, "form": form, "org": org,
        "app_users": app_user_rows(org), "app_user_form": AppUserForm(),
    })


@tenant_view()
def progress(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    integration = (
        IntegrationAccess.objects.select_related("created_by", "issued_by", "user")
        .filter(tenant=access.tenant).first()
    )
    return render(request, "orgsettings/progress.html", {
        "access": access, "steps": setup_steps(access.tenant), "integration": integration,
        "attribute_pull": latest_run(access.tenant, JobKind.ATTRIBUTE_PULL),
    })


def _show_credentials(request: HttpRequest, access: TenantAccess,
                      issued: integration_access.IssuedCredentials) -> HttpResponse:
    response = render(request, "orgsettings/prepared.html", {"access": access, "issued": issued})
    response["Cache-Control"] = "no-store"
    return response


def _issue(request: HttpRequest, access: TenantAccess,
           issue: Callable[..., integration_access.IssuedCredentials]) -> HttpResponse:
    try:
        issued = issue(access.tenant, user=request.user)
    except integration_access.PrepareError as exc:
        messages.error(request, str(exc))
        return redirect("orgsettings:progress", tenant=access.tenant.slug)
    return _show_credentials(request, access, issued)


@tenant_view(write=True)
@require_POST
def prepare(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    return _issue(request, access, integration_access.prepare_mailworx)


@tenant_view(write=True)
@require_POST
def reissue(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    return _issue(request, access, integration_access.reissue_credentials)


@tenant_view(write=True)
@require_POST
def revoke(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    if integration_access.revoke_integration(access.tenant):
        messages.success(request, _(
            "Integration access revoked: the CRM side can no longer call mailworx for this "
            "tenant. Prepare mailworx again to give it new credentials."))
    else:
        messages.error(request, _("mailworx is not prepared; there is no access to revoke."))
    return redirect("orgsettings:progress", tenant=access.tenant.slug)


@tenant_view()
def history(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    paginator = Paginator(tenant_history(access.tenant), 25)
    page = paginator.get_page(request.GET.get("page"))
    return render(request, "orgsettings/history.html", {
        "access": access, "page": page, "changes": describe_page(page.object_list),
    })
