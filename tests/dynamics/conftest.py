"""Start the Dataverse emulator as a black-box HTTPS server on loopback.

Only this file imports `dynamics_emulator`, and only to start it and read its seeded
credentials; the client talks to it over real HTTPS like to any CRM. Until the emulator
is merged into this branch the server tests skip.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from dynamics import Connection, DataverseClient, FakeClock

# The emulator listens on loopback, which the client refuses unless allowed (SPEC N8).
LOOPBACK = ("127.0.0.0/8", "::1/128")


@pytest.fixture(scope="session")
def emulator() -> Iterator[Any]:
    server_mod = pytest.importorskip("dynamics_emulator.server",
                                     reason="emulator not merged into this branch yet")
    with server_mod.EmulatorServer() as server:
        yield server


@pytest.fixture(scope="session")
def creds() -> Any:
    return pytest.importorskip("dynamics_emulator.credentials")


@pytest.fixture
def server(emulator: Any) -> Any:
    emulator.reset()  # fresh seed data, counters and clock for every test
    return emulator


class Admin:
    """The emulator's admin endpoints (counters, clock), spoken over HTTPS."""

    def __init__(self, server: Any) -> None:
        self.base = server.base_url + "/_admin"
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = str(server.ca_file)

    def counters(self) -> dict[str, int]:
        return dict(self.session.get(f"{self.base}/counters", timeout=10).json())

    def count(self, fragment: str) -> int:
        return sum(n for key, n in self.counters().items() if fragment in key)

    def set_clock(self, offset_seconds: float) -> None:
        self.session.post(f"{self.base}/clock", json={"offset_seconds": offset_seconds},
                          timeout=10).raise_for_status()

    def post(self, path: str, body: Any = None) -> requests.Response:
        return self.session.post(f"{self.base}/{path}", json=body, timeout=10)


@pytest.fixture
def admin(server: Any) -> Admin:
    return Admin(server)


def online_connection(server: Any, creds: Any, **overrides: Any) -> Connection:
    settings: dict[str, Any] = {
        "api_url": server.web_api_url("contoso"), "deployment": "online",
        "authority": server.base_url, "tenant_id": creds.TENANT_ID,
        "client_id": creds.CLIENT_ID, "client_secret": creds.CLIENT_SECRET,
        "ca_bundle": str(server.ca_file), "connect_timeout": 5, "read_timeout": 30,
        "max_retries": 3, "max_wait": 60, "allowed_destinations": LOOPBACK}
    settings.update(overrides)
    return Connection(**settings)


def onprem_connection(server: Any, creds: Any, **overrides: Any) -> Connection:
    domain, user, password = creds.NTLM_USERS[0]
    settings: dict[str, Any] = {
        "api_url": server.web_api_url("fabrikam"), "deployment": "on_premise",
        "username": f"{domain}\\{user}", "password": password,
        "ca_bundle": str(server.ca_file), "connect_timeout": 5, "read_timeout": 30,
        "max_retries": 3, "max_wait": 60, "allowed_destinations": LOOPBACK}
    settings.update(overrides)
    return Connection(**settings)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def crm(server: Any, creds: Any, clock: FakeClock) -> Iterator[DataverseClient]:
    with DataverseClient(online_connection(server, creds), clock=clock) as client:
        yield client


@pytest.fixture
def onprem(server: Any, creds: Any, clock: FakeClock) -> Iterator[DataverseClient]:
    with DataverseClient(onprem_connection(server, creds), clock=clock) as client:
        yield client
