"""Membership management: the business rules behind the members page."""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from mailworx_crm.email_address import normalise_email
from tenants.accounts import revoke_all_tokens
from tenants.models import Invitation, Membership, Role, Tenant

logger = logging.getLogger(__name__)


class TenantError(Exception):
    """A tenant that cannot be created so; the message says why."""


@transaction.atomic
def create_tenant(name: str, slug: str, default_language: str = "") -> Tenant:
    """A new, empty tenant (operators bootstrap tenants; its administrators are invited
    with :func:`add_member`). ``TenantError`` for a taken or malformed slug."""
    tenant = Tenant(name=name.strip(), slug=slug.strip().lower())
    if default_language:
        tenant.default_language = default_language
    try:
        tenant.full_clean()
    except ValidationError as exc:
        raise TenantError(" ".join(exc.messages)) from None
    tenant.save()
    return tenant


class MembershipError(Exception):
    """A membership change that would break a rule; the message is shown to the admin."""


@dataclass(frozen=True)
class InviteResult:
    invitation: Invitation
    email: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


@transaction.atomic
def add_member(
    tenant: Tenant, email: str, role: Role, request: HttpRequest | None = None,
    invited_by: Any = None, *, send_without_request: bool = False,
) -> InviteResult:
    """Invite ``email`` to the tenant with ``role``; the same result whether or not the
    address has an account, so the members page reveals nothing about other tenants.

    The email's links lead to the requesting host, or — ``send_without_request``, for
    commands — to ``PUBLIC_BASE_URL``. Nobody becomes a member here: the invited person
    accepts through the emailed link,
    logged in (:func:`accept_invitation`). An address without an account gets one without
    a password, and the email also carries the link to set it. Inviting again renews the
    invitation and sends a new email.
    """
    email = normalise_email(email)
    if role not in Role.ui_roles():
        raise MembershipError(_("Choose a role for a person: administrator or user."))
    User = get_user_model()
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        # The address as user name, unless too long or another account's user name
        # (answering differently would tell the admin that account exists).
        username = email
        if len(username) > 150 or User.objects.filter(username__iexact=username).exists():
            username = f"invited-{secrets.token_hex(8)}"
        user = User.objects.create_user(username=username, email=email)
        user.set_unusable_password()
        user.save(update_fields=["password"])
    if Membership.objects.filter(tenant=tenant, user=user).exists():
        raise MembershipError(_("%(email)s is already a member of %(tenant)s.") % {
            "email": email, "tenant": tenant.name})
    secret = secrets.token_urlsafe(32)
    invitation, _created = Invitation.objects.update_or_create(
        tenant=tenant, user=user, defaults={
            "role": role, "token_digest": _digest(secret),
            "invited_by": invited_by if getattr(invited_by, "is_authenticated", False) else None,
            "expires_at": timezone.now() + timedelta(days=settings.INVITATION_TTL_DAYS),
        })
    if request is not None or send_without_request:
        _send_invitation(request, invitation, secret)
    return InviteResult(invitation=invitation, email=email)


def pending_invitations(tenant: Tenant) -> QuerySet[Invitation]:
    return (Invitation.objects.filter(tenant=tenant, expires_at__gt=timezone.now())
            .select_related("user").order_by("user__email"))


def find_invitation(secret: str, user: Any) -> Invitation | None:
    """The live invitation behind an emailed link, if it was sent to ``user``."""
    return (Invitation.objects.select_related("tenant", "user")
            .filter(token_digest=_digest(secret), user_id=user.pk,
                    expires_at__gt=timezone.now()).first())


@transaction.atomic
def accept_invitation(invitation: Invitation) -> Membership:
    membership, _created = Membership.objects.get_or_create(
        tenant=invitation.tenant, user=invitation.user, defaults={"role": invitation.role})
    invitation.delete()
    return membership


def decline_invitation(invitation: Invitation) -> None:
    invitation.delete()


def cancel_invitation(tenant: Tenant, pk: int) -> bool:
    deleted, _rows = Invitation.objects.filter(tenant=tenant, pk=pk).delete()
    return bool(deleted)


class _SetPasswordInvitationForm(PasswordResetForm):
    """The password-reset email doubles as the invitation of a new account; unlike a reset
    it must reach a user who has no usable password yet — that user only, even when other
    accounts share the address."""

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.invited = user

    def get_users(self, email: str) -> Iterator[Any]:
        return iter([self.invited] if self.invited is not None and self.invited.is_active
                    else [])


def _accept_url(request: HttpRequest | None, secret: str) -> str:
    path = reverse("tenants:invitation", args=[secret])
    if request is None:
        return settings.PUBLIC_BASE_URL.rstrip("/") + path
    return request.build_absolute_uri(path)


def _send_invitation(request: HttpRequest | None, invitation: Invitation, secret: str) -> None:
    user = invitation.user
    context: dict[str, Any] = {
        "tenant": invitation.tenant.name, "accept_url": _accept_url(request, secret),
        "expires": invitation.expires_at, "email": user.email,
    }
    if not user.has_usable_password():
        form = _SetPasswordInvitationForm({"email": user.email}, user=user)
        if form.is_valid():
            public = urlsplit(settings.PUBLIC_BASE_URL)
            form.save(
                request=request,
                domain_override=None if request is not None else public.netloc,
                use_https=(request.is_secure() if request is not None
                           else public.scheme == "https"),
                subject_template_name="registration/invitation_subject.txt",
                email_template_name="registration/invitation_email.txt",
                extra_email_context=context,
            )
        return
    subject = "".join(render_to_string("registration/invitation_subject.txt", context,
                                       request=request).splitlines())
    body = render_to_string("registration/invitation_accept_email.txt", context,
                            request=request)
    try:
        EmailMessage(subject, body, to=[user.email]).send()
    except Exception:  # the same answer as for a new address, whose mail Django sends
        logger.exception("Failed to send the invitation email to user %s", user.pk)


def _other_admins(membership: Membership) -> bool:
    return (
        Membership.objects.select_for_update()
        .filter(tenant=membership.tenant, role=Role.ADMINISTRATOR)
        .exclude(pk=membership.pk)
        .exists()
    )


def _refuse_integration(membership: Membership) -> None:
    if membership.role == Role.INTEGRATION:
        raise MembershipError(_(
            "The integration account (CRM) is not changed here: re-issue its credentials "
            "or revoke its access on the setup page."))


@transaction.atomic
def change_role(membership: Membership, role: Role) -> None:
    _refuse_integration(membership)
    if role not in Role.ui_roles():
        raise MembershipError(_("Choose a role for a person: administrator or user."))
    demoting = membership.role == Role.ADMINISTRATOR and role != Role.ADMINISTRATOR
    if demoting and not _other_admins(membership):
        raise MembershipError(_("The last administrator of a tenant cannot be demoted."))
    membership.role = role
    membership.save(update_fields=["role"])


@transaction.atomic
def remove_member(membership: Membership) -> None:
    """Remove a person from the tenant; every API token of theirs ends too (in all their
    tenants: a token is the person's, not the tenant's)."""
    _refuse_integration(membership)
    if membership.role == Role.ADMINISTRATOR and not _other_admins(membership):
        raise MembershipError(_("The last administrator of a tenant cannot be removed."))
    membership.delete()
    revoke_all_tokens(membership.user)


def display_name(user: AbstractUser) -> str:
    return user.get_full_name() or user.email or user.get_username()


