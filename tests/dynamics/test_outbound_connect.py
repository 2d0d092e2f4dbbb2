"""SPEC N8 where connections are made: the client checks every connection, connects to
the address it checked (no DNS rebinding), keeps the name for Host, SNI and certificate
checks, follows no redirect to another host, sends msal's and NTLM's requests through
the same guard, applies timeouts, and uses the operator's proxy. Real loopback listeners,
the emulator over real HTTPS, a CONNECT proxy thread."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from dynamics import Connection, DataverseClient, FakeClock, errors
from dynamics.guarded_http import GuardedSession
from dynamics.outbound import OutboundPolicy
from tests.dynamics.conftest import LOOPBACK, online_connection, onprem_connection
from tests.outbound_fixtures import (
    PUBLIC_ADDRESS,
    REFUSED_HOSTS,
    ConnectProxy,
    ConnectSpy,
    FakeDNS,
    Listener,
    Request,
    http_answer,
    tls_files,
)


def bearer_challenge(_request: Request) -> Any:
    return http_answer(401, WWW_Authenticate="Bearer authorization_uri=https://login.example/x")


def onprem(url: str, **overrides: Any) -> Connection:
    settings: dict[str, Any] = {"deployment": "on_premise", "username": "D\\u", "password": "p",
                                "max_retries": 0, "connect_timeout": 2, "read_timeout": 5}
    settings.update(overrides)
    return Connection(url, **settings)


@pytest.mark.parametrize(("host", "code"), REFUSED_HOSTS)
def test_every_class_and_spelling_is_refused_at_connect_time(
        host: str, code: str, listener: Listener, connect_spy: ConnectSpy) -> None:
    conn = onprem(f"http://{host}:{listener.port}/org/api/data/v8.2/")
    with DataverseClient(conn, clock=FakeClock()) as crm:
        with pytest.raises(errors.DestinationRefused) as exc:
            crm.who_am_i()  # Web API call with NTLM
        assert exc.value.code == code
        with pytest.raises(errors.DestinationRefused):
            crm.probe()
    assert connect_spy.addresses == [] and listener.connections == 0
    assert crm.log.totals().retries == 0  # refused for good, not retried


def test_the_allowlist_lets_a_network_through(listener: Listener) -> None:
    url = f"http://127.1:{listener.port}/org/api/data/v8.2/"
    conn = onprem(url, allowed_destinations=("127.0.0.0/8",))
    with DataverseClient(conn) as crm, pytest.raises(errors.NotFound):
        crm.who_am_i()  # the listener answered 404
    assert listener.connections == 1


def test_the_allowlist_lets_a_host_name_through(listener: Listener, fake_dns: FakeDNS) -> None:
    fake_dns.set("crm.intern.example", ["127.0.0.1"])
    url = f"http://crm.intern.example:{listener.port}/org/api/data/v8.2/"
    conn = onprem(url, allowed_destinations=("crm.intern.example",))
    with DataverseClient(conn) as crm, pytest.raises(errors.NotFound):
        crm.who_am_i()
    assert listener.connections == 1
    conn = onprem(url, allowed_destinations=("crm.other.example",))
    with DataverseClient(conn) as crm, pytest.raises(errors.DestinationRefused) as exc:
        crm.who_am_i()
    assert exc.value.resolved and exc.value.address == "127.0.0.1"
    assert listener.connections == 1


def test_a_name_with_one_internal_address_is_refused(listener: Listener, fake_dns: FakeDNS,
                                                     connect_spy: ConnectSpy) -> None:
    fake_dns.set("crm.example", [PUBLIC_ADDRESS, "127.0.0.1"])
    conn = onprem(f"http://crm.example:{listener.port}/o/api/data/v8.2/")
    with DataverseClient(conn) as crm, pytest.raises(errors.DestinationRefused):
        crm.who_am_i()
    assert connect_spy.addresses == [] and listener.connections == 0


def test_it_connects_to_the_address_it_checked_not_to_a_second_answer(
        listener: Listener, fake_dns: FakeDNS, connect_spy: ConnectSpy) -> None:
    """DNS rebinding: the name answers a harmless address to the check and the internal
    one right after. The client resolves once per connection and connects to exactly the
    address it checked; nobody else resolves the name (the system resolver does not know
    it, so a second look-up would fail)."""
    listener.answer = bearer_challenge
    fake_dns.set("crm.rebind.example", ["127.0.0.1"], ["10.0.0.7"])
    url = f"http://crm.rebind.example:{listener.port}/org/api/data/v9.2/"
    with DataverseClient(onprem(url, allowed_destinations=("127.0.0.1/32",))) as crm:
        assert crm.probe().dataverse
    assert fake_dns.lookups == ["crm.rebind.example"]
    assert connect_spy.addresses == [("127.0.0.1", listener.port)]
    assert listener.requests[0].headers["host"] == f"crm.rebind.example:{listener.port}"
    # The next connection asks again and gets the internal answer: refused, not connected.
    conn = onprem(url, allowed_destinations=("127.0.0.1/32",))
    with DataverseClient(conn) as crm, pytest.raises(errors.DestinationRefused) as exc:
        crm.probe()
    assert exc.value.address == "10.0.0.7"
    assert connect_spy.addresses == [("127.0.0.1", listener.port)]


def test_tls_keeps_the_name_for_sni_and_the_certificate(tmp_path: Path, fake_dns: FakeDNS,
                                                        connect_spy: ConnectSpy) -> None:
    files = tls_files(tmp_path, "crm.pinned.example")
    fake_dns.set("crm.pinned.example", ["127.0.0.1"])
    fake_dns.set("crm.wrong-name.example", ["127.0.0.1"])
    with Listener(answer=bearer_challenge, tls=files.server_context()) as server:
        url = f"https://crm.pinned.example:{server.port}/org/api/data/v9.2/"
        conn = onprem(url, ca_bundle=files.ca_pem, allowed_destinations=LOOPBACK)
        with DataverseClient(conn) as crm:
            probe = crm.probe()
        assert probe.dataverse and probe.certificate_trusted
        assert server.sni == ["crm.pinned.example"]
        assert server.requests[0].headers["host"] == f"crm.pinned.example:{server.port}"
        assert connect_spy.addresses[0] == ("127.0.0.1", server.port)
        # The same address under a name the certificate does not carry: verification fails.
        url = f"https://crm.wrong-name.example:{server.port}/org/api/data/v9.2/"
        conn = onprem(url, ca_bundle=files.ca_pem, allowed_destinations=LOOPBACK)
        with DataverseClient(conn) as crm, pytest.raises(errors.CertificateError):
            crm.who_am_i()


def test_redirects_to_another_host_are_not_followed(connect_spy: ConnectSpy) -> None:
    with Listener() as elsewhere, Listener() as crm_host:
        target = f"http://127.0.0.2:{elsewhere.port}/steal"
        crm_host.answer = lambda _r: http_answer(302, Location=target)
        url = f"http://127.0.0.1:{crm_host.port}/org/api/data/v8.2/"
        with DataverseClient(onprem(url, allowed_destinations=LOOPBACK)) as crm:
            with pytest.raises(errors.RedirectNotFollowed) as exc:
                crm.who_am_i()
            assert exc.value.status == 302
            assert crm.probe().status == 302
        # The session follows no cross-host redirect even when a caller asks it to (msal).
        session = GuardedSession(OutboundPolicy.from_entries(LOOPBACK), timeout=5)
        assert session.get(url, allow_redirects=True).status_code == 302
        assert elsewhere.connections == 0
        assert {port for _host, port in connect_spy.addresses} == {crm_host.port}


def test_a_same_host_redirect_is_followed_by_the_session() -> None:
    with Listener() as server:
        server.answer = lambda r: (http_answer(302, Location="/there") if "/here" in r.line
                                   else http_answer(200, b"ok"))
        session = GuardedSession(OutboundPolicy.from_entries(LOOPBACK), timeout=5)
        response = session.get(f"http://127.0.0.1:{server.port}/here")
        assert (response.status_code, response.text) == (200, "ok")


def test_msal_uses_the_guarded_session(server: Any, creds: Any, admin: Any,
                                       connect_spy: ConnectSpy) -> None:
    """The CRM is allowed, the sign-in authority (another loopback address) is not: the
    token request is refused before any connection to it."""
    conn = online_connection(server, creds, allowed_destinations=("127.0.0.1/32",),
                             authority=server.base_url.replace("127.0.0.1", "127.0.0.2"))
    with DataverseClient(conn, clock=FakeClock()) as crm, \
            pytest.raises(errors.DestinationRefused) as exc:
        crm.who_am_i()
    assert exc.value.request == "token request" and exc.value.address == "127.0.0.2"
    assert all(host != "127.0.0.2" for host, _port in connect_spy.addresses)
    assert admin.count("WhoAmI") == 0  # no token, so no Web API call either


def test_msal_follows_no_redirect_to_another_host(tmp_path: Path, fake_dns: FakeDNS) -> None:
    files = tls_files(tmp_path, "login.example")
    fake_dns.set("login.example", ["127.0.0.1"])
    with Listener() as elsewhere, Listener(tls=files.server_context()) as authority:
        authority.answer = lambda _r: http_answer(
            302, Location=f"http://127.0.0.2:{elsewhere.port}/metadata")
        conn = Connection("http://127.0.0.1:1/org/api/data/v9.2/", ca_bundle=files.ca_pem,
                          authority=f"https://login.example:{authority.port}", tenant_id="t",
                          client_id="c", client_secret="s", max_retries=0,
                          allowed_destinations=LOOPBACK)
        with DataverseClient(conn) as crm, pytest.raises(errors.PermanentError) as exc:
            crm.who_am_i()
        assert exc.value.request == "token request"
        assert authority.requests and elsewhere.connections == 0


def test_msal_token_requests_time_out(server: Any, creds: Any) -> None:
    """msal passes no timeout to an http_client of its own; the session adds one."""
    with Listener("silent") as authority:
        conn = online_connection(server, creds, authority=f"https://127.0.0.1:{authority.port}",
                                 connect_timeout=0.5, read_timeout=0.5, max_retries=0)
        started = time.monotonic()
        with DataverseClient(conn) as crm, pytest.raises(errors.RetriesExhausted) as exc:
            crm.who_am_i()
    assert isinstance(exc.value.last_error, errors.RequestTimeout)
    assert exc.value.request == "token request" and time.monotonic() - started < 4


def test_ntlm_goes_through_the_guard(server: Any, creds: Any, admin: Any,
                                     connect_spy: ConnectSpy) -> None:
    with DataverseClient(onprem_connection(server, creds), clock=FakeClock()) as crm:
        assert crm.who_am_i().user_id  # the handshake's three requests, all allowed
    handshake = len(connect_spy.addresses)
    assert handshake >= 1 and all(h == "127.0.0.1" for h, _p in connect_spy.addresses)
    with DataverseClient(onprem_connection(server, creds, allowed_destinations=()),
                         clock=FakeClock()) as crm, pytest.raises(errors.DestinationRefused):
        crm.who_am_i()
    assert len(connect_spy.addresses) == handshake


def test_the_proxy_carries_crm_and_sign_in_traffic(server: Any, creds: Any,
                                                    connect_spy: ConnectSpy) -> None:
    with ConnectProxy() as proxy:
        conn = online_connection(server, creds, proxy=proxy.url)
        with DataverseClient(conn, clock=FakeClock()) as crm:
            assert crm.who_am_i().user_id
            assert crm.probe().dataverse
    target = f"127.0.0.1:{server.base_url.rsplit(':', 1)[1]}"
    assert proxy.targets and set(proxy.targets) == {target}
    assert len(proxy.targets) >= 2  # token request, Web API call, probe
    # Every socket the client opened went to the proxy, none to the CRM directly.
    assert {a for a in connect_spy.addresses} == {("127.0.0.1", proxy.port)}


def test_through_the_proxy_the_crm_host_is_still_checked(server: Any, creds: Any,
                                                         fake_dns: FakeDNS) -> None:
    fake_dns.set("crm.behind-proxy.example", ["10.0.0.7"])
    with ConnectProxy() as proxy:
        # The proxy itself is on loopback and is the operator's: not checked. The CRM is.
        conn = online_connection(server, creds, proxy=proxy.url, allowed_destinations=())
        with DataverseClient(conn, clock=FakeClock()) as crm:
            with pytest.raises(errors.DestinationRefused) as exc:
                crm.who_am_i()
            with pytest.raises(errors.DestinationRefused):
                crm.probe()
        assert exc.value.address == "127.0.0.1"
        url = f"https://crm.behind-proxy.example:{server.base_url.rsplit(':', 1)[1]}"
        conn = online_connection(server, creds, proxy=proxy.url,
                                 api_url=f"{url}/contoso/api/data/v9.2/", authority=url)
        with DataverseClient(conn, clock=FakeClock()) as crm, \
                pytest.raises(errors.DestinationRefused) as exc:
            crm.who_am_i()
        assert exc.value.address == "10.0.0.7"
        assert proxy.targets == []


def test_a_bad_setting_fails_when_the_connection_is_built() -> None:
    with pytest.raises(ValueError, match="CIDR"):
        onprem("http://crm/org/api/data/v8.2/", allowed_destinations=("10.0.0.0/33",))
    with pytest.raises(ValueError, match="proxy"):
        onprem("http://crm/org/api/data/v8.2/", proxy="socks5://127.0.0.1:1080")
    assert "secret" not in repr(onprem("http://crm/o/api/data/v8.2/",
                                       proxy="http://user:secret@proxy:3128"))


def test_requests_without_timeout_get_the_connections(listener: Listener) -> None:
    session = GuardedSession(OutboundPolicy.from_entries(LOOPBACK), timeout=(2.0, 7.0))
    seen: list[Any] = []
    original = requests.adapters.HTTPAdapter.send

    def spy(self: Any, request: Any, **kwargs: Any) -> Any:
        seen.append(kwargs.get("timeout"))
        return original(self, request, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(requests.adapters.HTTPAdapter, "send", spy)
        session.get(f"http://127.0.0.1:{listener.port}/")
    assert seen == [(2.0, 7.0)]
