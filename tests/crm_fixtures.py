"""The Dataverse emulator as the CRM of Django-side tests (a real HTTPS server on loopback).

Import the fixtures into a test package's conftest:
``from tests.crm_fixtures import emulator, crm  # noqa: F401``.
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


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed="demo") as server:
        yield server


@pytest.fixture
def crm(emulator: EmulatorServer) -> EmulatorServer:
    """The emulator, reset to its seed data, counters and clock."""
    emulator.reset()
    return emulator


def configure_tenant_for_emulator(
    tenant: Tenant, server: EmulatorServer, org: str = "contoso", **overrides: Any
) -> OrgSettings:
    """Save real organisation settings that point ``tenant`` at the emulator.

    ``overrides`` replace settings values or secrets (``client_secret``,
    ``onprem_password``), e.g. ``client_secret="wrong"`` or ``ca_bundle=""``.
    """
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
    """The emulator's admin endpoints (counters, clock, faults), spoken over HTTPS."""

    def __init__(self, server: EmulatorServer) -> None:
        self.base = server.base_url + "/_admin"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(server.ca_file)

    def counters(self) -> dict[str, int]:
        return dict(self.session.get(f"{self.base}/counters", timeout=10).json())

    def total(self) -> int:
        return sum(self.counters().values())
