"""Organisations created at run time (`POST /_admin/orgs`, `--orgs N`), over real HTTPS.

An emulator of their own: the created organisations outlive `reset()`, and the shared
session emulator must keep its three.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from dynamics_emulator import EmulatorServer
from dynamics_emulator.seed import CLIENT_ID, CLIENT_SECRET
from dynamics_emulator.testing import trusted_session, web_api_session

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    with EmulatorServer(seed="demo") as emu:
        yield emu


def _create(server: EmulatorServer, body: Any) -> requests.Response:
    return trusted_session(server).post(server.base_url + "/_admin/orgs", json=body, timeout=30)


def _contacts(api: requests.Session, web: str, flt: str = "") -> list[dict[str, Any]]:
    query = "contacts?$select=lastname,emailaddress1" + (f"&$filter={flt}" if flt else "")
    resp = api.get(web + query, headers={"Prefer": "odata.maxpagesize=5000"}, timeout=30)
    resp.raise_for_status()
    return list(resp.json()["value"])


def test_a_created_org_has_its_own_records_and_tokens(server: EmulatorServer) -> None:
    made = _create(server, {"name": "t07", "like": "contoso", "seed": "empty"})
    assert made.status_code == 201, made.text
    info = made.json()
    assert info["web_api"] == server.web_api_url("t07")
    assert info["auth"]["client_id"] == CLIENT_ID
    assert info["auth"]["scope"].endswith("/t07/.default")
    listed = trusted_session(server).get(server.base_url + "/_admin/orgs", timeout=10).json()
    assert "t07" in [o["name"] for o in listed["orgs"]]

    # The same app registration gets a token for the new organisation's URL.
    api, web = web_api_session(server, "t07"), server.web_api_url("t07")
    contoso, contoso_web = web_api_session(server), server.web_api_url("contoso")
    who = api.get(web + "WhoAmI", timeout=10).json()
    assert who["OrganizationId"] == info["organization_id"]
    assert (
        who["OrganizationId"]
        != contoso.get(contoso_web + "WhoAmI", timeout=10).json()["OrganizationId"]
    )

    # Empty seed: none of contoso's demo contacts; a write stays in its organisation.
    assert _contacts(api, web) == []
    assert (
        contoso.post(
            contoso_web + "contacts",
            json={"lastname": "Only in contoso", "emailaddress1": "c@contoso.example"},
            timeout=10,
        ).status_code
        == 204
    )
    created = api.post(
        web + "contacts",
        json={"lastname": "Only in t07", "emailaddress1": "x@t07.example"},
        timeout=10,
    )
    assert created.status_code == 204
    assert [c["lastname"] for c in _contacts(api, web)] == ["Only in t07"]
    assert _contacts(contoso, contoso_web, "emailaddress1 eq 'x@t07.example'") == []
    assert _contacts(api, web, "emailaddress1 eq 'c@contoso.example'") == []
    record = created.headers["OData-EntityId"].rsplit("/", 1)[1]
    assert contoso.get(contoso_web + record, timeout=10).status_code == 404
    assert api.get(web + record, timeout=10).status_code == 200


def test_tokens_are_valid_for_their_own_org_only(server: EmulatorServer) -> None:
    assert _create(server, {"name": "t08"}).status_code == 201  # like contoso, empty
    t08 = web_api_session(server, "t08")
    resp = t08.get(server.web_api_url("contoso") + "WhoAmI", timeout=10)
    assert resp.status_code == 401 and "/contoso/" in resp.headers["WWW-Authenticate"]
    contoso = web_api_session(server)
    resp = contoso.get(server.web_api_url("t08") + "WhoAmI", timeout=10)
    assert resp.status_code == 401 and "/t08/" in resp.headers["WWW-Authenticate"]


def test_demo_seed_and_request_counters_per_org(server: EmulatorServer) -> None:
    assert _create(server, {"name": "t09", "like": "contoso", "seed": "demo"}).status_code == 201
    api, web = web_api_session(server, "t09"), server.web_api_url("t09")
    contoso = web_api_session(server)
    admin = trusted_session(server)
    admin.post(server.base_url + "/_admin/reset?org=contoso", timeout=30).raise_for_status()
    same = "contacts?$select=emailaddress1&$orderby=emailaddress1&$top=5"
    # The demo seed is built from the org's name: same shape, its own records and ids.
    assert len(_contacts(api, web)) == len(_contacts(contoso, server.web_api_url("contoso")))
    assert (
        api.get(web + same, timeout=10).json()["value"]
        != contoso.get(server.web_api_url("contoso") + same, timeout=10).json()["value"]
    )
    counters = trusted_session(server).get(server.base_url + "/_admin/counters", timeout=10)
    assert counters.json().get("t09 GET contacts", 0) >= 2


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"name": "contoso"}, "exists already"),
        ({"name": "t10", "like": "nowhere"}, "unknown template 'nowhere'"),
        ({"name": "t10", "like": "fabrikam"}, "unknown template 'fabrikam'"),  # on-premise: NTLM
        ({"name": "t10", "seed": "lots"}, "unknown seed 'lots'"),
        ({"name": "T10"}, "invalid name"),
        ({"name": "_admin"}, "invalid name"),
        ({}, "invalid name"),
        (["t10"], "JSON object"),
    ],
)
def test_bad_input_is_a_clear_400(server: EmulatorServer, body: Any, message: str) -> None:
    resp = _create(server, body)
    assert resp.status_code == 400 and message in resp.json()["error"]
    assert "t10" not in server.emulator.orgs


def test_duplicate_and_malformed_bodies(server: EmulatorServer) -> None:
    assert _create(server, {"name": "t11"}).status_code == 201
    again = _create(server, {"name": "t11", "seed": "demo"})
    assert again.status_code == 400 and "exists already" in again.json()["error"]
    garbled = trusted_session(server).post(
        server.base_url + "/_admin/orgs", data=b"{nope", timeout=10
    )
    assert garbled.status_code == 400 and garbled.json()["error"]


def test_created_orgs_survive_a_restart_with_a_data_dir(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EmulatorServer(seed="empty", data_dir=data) as first:
        assert _create(first, {"name": "t01"}).status_code == 201
        api, web = web_api_session(first, "t01"), first.web_api_url("t01")
        assert api.post(web + "contacts", json={"lastname": "Kept"}, timeout=10).status_code == 204
    with EmulatorServer(seed="empty", data_dir=data) as second:
        api, web = web_api_session(second, "t01"), second.web_api_url("t01")
        assert [c["lastname"] for c in _contacts(api, web)] == ["Kept"]
        assert _contacts(web_api_session(second), second.web_api_url("contoso")) == []


def test_cli_orgs_option(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dynamics_emulator",
            "--port",
            "0",
            "--seed",
            "empty",
            "--orgs",
            "2",
            "--state-dir",
            str(tmp_path),
            "--server-time",
            "off",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ca = proc.stdout.readline().split(": ", 1)[1].strip()
        lines = [proc.stdout.readline() for _ in range(12)]
        base = next(line for line in lines if '"url"' in line).split('"')[3].rsplit("/", 1)[0]
        session = requests.Session()
        session.trust_env, session.verify = False, ca
        orgs = session.get(base + "/_admin/orgs", timeout=10).json()["orgs"]
        assert [o["name"] for o in orgs][-2:] == ["t00", "t01"]
        token = session.post(
            orgs[-1]["auth"]["authority"] + "/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": CLIENT_ID,
                "client_secret": CLIENT_SECRET,
                "scope": orgs[-1]["auth"]["scope"],
            },
            timeout=10,
        )
        who = session.get(
            orgs[-1]["web_api"] + "WhoAmI",
            timeout=10,
            headers={"Authorization": f"Bearer {token.json()['access_token']}"},
        )
        assert who.json()["OrganizationId"] == orgs[-1]["organization_id"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
