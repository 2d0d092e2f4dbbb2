"""Django-side tests against the Dataverse emulator over real HTTPS (no mocks).

Import into a test package's ``conftest.py`` with ``from tests.crm_fixtures import *``.

- ``emulator`` (session): the running :class:`dynamics_emulator.server.EmulatorServer`.
- ``crm_server``: the same server, reset to its seed (data, counters, clock) for the test.
- ``crm_admin``: its ``/_admin`` endpoints (request counters, records) over HTTPS.
- ``no_dispatch``: record enqueued run ids instead of sending them to the broker; the test
  runs them with ``runner.execute(run_id)``.
- ``configure_tenant_for_emulator(tenant, server, org="contoso")``: save real
  organisation settings that point the tenant at the emulator's organisation.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from orgsettings import services
from orgsettings.models import OrgSettings
from syncjobs import runner
from tenants.models import Tenant

__all__ = ["EmulatorAdmin", "configure_tenant_for_emulator", "crm_admin", "crm_server",
           "emulator", "no_dispatch"]


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    from dynamics_emulator.server import EmulatorServer

    with EmulatorServer() as server:
        yield server


@pytest.fixture
def crm_server(emulator: Any) -> Any:
    emulator.reset()
    return emulator


def configure_tenant_for_emulator(tenant: Tenant, server: Any, org: str = "contoso",
                                  **overrides: Any) -> OrgSettings:
    """Real OrgSettings for ``tenant`` pointing at the emulator's ``org`` (Online, client
    credentials, the emulator's CA as PEM text). ``overrides`` change settings fields or
    the ``client_secret``."""
    from dynamics_emulator import credentials

    secret = overrides.pop("client_secret", credentials.CLIENT_SECRET)
    values: dict[str, Any] = {
        "crm_url": f"{server.base_url}/{org}", "deployment": "online",
        "directory_tenant_id": credentials.TENANT_ID, "client_id": credentials.CLIENT_ID,
        "onprem_username": "", "authority_url": server.base_url,
        "ca_bundle": Path(server.ca_file).read_text(encoding="ascii"),
        "export_opens": True, "export_clicks": True, "export_bounces": True,
        "reaction_export_interval_minutes": 60, "write_back_unsubscribes": True,
        "reaction_mode": "absolute", "bidirectional_sync": True,
        "reactivate_deactivated": False, "sync_interval_minutes": 15, "sync_paused": False,
    }
    values.update(overrides)
    return services.save_org_settings([tenant], values, {"client_secret": secret},
                                      user=None)[0]


class EmulatorAdmin:
    """The emulator's ``/_admin`` endpoints (no auth), spoken over HTTPS."""

    def __init__(self, server: Any) -> None:
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
        self.session.patch(f"{self.base}/{org}/{entity_set}/{record_id}", json=body,
                           timeout=10).raise_for_status()


@pytest.fixture
def crm_admin(crm_server: Any) -> EmulatorAdmin:
    return EmulatorAdmin(crm_server)


@pytest.fixture
def no_dispatch(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record instead of sending to the broker; the test runs the job itself."""
    sent: list[int] = []
    monkeypatch.setattr(runner, "dispatch", sent.append)
    return sent
