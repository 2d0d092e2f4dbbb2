"""Tenant home, dashboard and membership management."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from tenants import services
from tenants.access import TenantAccess, tenant_view, tenants_for_user
from tenants.forms import AddMemberForm, ChangeRoleForm
from tenants.models import Membership, Role


@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The tenant picker; a user with exactly one tenant goes straight to it."""
    tenants = list(tenants_for_user(request.user))
    if len(tenants) == 1:
        return redirect(tenants[0])
    return render(request, "tenants/home.html", {"tenants": tenants})


@tenant_view()
def dashboard(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    # The tenant's home: its sync health once syncing was started, which sends a tenant
    # still in setup on to the setup checklist (C7). Named by URL: tenants imports no app.
    return redirect("syncjobs:health", tenant=access.tenant.slug)


@tenant_view()
def members(request: HttpRequest, access: TenantAccess) -> HttpResponse:
    form = AddMemberForm()
    if request.method == "POST":
        access.require_write()
        form = AddMemberForm(request.POST)
        if form.is_valid():
            try:
                result = services.add_member(
                    access.tenant, form.cleaned_data["email"], Role(form.cleaned_data["role"]),
                    request=request, invited_by=request.user,
                )
            except services.MembershipError as exc:
                form.add_error("email", str(exc))
            else:
                # One answer whether or not the address has an account (nothing revealed).
                messages.success(request, _(
                    "Invitation sent to %(email)s. The address becomes a member once the "
                    "invitation is accepted.") % {"email": result.email})
                return redirect("tenants:members", tenant=access.tenant.slug)
    memberships = (
        Membership.objects.filter(tenant=access.tenant)
        .select_related("user")
        .order_by("user__email")
    )
    return render(request, "tenants/members.html", {
        "access": access, "memberships": memberships, "form": form,
        "role_form": ChangeRoleForm(), "invitations": services.pending_invitations(access.tenant),
        "integration_role": Role.INTEGRATION.value,
    })


def _membership(access: TenantAccess, pk: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"), tenant=access.tenant, pk=pk
    )


@require_POST
@tenant_view(write=True)
def change_role(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    membership = _membership(access, pk)
    form = ChangeRoleForm(request.POST)
    if form.is_valid():
        try:
            services.change_role(membership, Role(form.cleaned_data["role"]))
        except services.MembershipError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, _("Role of %(email)s changed.") % {
                "email": membership.user.email})
    return redirect("tenants:members", tenant=access.tenant.slug)


@require_POST
@tenant_view(write=True)
def remove_member(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    membership = _membership(access, pk)
    try:
        services.remove_member(membership)
    except services.MembershipError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("%(email)s no longer has access to this tenant.") % {
            "email": membership.user.email})
    return redirect("tenants:members", tenant=access.tenant.slug)


@require_POST
@tenant_view(write=True)
def cancel_invitation(request: HttpRequest, access: TenantAccess, pk: int) -> HttpResponse:
    if not services.cancel_invitation(access.tenant, pk):
        raise Http404
    messages.success(request, _("The invitation was withdrawn."))
    return redirect("tenants:members", tenant=access.tenant.slug)


@login_required
def invitation(request: HttpRequest, secret: str) -> HttpResponse:
    """The emailed link: the invited person, logged in as the invited account, accepts or
    declines. Anyone else — and an expired or withdrawn invitation — finds nothing."""
    found = services.find_invitation(secret, request.user)
    if found is None:
        return render(request, "tenants/invitation_invalid.html", status=404)
    if request.method == "POST":
        if request.POST.get("action") == "accept":
            membership = services.accept_invitation(found)
            messages.success(request, _("You are now a member of %(tenant)s.") % {
                "tenant": membership.tenant.name})
            return redirect(membership.tenant)
        services.decline_invitation(found)
        messages.info(request, _("You declined the invitation to %(tenant)s.") % {
            "tenant": found.tenant.name})
        return redirect("tenants:home")
    return render(request, "tenants/invitation.html", {"invitation": found})
