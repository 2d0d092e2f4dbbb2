"""C8: the tenant's integration user for the CRM side — prepared once, its credentials
re-issued (rotated) or revoked. The secrets exist only in the answer right after issuing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from orgsettings.models import IntegrationAccess, OrgSettings
from orgsettings.progress import settings_saved
from orgsettings.services import Actor, acting_user
from tenants.accounts import issue_token, revoke_all_tokens
from tenants.models import Membership, Role, Tenant


@dataclass(frozen=True)
class IssuedCredentials:
    """What the CRM side must be given; exists only in the response right after issuing."""

    access: IntegrationAccess
    webservice_url: str
    crm_webservice_url: str
    username: str
    password: str = ""
    activation_key: str = ""
    token: str = ""  # an API token that does not expire; re-issuing or revoking ends it

    def __repr__(self) -> str:  # keep secrets out of tracebacks and logs
        return (f"IssuedCredentials(username={self.username!r}, password=***, key=***, "
                "token=***)")


class PrepareError(Exception):
    """Preparing mailworx is not possible yet; the message says why."""


INTEGRATION_TOKEN_NAME = "prepare mailworx"


def integration_username(tenant: Tenant) -> str:
    return f"integration-{tenant.slug}"


def webservice_url() -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + "/api/v1/"


def _issue(access: IntegrationAccess, user: Actor) -> IssuedCredentials:
    password = secrets.token_urlsafe(24)
    key = secrets.token_urlsafe(24)
    integration_user = access.user
    integration_user.set_password(password)
    integration_user.save(update_fields=["password"])
    # The previous token ends with the previous password; the new one never expires.
    revoke_all_tokens(integration_user)
    _token, token = issue_token(integration_user, name=INTEGRATION_TOKEN_NAME, expires=False)
    access.activation_key = make_password(key)
    access.issued_at = timezone.now()
    access.issued_by = acting_user(user)  # type: ignore[assignment]
    access.save()
    org = OrgSettings.objects.get(tenant=access.tenant)
    return IssuedCredentials(
        access=access, webservice_url=webservice_url(), crm_webservice_url=org.web_api_url,
        username=integration_user.get_username(), password=password, activation_key=key,
        token=token,
    )


@transaction.atomic
def prepare_mailworx(tenant: Tenant, *, user: Actor) -> IssuedCredentials:
    """Create the tenant's integration user and its credentials (C8)."""
    if not settings_saved(tenant):
        raise PrepareError(_("Save the organisation settings first."))
    if IntegrationAccess.objects.filter(tenant=tenant).exists():
        raise PrepareError(_("mailworx is already prepared; re-issue the credentials instead."))
    username = integration_username(tenant)
    user_model = get_user_model()
    if user_model.objects.filter(username=username).exists():
        raise PrepareError(_("A user named %(name)s already exists; remove it first.")
                           % {"name": username})
    integration_user = user_model.objects.create_user(username=username)
    Membership.objects.create(user=integration_user, tenant=tenant, role=Role.INTEGRATION)
    access = IntegrationAccess(tenant=tenant, user=integration_user, issued_at=timezone.now())
    access.created_by = acting_user(user)  # type: ignore[assignment]
    return _issue(access, user)


@transaction.atomic
def reissue_credentials(tenant: Tenant, *, user: Actor) -> IssuedCredentials:
    """Rotate the integration user's password and the activation key."""
    access = (
        IntegrationAccess.objects.select_for_update().select_related("user", "tenant")
        .filter(tenant=tenant).first()
    )
    if access is None:
        raise PrepareError(_("mailworx is not prepared yet."))
    return _issue(access, user)


@transaction.atomic
def revoke_integration(tenant: Tenant) -> bool:
    """End the CRM side's access to the tenant: the integration user's tokens, its
    membership, the :class:`IntegrationAccess` (setup no longer says "prepared") and the
    user itself, so that preparing again starts afresh. False when it was not prepared."""
    access = (
        IntegrationAccess.objects.select_for_update().select_related("user")
        .filter(tenant=tenant).first()
    )
    if access is None:
        return False
    integration_user = access.user
    revoke_all_tokens(integration_user)
    Membership.objects.filter(user=integration_user, tenant=tenant,
                              role=Role.INTEGRATION).delete()
    access.delete()
    integration_user.delete()
    return True
