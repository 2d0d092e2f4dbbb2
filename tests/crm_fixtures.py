"""Django-side tests against the Dataverse emulator over real HTTPS (no mocks).

``tests/conftest.py`` makes ``emulator`` and ``crm`` available everywhere; other fixtures
come with ``from tests.crm_fixtures import *`` in a package's conftest.

- ``emulator`` (session): the running :class:`dynamics_emulator.server.EmulatorServer`.
- ``crm`` / ``crm_server``: the same server, reset to its seed (data, counters, clock).
- ``crm_admin``: its ``/_admin`` endpoints (request counters, records) over HTTPS.
- ``configure_tenant_for_emulator(tenant, server, org="contoso", **overrides)``: save real
  organisation settings that point the tenant at the emulator's organisation.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dynamics_emulator import credentials
from dynamics_emulator.server import EmulatorServer
from orgsettings.models import Deployment, OrgSettings, ReactionMode
from orgsettings.services import save_org_settings
from tenants.models import Tenant

__all__ = ["EmulatorAdmin", "configure_tenant_for_emulator", "crm", "crm_admin", "crm_server",
           "emulator"]


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed="demo") as server:
        yield server


@pytest.fixture
def crm(emulator: EmulatorServer) -> EmulatorServer:
    """The emulator, reset to its seed data, counters and clock."""
    emulator.reset()
    return emulator


@pytest.fixture
def crm_server(crm: EmulatorServer) -> EmulatorServer:
    return crm


def configure_tenant_for_emulator(
    tenant: Tenant, server: EmulatorServer, org: str = "contoso", **overrides: Any
) -> OrgSettings:
    """Save real organisation settings that point ``tenant`` at the emulator's ``org``
    (client credentials for Online orgs, NTLM for on-premise ones; the emulator's CA as PEM
    text). ``overrides`` replace settings values or the secrets (``client_secret``,
    ``onprem_password``), e.g. ``client_secret="wrong"`` or ``ca_bundle=""``."""
    online = server.emulator.orgs[org].kind == "online"
    assert server.ca_file is not None
    values: dict[str, Any] = {
        "crm_url": server.org_url(org),
        "deployment": Deployment.ONLINE if online else Deployment.ON_PREMISE,
        "authority_url": server.base_url,
        "ca_bundle": server.ca_file.read_text(),
        "reaction_mode": ReactionMode.ABSOLUTE,
    }
    secrets: dict[str, str] = {}
    if online:
        values.update(directory_tenant_id=credentials.TENANT_ID,
                      client_id=credentials.CLIENT_ID)
        secrets["client_secret"] = credentials.CLIENT_SECRET
    else:
        domain, user, password = credentials.NTLM_USERS[0]
        values["onprem_username"] = f"{domain}\\{user}"
        secrets["onprem_password"] = password
    for key, value in overrides.items():
        (secrets if key in ("client_secret", "onprem_password") else values)[key] = value
    return save_org_settings([tenant], values, secrets, user=None)[0]


class EmulatorAdmin:
    """The emulator's ``/_admin`` endpoints (no auth), spoken over HTTPS."""

    def __init__(self, server: EmulatorServer) -> None:
        self.base = server.base_url + "/_admin"
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would override verify=
        self.session.verify = str(server.ca_file)

    def counters(self) -> dict[str, int]:
        response = self.session.get(f"{self.base}/counters", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def total(self, org: str = "contoso") -> int:
        """Requests the organisation has answered (Web API and token endpoint)."""
        return sum(n for key, n in self.counters().items() if key.startswith(f"{org} "))

    def patch(self, org: str, entity_set: str, record_id: str, body: dict[str, Any]) -> None:
        """Change a record as a CRM user would (a later ``modifiedon``)."""
        self.session.patch(f"{self.base}/{org}/{entity_set}/{record_id}", json=body,
                           timeout=10).raise_for_status()

    def associate(self, org: str, entity_set: str, record_id: str, relationship: str,
                  related_id: str) -> None:
        """Relate two records (N:N) as a CRM user would, on any organisation."""
        self.session.post(f"{self.base}/{org}/{entity_set}/{record_id}/{relationship}",
                          json={"id": related_id}, timeout=10).raise_for_status()

    def action(self, org: str, name: str, body: dict[str, Any]) -> Any:
        """A CRM user's command (e.g. DistributeCampaignActivity) on any organisation."""
        response = self.session.post(f"{self.base}/{org}/actions/{name}", json=body, timeout=10)
        response.raise_for_status()
        return response.json() if response.content else None


@pytest.fixture
def crm_admin(crm: EmulatorServer) -> EmulatorAdmin:
    return EmulatorAdmin(crm)

