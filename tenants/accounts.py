"""API tokens and what ends them (django-rest-knox underneath).

- Every request for a token issues a new one (:func:`issue_token`); it expires after
  ``API_TOKEN_TTL_HOURS`` unless it is the integration user's (``expires=False``).
- Its owner lists (:func:`live_tokens`) and revokes (:func:`revoke_token`) them.
- A new password, a password reset and the removal from a tenant end *all* of the user's
  tokens (:func:`revoke_all_tokens`, called explicitly by the password forms and by
  :func:`tenants.services.remove_member`; no signal).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet
from django.utils import timezone

from tenants.models import ApiToken, Membership, Role

# A token's "last used" is written at most once per this many seconds.
LAST_USED_PRECISION = timedelta(minutes=1)


def is_integration_user(user: AbstractBaseUser | AnonymousUser) -> bool:
    """The CRM side's account (C8): it calls the CRM endpoints only and never logs in."""
    return bool(user.is_authenticated and Membership.objects.filter(
        user_id=user.pk, role=Role.INTEGRATION).exists())


def issue_token(user: Any, *, name: str = "", expires: bool = True) -> tuple[ApiToken, str]:
    """A new token for ``user``: the row and the secret (which is nowhere else after this)."""
    ttl = timedelta(hours=settings.API_TOKEN_TTL_HOURS) if expires else None
    token: ApiToken
    token, secret = ApiToken.objects.create(user=user, expiry=ttl, name=name[:100])
    return token, secret


def live_tokens(user: AbstractBaseUser | AnonymousUser) -> QuerySet[ApiToken]:
    if not user.is_authenticated:
        return ApiToken.objects.none()
    return ApiToken.objects.filter(
        Q(expiry__isnull=True) | Q(expiry__gt=timezone.now()), user_id=user.pk
    ).order_by("-created")


def revoke_token(user: AbstractBaseUser | AnonymousUser, token_id: int) -> bool:
    """Revoke one of the user's own tokens; False when there is no such token."""
    if not user.is_authenticated:
        return False
    deleted, _rows = ApiToken.objects.filter(user_id=user.pk, pk=token_id).delete()
    return bool(deleted)


def revoke_all_tokens(user: Any) -> int:
    deleted, _rows = ApiToken.objects.filter(user_id=user.pk).delete()
    return deleted


def record_use(token: ApiToken) -> None:
    """Note that ``token`` authenticated a request (at most one write a minute)."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_PRECISION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
