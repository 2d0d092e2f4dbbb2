"""Additional application users of a tenant's Online connection: add, remove, and which
of them the engine may use.

Each brings its own service-protection budget
(docs/dataverse-webapi.md §Several application users). Its secret is bound like the main
secret (``SECRET_BINDINGS``): to the CRM URL, the sign-in authority and the directory it
was entered for — its own client id is the user itself. When one of them changes, the
user is not used (no secret is sent to a place it was not entered for) and the settings
page asks for the secret again.

Choice: a user is used by the engine only after an integration check signed in as it
since its secret was entered (``AdditionalAppUser.checked``). A user that fails the check
is named there and the check fails, so the administrator sees it; syncs keep running with
the users that passed (the engine also stops using a user whose sign-in is refused during
a run, dynamics/lanes.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from orgsettings.models import AdditionalAppUser, Deployment, OrgSettings
from orgsettings.services import SECRET_BINDINGS, Actor, binding_of
from tenants.models import Tenant

# Every place the main secret is bound to, except the client id: each user has its own.
BOUND_TO = tuple(name for name in SECRET_BINDINGS["client_secret"] if name != "client_id")
# Each user adds CRM_CONCURRENCY requests in flight: a bound the worker can carry.
MAX_ADDITIONAL_USERS = 4


class AppUserError(Exception):
    """The change was refused; the message says why, in the admin's language."""


def binding_now(org: OrgSettings) -> dict[str, str]:
    """What a secret entered now would be bound to."""
    return {
        name: value for name, value in binding_of(org, "client_secret").items() if name in BOUND_TO
    }


def is_bound(app_user: AdditionalAppUser, org: OrgSettings) -> bool:
    """The settings still point where the user's secret was entered for."""
    return bool(app_user.secret_binding) and app_user.secret_binding == binding_now(org)


@dataclass(frozen=True)
class AppUserRow:
    """One user as the settings page lists it."""

    user: AdditionalAppUser
    bound: bool  # False: the secret must be entered again
    checked: bool  # an integration check signed in as it since the secret was entered


def app_user_rows(org: OrgSettings | None) -> list[AppUserRow]:
    if org is None or org.pk is None:
        return []
    users = org.additional_users.select_related("created_by")
    return [AppUserRow(u, is_bound(u, org), u.checked) for u in users]


def to_check(org: OrgSettings) -> list[tuple[AdditionalAppUser, bool]]:
    """The users an integration check covers, each with whether its secret may be sent."""
    if org.deployment != Deployment.ONLINE:
        return []
    return [
        (u, is_bound(u, org) and u.client_id.lower() != org.client_id.lower())
        for u in org.additional_users.all()
    ]


def usable_app_users(org: OrgSettings) -> list[AdditionalAppUser]:
    """The users the engine spreads bulk work over: Online, bound, checked."""
    return [u for u, sendable in to_check(org) if sendable and u.checked]


def record_check(passed: dict[int, bool]) -> None:
    """After an integration check: which users signed in (pk → passed)."""
    now = timezone.now()
    for pk, ok in passed.items():
        AdditionalAppUser.objects.filter(pk=pk).update(check_passed_at=now if ok else None)


@transaction.atomic
def add_app_user(
    tenant: Tenant, client_id: str, secret: str, *, user: Actor
) -> tuple[AdditionalAppUser, bool]:
    """Add a user, or enter again the secret of one whose binding no longer matches.
    Returns ``(user, entered again)``; ``AppUserError`` when refused (nothing saved)."""
    org = OrgSettings.objects.select_for_update().filter(tenant=tenant).first()
    if org is None:
        raise AppUserError(_("Save the organisation settings first."))
    if org.deployment != Deployment.ONLINE:
        raise AppUserError(_("Additional application users exist only for an Online CRM."))
    client_id = client_id.strip().lower()
    if not client_id or not secret:
        raise AppUserError(_("Enter the application (client) id and its client secret."))
    if client_id == org.client_id.lower():
        raise AppUserError(
            _(
                "%(client_id)s is the connection's own application user. Add the client id of "
                "another app registration."
            )
            % {"client_id": client_id}
        )
    existing = org.additional_users.filter(client_id__iexact=client_id).first()
    now = timezone.now()
    if existing is not None:
        if is_bound(existing, org):
            raise AppUserError(
                _(
                    "%(client_id)s is already an additional application user. To replace its "
                    "secret, remove it and add it again."
                )
                % {"client_id": client_id}
            )
        existing.client_secret = secret
        existing.secret_entered_at = now
        existing.secret_binding = binding_now(org)
        existing.check_passed_at = None
        existing.save()
        return existing, True
    if org.additional_users.count() >= MAX_ADDITIONAL_USERS:
        raise AppUserError(
            _("At most %(n)s additional application users can be added.")
            % {"n": MAX_ADDITIONAL_USERS}
        )
    created = AdditionalAppUser.objects.create(
        org_settings=org,
        client_id=client_id,
        client_secret=secret,
        secret_entered_at=now,
        secret_binding=binding_now(org),
        created_by=user if isinstance(user, AbstractBaseUser) else None,
    )  # type: ignore[misc]
    return created, False


@transaction.atomic
def remove_app_user(tenant: Tenant, pk: int) -> AdditionalAppUser | None:
    """Remove the tenant's user ``pk``; None when the tenant has no such user."""
    app_user = (
        AdditionalAppUser.objects.select_for_update()
        .filter(pk=pk, org_settings__tenant=tenant)
        .first()
    )
    if app_user is not None:
        app_user.delete()
    return app_user
