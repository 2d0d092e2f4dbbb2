"""Client credentials (incl. msal), token scoping/expiry, 401 challenge, NTLM for on-prem."""

from __future__ import annotations

import msal
import pytest
import requests
from requests_ntlm import HttpNtlmAuth

from dynamics_emulator import EmulatorServer
from dynamics_emulator.credentials import (
    CLIENT_ID,
    CLIENT_SECRET,
    ORPHAN_CLIENT_ID,
    ORPHAN_CLIENT_SECRET,
    TENANT_ID,
)
from dynamics_emulator.testing import trusted_session


def _token_request(emulator: EmulatorServer, plain: requests.Session, **overrides: str
                   ) -> requests.Response:
    data = {"grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "scope": f"{emulator.org_url('contoso')}/.default"}
    data.update(overrides)
    return plain.post(emulator.token_url, data=data, timeout=10)


def test_msal_confidential_client_gets_a_token_that_the_web_api_accepts(
        emulator: EmulatorServer) -> None:
    http = trusted_session(emulator)
    app = msal.ConfidentialClientApplication(
        CLIENT_ID, client_credential=CLIENT_SECRET,
        authority=f"{emulator.base_url}/{TENANT_ID}", validate_authority=False, http_client=http)
    result = app.acquire_token_for_client(scopes=[emulator.org_url("contoso") + "/.default"])
    assert "access_token" in result, result
    resp = http.get(emulator.web_api_url() + "WhoAmI",
                    headers={"Authorization": f"Bearer {result['access_token']}"}, timeout=10)
    assert resp.status_code == 200
    assert resp.json()["OrganizationId"] == emulator.emulator.orgs["contoso"].org_id


def test_openid_configuration_names_the_token_endpoint(emulator: EmulatorServer,
                                                      plain: requests.Session) -> None:
    doc = plain.get(f"{emulator.authority}/v2.0/.well-known/openid-configuration",
                    timeout=10).json()
    assert doc["token_endpoint"] == emulator.token_url


def test_wrong_secret_gives_aadsts7000215(emulator: EmulatorServer,
                                          plain: requests.Session) -> None:
    resp = _token_request(emulator, plain, client_secret="nope")
    assert resp.status_code == 401
    body = resp.json()
    assert body["error"] == "invalid_client"
    assert body["error_codes"] == [7000215]
    assert body["error_description"].startswith("AADSTS7000215:")


def test_unknown_client_gives_aadsts700016(emulator: EmulatorServer,
                                           plain: requests.Session) -> None:
    resp = _token_request(emulator, plain, client_id="00000000-0000-0000-0000-000000000000")
    assert resp.status_code == 400
    assert resp.json()["error"] == "unauthorized_client"
    assert resp.json()["error_codes"] == [700016]


def test_scope_for_unknown_resource_is_refused(emulator: EmulatorServer,
                                               plain: requests.Session) -> None:
    resp = _token_request(emulator, plain, scope="https://elsewhere.example/.default")
    assert resp.status_code == 400
    assert resp.json()["error_codes"] == [500011]


def test_request_without_token_gets_401_with_bearer_challenge(
        emulator: EmulatorServer, plain: requests.Session, base: str) -> None:
    resp = plain.get(base + "WhoAmI", timeout=10)
    assert resp.status_code == 401
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer authorization_uri=")
    assert TENANT_ID in challenge


def test_tampered_token_is_rejected(api: requests.Session, base: str) -> None:
    token = api.headers["Authorization"]
    api.headers["Authorization"] = str(token)[:-4] + "AAAA"
    assert api.get(base + "WhoAmI", timeout=10).status_code == 401


def test_application_user_missing_in_org_gives_403(emulator: EmulatorServer,
                                                   plain: requests.Session, base: str) -> None:
    token = _token_request(emulator, plain, client_id=ORPHAN_CLIENT_ID,
                           client_secret=ORPHAN_CLIENT_SECRET).json()["access_token"]
    resp = plain.get(base + "WhoAmI", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert resp.status_code == 403
    assert resp.json()["error"]["code"] == "0x80072560"


def test_token_expires_and_a_new_one_works() -> None:
    with EmulatorServer(seed="empty", token_lifetime=60) as short:
        http = trusted_session(short)
        token = _token_request(short, http).json()
        assert token["expires_in"] == 60
        headers = {"Authorization": f"Bearer {token['access_token']}"}
        assert http.get(short.web_api_url() + "WhoAmI", headers=headers,
                        timeout=10).status_code == 200
        short.emulator.clock.set_offset(61)  # the emulator's clock moves; nothing waits
        assert http.get(short.web_api_url() + "WhoAmI", headers=headers,
                        timeout=10).status_code == 401
        fresh = _token_request(short, http).json()["access_token"]
        assert http.get(short.web_api_url() + "WhoAmI",
                        headers={"Authorization": f"Bearer {fresh}"}, timeout=10).status_code == 200


def test_ntlm_authenticates_the_on_premise_org(emulator: EmulatorServer) -> None:
    http = trusted_session(emulator)
    http.auth = HttpNtlmAuth("FABRIKAM\\crmadmin", "Pass@word1")
    resp = http.get(emulator.web_api_url("fabrikam") + "WhoAmI()", timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.json()["OrganizationId"] == emulator.emulator.orgs["fabrikam"].org_id
    # Same keep-alive connection: no new handshake needed.
    assert http.get(emulator.web_api_url("fabrikam") + "RetrieveVersion()",
                    timeout=10).json()["Version"].startswith("8.2.")


def test_ntlm_wrong_password_is_refused(emulator: EmulatorServer) -> None:
    http = trusted_session(emulator)
    http.auth = HttpNtlmAuth("FABRIKAM\\crmadmin", "wrong")
    assert http.get(emulator.web_api_url("fabrikam") + "WhoAmI()", timeout=10).status_code == 401


def test_on_premise_org_without_credentials_advertises_ntlm(emulator: EmulatorServer,
                                                            plain: requests.Session) -> None:
    resp = plain.get(emulator.web_api_url("fabrikam") + "WhoAmI()", timeout=10)
    assert resp.status_code == 401
    assert "NTLM" in resp.headers["WWW-Authenticate"]


def test_bearer_token_is_not_valid_on_another_org(emulator: EmulatorServer,
                                                  api: requests.Session) -> None:
    resp = api.get(emulator.web_api_url("fabrikam") + "WhoAmI()", timeout=10)
    assert resp.status_code == 401


@pytest.mark.parametrize("path", ["api/data/v8.0/", "api/data/v7.0/WhoAmI"])
def test_legacy_2015_org_has_no_web_api(emulator: EmulatorServer, path: str) -> None:
    http = trusted_session(emulator)
    http.auth = HttpNtlmAuth("FABRIKAM\\crmadmin", "Pass@word1")
    assert http.get(f"{emulator.org_url('legacy2015')}/{path}", timeout=10).status_code == 404


def test_an_unknown_organisation_asks_for_a_token_that_entra_refuses(
        emulator: EmulatorServer, plain: requests.Session) -> None:
    """docs/dataverse-webapi.md §Sign-in: a misspelt organisation still gets a Bearer
    challenge (from the multi-tenant authority, with no resource of its own), and the
    token service knows no resource principal for it (AADSTS500011)."""
    resp = plain.get(f"{emulator.base_url}/contosso/api/data/v9.2/WhoAmI", timeout=10)
    assert resp.status_code == 401
    challenge = resp.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer authorization_uri=") and "/common/" in challenge
    assert "resource_id" not in challenge and TENANT_ID not in challenge
    token = _token_request(emulator, plain, scope=f"{emulator.base_url}/contosso/.default")
    assert token.status_code == 400
    assert token.json()["error"] == "invalid_resource"
    assert token.json()["error_codes"] == [500011]
