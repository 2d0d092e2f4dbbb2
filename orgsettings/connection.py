"""Build the CRM client (Web API or Organization Service) from a tenant's organisation settings.

Only job bodies call this (docs/architecture.md: never a CRM call inside a web request).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from dynamics import AppUser, Connection
from dynamics import Deployment as ClientDeployment
from dynamics.clock import Clock
from dynamics.crm_api import CrmApi, open_client
from dynamics.detect import with_api_version
from orgsettings.app_users import usable_app_users
from orgsettings.destinations import connection_options
from orgsettings.models import Deployment, OrgSettings
from orgsettings.transaction_guard import TransactionGuard
from tenants.models import Tenant


class NotConfigured(Exception):
    """The tenant has no usable connection settings yet."""

    def __init__(self, explanation: str) -> None:
        super().__init__(explanation)
        self.explanation = explanation


def connection_for(org: OrgSettings) -> Connection:
    if not org.has_credentials:
        raise NotConfigured(_("The organisation settings have no secret or password yet."))
    common: dict[str, Any] = {
        "api_url": org.web_api_url,
        "ca_bundle": org.ca_bundle or None,
        "connect_timeout": settings.CRM_CONNECT_TIMEOUT,
        "read_timeout": settings.CRM_READ_TIMEOUT,
        "max_retries": settings.CRM_MAX_RETRIES,
        "max_wait": settings.CRM_MAX_WAIT_SECONDS,
        "concurrency": settings.CRM_CONCURRENCY,
        # SPEC N8: the operator's allowlist and proxy (orgsettings/destinations.py).
        **connection_options(),
    }
    if org.deployment == Deployment.ONLINE:
        return Connection(
            deployment=ClientDeployment.ONLINE, authority=org.authority_url,
            tenant_id=org.directory_tenant_id, client_id=org.client_id,
            client_secret=org.client_secret,
            # More budgets for the bulk path (dynamics/lanes.py): only users whose secret
            # is bound to these settings and that passed an integration check.
            additional_users=tuple(AppUser(u.client_id, u.client_secret)
                                   for u in usable_app_users(org)),
            **common,
        )
    connection = Connection(
        deployment=ClientDeployment.ON_PREMISE, username=org.onprem_username,
        password=org.onprem_password, **common,
    )
    # The highest Web API version the last integration check found (CRM 2016 8.0 and 8.1
    # have no v8.2).
    if org.crm_api_version:
        connection = with_api_version(connection, org.crm_api_version)
    return connection


def client_for(tenant: Tenant, *, clock: Clock | None = None,
               simulate_writes: bool = False) -> CrmApi:
    """``simulate_writes``: a dry run's client, which reads the CRM but never writes to it."""
    org = OrgSettings.objects.filter(tenant=tenant).first()
    if org is None:
        raise NotConfigured(_("Save the organisation settings first."))
    # The protocol the last integration check detected: SOAP for CRM 2013 and 2015.
    return open_client(connection_for(org), org.crm_protocol, clock=clock,
                       simulate_writes=simulate_writes, before_send=TransactionGuard())
