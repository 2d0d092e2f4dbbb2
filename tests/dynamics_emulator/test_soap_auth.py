"""Organization Service authentication, endpoints, service protection and fault injection
over real HTTPS."""

from __future__ import annotations

from requests_ntlm import HttpNtlmAuth

from dynamics_emulator import EmulatorServer
from dynamics_emulator.testing import client_credentials_token, trusted_session
from tests.dynamics_emulator.soaputil import (
    envelope,
    execute_body,
    fault,
    ntlm_session,
    post,
    results,
    service_url,
)

WHO = execute_body("WhoAmIRequest", "WhoAmI", "")


def test_web_endpoint_without_credentials_asks_for_windows_authentication(
    emulator: EmulatorServer,
) -> None:
    resp = post(trusted_session(emulator), service_url(emulator, "legacy2013"), "Execute", WHO)
    assert resp.status_code == 401
    assert {"Negotiate", "NTLM"} <= {v.strip() for v in resp.headers["WWW-Authenticate"].split(",")}


def test_wrong_password_and_unknown_user_are_refused(emulator: EmulatorServer) -> None:
    http = trusted_session(emulator)
    http.auth = HttpNtlmAuth("FABRIKAM\\crmadmin", "wrong")
    assert post(http, service_url(emulator, "legacy2015"), "Execute", WHO).status_code == 401


def test_ntlm_user_runs_as_their_crm_user(emulator: EmulatorServer) -> None:
    admin = results(
        post(ntlm_session(emulator), service_url(emulator, "legacy2015"), "Execute", WHO)
    )
    sync = results(
        post(
            ntlm_session(emulator, ("FABRIKAM\\mwxsync", "Sync@2016!")),
            service_url(emulator, "legacy2015"),
            "Execute",
            WHO,
        )
    )
    assert admin["UserId"].text != sync["UserId"].text


def test_online_web_endpoint_takes_bearer_tokens(emulator: EmulatorServer) -> None:
    url = service_url(emulator, "contoso")
    bare = post(trusted_session(emulator), url, "Execute", WHO)
    assert bare.status_code == 401
    assert bare.headers["WWW-Authenticate"].startswith("Bearer authorization_uri=")
    http = trusted_session(emulator)
    http.headers["Authorization"] = f"Bearer {client_credentials_token(emulator)}"
    assert (
        results(post(http, url, "Execute", WHO))["OrganizationId"].text
        == emulator.emulator.orgs["contoso"].org_id
    )


def test_main_endpoint_needs_ws_trust_message_security(emulator: EmulatorServer) -> None:
    """The SDK endpoint (no /web) speaks SOAP 1.2 with WS-Security; plain messages fail the
    way WCF fails them: 415 for SOAP 1.1, a security fault for SOAP 1.2."""
    url = service_url(emulator, "legacy2015", web=False)
    http = ntlm_session(emulator)
    soap11 = post(http, url, "Execute", WHO)
    assert soap11.status_code == 415
    assert "application/soap+xml" in soap11.text
    soap12 = http.post(
        url,
        data=envelope(WHO).encode(),
        timeout=10,
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
    )
    assert soap12.status_code == 500
    assert "An error occurred when verifying security for the message." in soap12.text
    assert "InvalidSecurity" in soap12.text


def test_legacy_orgs_have_no_web_api_and_unknown_paths_404(emulator: EmulatorServer) -> None:
    http = ntlm_session(emulator)
    assert (
        http.get(f"{emulator.org_url('legacy2013')}/api/data/v8.0/WhoAmI", timeout=10).status_code
        == 404
    )
    wrong = http.post(service_url(emulator, "legacy2013") + "/other", data=b"", timeout=10)
    assert wrong.status_code == 404


def test_wrong_soap_action_and_broken_xml_are_faults(emulator: EmulatorServer) -> None:
    http = ntlm_session(emulator)
    url = service_url(emulator, "legacy2015")
    resp = http.post(
        url,
        data=envelope(WHO).encode(),
        timeout=10,
        headers={
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": "http://schemas.microsoft.com/xrm/2011/Contracts/Services/"
            "IOrganizationService/Create",
        },
    )
    assert "ActionNotSupported" in fault(resp)[1]
    soap12 = http.post(
        url,
        data=envelope(WHO).encode(),
        timeout=10,
        headers={"Content-Type": "application/soap+xml; charset=utf-8"},
    )
    assert soap12.status_code == 415 and "'text/xml; charset=utf-8'" in soap12.text
    broken = http.post(
        url, data=b"<s:Envelope", timeout=10, headers={"Content-Type": "text/xml; charset=utf-8"}
    )
    assert fault(broken)[0] == -2147220989


def test_service_protection_is_shared_with_the_web_api(emulator: EmulatorServer) -> None:
    """One per-user window for both endpoints of an organisation; the SOAP refusal is the
    OrganizationServiceFault with the documented code and Retry-After in ErrorDetails."""
    admin = trusted_session(emulator)
    assert (
        admin.post(
            emulator.base_url + "/_admin/limits", json={"requests": 3, "retry_after": 2}, timeout=10
        ).status_code
        == 200
    )
    http = ntlm_session(emulator)
    web_api = f"{emulator.web_api_url('fabrikam', 'v8.2')}WhoAmI"
    assert http.get(web_api, timeout=10).status_code == 200
    assert http.get(web_api, timeout=10).status_code == 200
    url = service_url(emulator, "fabrikam")
    assert post(http, url, "Execute", WHO).status_code == 200
    refused = post(http, url, "Execute", WHO)
    code, message = fault(refused)
    assert code == -2147015902  # 0x80072322
    assert message.startswith("Number of requests exceeded the limit of 3")
    assert "<c:key>Retry-After</c:key>" in refused.text and "PT2S" in refused.text
    assert http.get(web_api, timeout=10).status_code == 429


def test_fault_injection_reaches_the_soap_endpoint(emulator: EmulatorServer) -> None:
    admin = trusted_session(emulator)
    admin.post(
        emulator.base_url + "/_admin/faults",
        json={
            "fail_next": [
                {"method": "POST", "path": "Organization\\.svc/web", "count": 1, "status": 429},
                {"method": "POST", "path": "Organization\\.svc/web", "count": 1, "status": 503},
            ]
        },
        timeout=10,
    ).raise_for_status()
    http = ntlm_session(emulator)
    url = service_url(emulator, "legacy2015")
    throttled = post(http, url, "Execute", WHO)
    assert fault(throttled)[0] == -2147015902
    assert post(http, url, "Execute", WHO).status_code == 503
    assert post(http, url, "Execute", WHO).status_code == 200


def test_requests_are_counted_per_operation(emulator: EmulatorServer) -> None:
    http = ntlm_session(emulator)
    post(http, service_url(emulator, "legacy2013"), "Execute", WHO)
    counters = (
        trusted_session(emulator).get(emulator.base_url + "/_admin/counters", timeout=10).json()
    )
    assert counters["legacy2013 POST Organization.svc/web Execute(WhoAmI)"] == 1


def test_a_caller_who_is_no_user_of_the_organisation_gets_a_fault(
    emulator: EmulatorServer,
) -> None:
    from dynamics_emulator.seed import ORPHAN_CLIENT_ID, ORPHAN_CLIENT_SECRET

    http = trusted_session(emulator)
    token = client_credentials_token(emulator, "contoso", ORPHAN_CLIENT_ID, ORPHAN_CLIENT_SECRET)
    http.headers["Authorization"] = f"Bearer {token}"
    code, message = fault(post(http, service_url(emulator, "contoso"), "Execute", WHO))
    assert (code, message) == (-2147015328, "The user is not a member of the organization.")
