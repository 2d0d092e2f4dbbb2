"""Membership management: the business rules behind the members page."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext as _

from mailworx_crm.email_address import normalise_email
from tenants.models import Membership, Role, Tenant


class MembershipError(Exception):
    """A membership change that would break a rule; the message is shown to the admin."""


@dataclass(frozen=True)
class InviteResult:
    membership: Membership
    created_user: bool


@transaction.atomic
def add_member(
    tenant: Tenant, email: str, role: Role, request: HttpRequest | None = None
) -> InviteResult:
    """Add an existing user by email, or create one and email them a link to set a password."""
    email = normalise_email(email)
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if user is None:
        user = User.objects.create_user(username=email, email=email)
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if Membership.objects.filter(tenant=tenant, user=user).exists():
        raise MembershipError(_("%(email)s is already a member of %(tenant)s.") % {
            "email": email, "tenant": tenant.name})
    membership = Membership.objects.create(tenant=tenant, user=user, role=role)
    if created and request is not None:
        _send_invitation(request, email)
    return InviteResult(membership=membership, created_user=created)


class _InvitationForm(PasswordResetForm):
    """The password-reset flow doubles as the invitation; unlike a reset it must reach a
    user who has no usable password yet."""

    def get_users(self, email: str) -> Iterator[Any]:
        return iter(get_user_model().objects.filter(email__iexact=email, is_active=True))


def _send_invitation(request: HttpRequest, email: str) -> None:
    form = _InvitationForm({"email": email})
    if form.is_valid():
        form.save(
            request=request,
            use_https=request.is_secure(),
            subject_template_name="registration/invitation_subject.txt",
            email_template_name="registration/invitation_email.txt",
        )


def _other_admins(membership: Membership) -> bool:
    return (
        Membership.objects.select_for_update()
        .filter(tenant=membership.tenant, role=Role.ADMINISTRATOR)
        .exclude(pk=membership.pk)
        .exists()
    )


@transaction.atomic
def change_role(membership: Membership, role: Role) -> None:
    demoting = membership.role == Role.ADMINISTRATOR and role != Role.ADMINISTRATOR
    if demoting and not _other_admins(membership):
        raise MembershipError(_("The last administrator of a tenant cannot be demoted."))
    membership.role = role
    membership.save(update_fields=["role"])


@transaction.atomic
def remove_member(membership: Membership) -> None:
    if membership.role == Role.ADMINISTRATOR and not _other_admins(membership):
        raise MembershipError(_("The last administrator of a tenant cannot be removed."))
    membership.delete()


def display_name(user: AbstractUser) -> str:
    return user.get_full_name() or user.email or user.get_username()


