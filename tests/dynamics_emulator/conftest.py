"""One emulator per test session over real HTTPS on loopback; reset before every test.

Sessions use `trust_env = False` because REQUESTS_CA_BUNDLE (set on this machine)
would otherwise override `verify=<emulator CA>`.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests

from dynamics_emulator import EmulatorServer
from dynamics_emulator.testing import trusted_session, web_api_session


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed="demo") as server:
        yield server


@pytest.fixture(autouse=True)
def _reset(request: pytest.FixtureRequest) -> None:
    if "emulator" in request.fixturenames:
        server: EmulatorServer = request.getfixturevalue("emulator")
        server.reset()


@pytest.fixture
def plain(emulator: EmulatorServer) -> requests.Session:
    """A session that trusts the emulator CA but carries no credentials."""
    return trusted_session(emulator)


@pytest.fixture
def api(emulator: EmulatorServer) -> requests.Session:
    """Bearer-authenticated session for contoso (application user, mailworx Administrator)."""
    return web_api_session(emulator)


@pytest.fixture
def base(emulator: EmulatorServer) -> str:
    return emulator.web_api_url("contoso")
