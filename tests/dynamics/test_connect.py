"""Sign-in, TLS trust, versions and retries against the emulator over real HTTPS."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from dynamics import Connection, DataverseClient, FakeClock, errors
from dynamics.auth import BearerToken
from tests.dynamics.conftest import LOOPBACK, online_connection, onprem_connection


def test_it_signs_in_with_client_credentials_and_reads_the_version(
        crm: DataverseClient) -> None:
    me = crm.who_am_i()
    assert len(me.user_id) == 36 and len(me.organization_id) == 36
    caps = crm.capabilities
    assert (caps.major, caps.minor) == (9, 2)
    assert caps.bulk_messages and caps.return_representation


def test_it_reuses_the_cached_token(crm: DataverseClient) -> None:
    for _ in range(3):
        crm.who_am_i()
    assert isinstance(crm.transport.auth, BearerToken)
    assert crm.transport.auth.acquisitions == 1


def test_it_refreshes_a_token_before_it_expires(creds: Any) -> None:
    # A token expiring within 5 minutes counts as expired (msal's rule, kept on the client's
    # clock): a 360 s token is reused for 60 s and then fetched again, so an expired token
    # is never sent. The injected clock moves; nothing waits.
    server_mod = pytest.importorskip("dynamics_emulator.server")
    clock = FakeClock()
    with server_mod.EmulatorServer(token_lifetime=360) as short, \
            DataverseClient(online_connection(short, creds), clock=clock) as crm:
        crm.who_am_i()
        clock.advance(59)
        crm.who_am_i()
        auth = crm.transport.auth
        assert isinstance(auth, BearerToken) and auth.acquisitions == 1
        clock.advance(1.5)
        crm.who_am_i()
        assert auth.acquisitions == 2
        assert all(r.status == 200 for r in crm.log.records)  # never a 401
        assert clock.sleeps == []


def test_it_signs_in_with_ntlm_on_premise(onprem: DataverseClient) -> None:
    assert len(onprem.who_am_i().user_id) == 36
    caps = onprem.capabilities
    assert (caps.major, caps.minor) == (8, 2)
    assert not caps.bulk_messages and caps.return_representation
    assert not onprem.supports_bulk("contact")


def test_it_explains_a_wrong_ntlm_password(server: Any, creds: Any) -> None:
    conn = onprem_connection(server, creds, password="wrong-Pa55")
    with DataverseClient(conn) as crm, pytest.raises(errors.AuthenticationFailed) as exc:
        crm.who_am_i()
    assert "wrong-Pa55" not in str(exc.value) and exc.value.status == 401


def test_it_explains_a_wrong_client_secret(server: Any, creds: Any) -> None:
    conn = online_connection(server, creds, client_secret="not-the-secret")
    with DataverseClient(conn) as crm, pytest.raises(errors.AuthenticationFailed) as exc:
        crm.who_am_i()
    text = str(exc.value)
    assert exc.value.key == "secret_rejected"  # the application words it (crm_errors.py)
    assert text.startswith("The sign-in service rejected the client secret (AADSTS7000215)")
    assert "not-the-secret" not in text and "not-the-secret" not in repr(conn)


def test_it_explains_an_untrusted_certificate(server: Any, creds: Any) -> None:
    # Without the emulator's CA the public store applies — and REQUESTS_CA_BUNDLE is ignored.
    for conn in (online_connection(server, creds, ca_bundle=None),
                 onprem_connection(server, creds, ca_bundle=None)):
        with DataverseClient(conn) as crm, pytest.raises(errors.CertificateError) as exc:
            crm.who_am_i()
        assert "The CRM's certificate is not trusted. Add its CA to the connection's CA " \
               "bundle." in str(exc.value)


def test_it_accepts_the_ca_bundle_as_pem_text(server: Any, creds: Any) -> None:
    pem = open(server.ca_file, encoding="ascii").read()  # noqa: SIM115
    with DataverseClient(online_connection(server, creds, ca_bundle=pem)) as crm:
        assert crm.who_am_i().user_id


def test_it_names_crm_2015_as_unsupported(server: Any, creds: Any) -> None:
    conn = onprem_connection(server, creds, api_url=server.org_url("legacy2015") +
                             "/api/data/v8.0/")
    with DataverseClient(conn) as crm, pytest.raises(errors.UnsupportedVersion) as exc:
        _ = crm.capabilities
    assert "CRM 2013 and 2015 have no Web API" in str(exc.value)
    assert "Dynamics CRM 2016 (8.x) or later" in str(exc.value)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_it_retries_connection_errors_a_bounded_number_of_times() -> None:
    clock = FakeClock()
    conn = Connection(f"http://127.0.0.1:{_closed_port()}/org/api/data/v8.2/",
                      deployment="on_premise", username="D\\u", password="p",
                      max_retries=3, max_wait=5, connect_timeout=2,
                      allowed_destinations=LOOPBACK)
    with DataverseClient(conn, clock=clock) as crm, \
            pytest.raises(errors.RetriesExhausted) as exc:
        crm.who_am_i()
    assert exc.value.attempts == 4 and isinstance(exc.value, errors.PermanentError)
    assert isinstance(exc.value.last_error, errors.ConnectionFailed)
    # Exponential backoff with jitter, each wait capped by max_wait.
    assert len(clock.sleeps) == 3
    for attempt, wait in enumerate(clock.sleeps):
        assert 0.5 * min(2 ** attempt, 5) <= wait <= min(2 ** attempt, 5)
    totals = crm.log.totals()
    assert (totals.round_trips, totals.retries, totals.operations) == (4, 3, 1)
    assert totals.wait_seconds == pytest.approx(sum(clock.sleeps))


def test_it_never_retries_other_4xx(crm: DataverseClient, admin: Any) -> None:
    with pytest.raises(errors.NotFound) as exc:
        crm.get("contacts", "00000000-0000-0000-0000-000000000001")
    assert exc.value.code == "0x80040217"
    assert admin.count("GET contacts") == 1 and crm.log.totals().retries == 0


def test_it_explains_an_app_without_an_application_user(server: Any, creds: Any) -> None:
    conn = online_connection(server, creds, client_id=creds.ORPHAN_CLIENT_ID,
                             client_secret=creds.ORPHAN_CLIENT_SECRET)
    with DataverseClient(conn) as crm, pytest.raises(errors.PermanentError) as exc:
        crm.who_am_i()
    assert exc.value.status == 403 and "application user" in exc.value.explanation
