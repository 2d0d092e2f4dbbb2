"""Helpers for tests that talk to the emulator over real HTTPS.

`requests` lets the REQUESTS_CA_BUNDLE environment variable override `verify=` on
sessions with `trust_env=True`, so sessions made here switch `trust_env` off.
"""

from __future__ import annotations

import requests

from dynamics_emulator.server import EmulatorServer


def trusted_session(server: EmulatorServer) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.ca_file) if server.ca_file else True
    return session


def client_credentials_token(server: EmulatorServer, org: str = "contoso",
                             client_id: str | None = None, secret: str | None = None) -> str:
    from dynamics_emulator.seed import CLIENT_ID, CLIENT_SECRET
    resp = trusted_session(server).post(server.token_url, data={
        "grant_type": "client_credentials", "client_id": client_id or CLIENT_ID,
        "client_secret": secret or CLIENT_SECRET, "scope": f"{server.org_url(org)}/.default"},
        timeout=10)
    resp.raise_for_status()
    return str(resp.json()["access_token"])


def web_api_session(server: EmulatorServer, org: str = "contoso", client_id: str | None = None,
                    secret: str | None = None) -> requests.Session:
    """A session with a bearer token and the usual OData headers."""
    session = trusted_session(server)
    token = client_credentials_token(server, org, client_id, secret)
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/json",
                            "OData-MaxVersion": "4.0", "OData-Version": "4.0"})
    return session
