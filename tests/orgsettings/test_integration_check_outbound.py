"""SPEC N8: the integration check is no port scanner. Whatever is at the CRM URL or the
sign-in authority — an address mailworx does not connect to, nothing listening, a silent
port, a TLS failure, an unknown name, a server that is no CRM or no sign-in service —
the admin reads the same sentence. Real listeners and the emulator over real HTTPS."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from dynamics_emulator.server import EmulatorServer
from mailworx_crm.texts import render
from syncjobs import runner
from syncjobs.models import JobKind, JobRun, JobStatus
from tenants.models import Tenant
from tests.crm_fixtures import configure_tenant_for_emulator
from tests.outbound_fixtures import FakeDNS, Listener, Request, http_answer, tls_files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_dispatch")]


@pytest.fixture(autouse=True)
def _quick(settings: Any) -> None:
    settings.CRM_CONNECT_TIMEOUT = 1.0
    settings.CRM_READ_TIMEOUT = 1.0
    settings.CRM_MAX_RETRIES = 0


def run_check(tenant: Tenant) -> JobRun:
    run = runner.enqueue(tenant, JobKind.INTEGRATION_CHECK)
    runner.execute(run.pk)
    run.refresh_from_db()
    return run


def step(run: JobRun, key: str) -> dict[str, Any]:
    """One step with its message and hint as an English reader sees them."""
    found = next(s for s in run.result["steps"] if s["key"] == key)
    return {**found, "message": render(found["message"]), "hint": render(found["hint"])}


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def html_page(_r: Request) -> Any:
    return http_answer(200, b"<html>intranet</html>", Content_Type="text/html")


Case = Callable[[], Any]


@contextmanager
def crm_url_case(name: str, crm: EmulatorServer, settings: Any, dns: FakeDNS,
                 tmp_path: Path) -> Iterator[str]:
    """Yield the CRM URL of one case; set up whatever listens there."""
    if name == "refused by policy, a real CRM listening":
        yield crm.org_url("contoso")
        return
    if name == "nothing listening":
        yield f"https://127.0.0.1:{closed_port()}/contoso"
        return
    if name == "unknown name":
        dns.set("crm.nowhere.example", [])
        yield f"https://crm.nowhere.example:{closed_port()}/contoso"
        return
    behaviour = {"silent": "silent", "an SSH banner": "banner"}.get(name, "http")
    tls = None
    if name == "a TLS web server that is no CRM":
        tls = tls_files(tmp_path, "127.0.0.1").server_context()  # a CA nobody trusts
    with Listener(behaviour, answer=html_page, tls=tls) as server:
        scheme = "http" if name == "a plain web server that is no CRM" else "https"
        yield f"{scheme}://127.0.0.1:{server.port}/contoso"


CRM_CASES = ["refused by policy, a real CRM listening", "nothing listening", "silent",
             "an SSH banner", "a plain web server that is no CRM",
             "a TLS web server that is no CRM", "unknown name"]


def test_every_way_of_finding_no_crm_reads_the_same(tenant: Tenant, crm: EmulatorServer,
                                                     settings: Any, fake_dns: FakeDNS,
                                                     tmp_path: Path) -> None:
    answers = {}
    for name in CRM_CASES:
        with crm_url_case(name, crm, settings, fake_dns, tmp_path) as url:
            settings.CRM_ALLOWED_NETWORKS = ["127.0.0.0/8", "crm.nowhere.example"]
            configure_tenant_for_emulator(tenant, crm, crm_url=url)
            if name.startswith("refused by policy"):
                settings.CRM_ALLOWED_NETWORKS = []  # the operator withdrew the allowance
            run = run_check(tenant)
        reach = step(run, "reach")
        assert run.status == JobStatus.FAILED and reach["status"] == "failed", (name, reach)
        assert step(run, "tls")["status"] == "skipped", name
        answers[name] = (reach["message"], reach["hint"], run.error)
    assert len(set(answers.values())) == 1, answers
    message, hint, _error = answers["nothing listening"]
    assert "No Dynamics 365 / CRM Web API answered" in message
    assert "firewall" in hint and "CRM_ALLOWED_NETWORKS" in hint


def test_a_crm_with_an_untrusted_certificate_is_still_named(tenant: Tenant,
                                                            crm: EmulatorServer) -> None:
    """The one case where TLS fails and the check says so: a Dataverse answers there."""
    configure_tenant_for_emulator(tenant, crm, ca_bundle="")
    run = run_check(tenant)
    assert step(run, "reach")["status"] == "ok"
    assert step(run, "tls")["status"] == "failed"
    assert "CA certificates" in step(run, "tls")["hint"]


AUTHORITY_CASES = ["refused by policy", "nothing listening", "silent", "an SSH banner",
                   "a web server that is no sign-in service", "unknown name"]


def test_every_way_of_finding_no_sign_in_service_reads_the_same(
        tenant: Tenant, crm: EmulatorServer, settings: Any, fake_dns: FakeDNS,
        tmp_path: Path) -> None:
    files = tls_files(tmp_path, "127.0.0.1")
    assert crm.ca_file is not None
    trust = crm.ca_file.read_text() + files.ca_pem  # the web server's certificate is trusted
    answers = {}
    for name in AUTHORITY_CASES:
        behaviour = {"silent": "silent", "an SSH banner": "banner"}.get(name, "http")
        with Listener(behaviour, tls=files.server_context()) as server:
            authority = {
                "refused by policy": crm.base_url.replace("127.0.0.1", "127.0.0.2"),
                "nothing listening": f"https://127.0.0.1:{closed_port()}",
                "unknown name": "https://login.nowhere.example",
            }.get(name, f"https://127.0.0.1:{server.port}")
            fake_dns.set("login.nowhere.example", [])
            settings.CRM_ALLOWED_NETWORKS = ["127.0.0.0/8", "login.nowhere.example"]
            configure_tenant_for_emulator(tenant, crm, authority_url=authority, ca_bundle=trust)
            settings.CRM_ALLOWED_NETWORKS = ["127.0.0.1/32", "login.nowhere.example"]
            run = run_check(tenant)
        assert step(run, "reach")["status"] == "ok", name
        auth = step(run, "auth")
        assert auth["status"] == "failed", (name, auth)
        # The sentence names the authority's host the admin typed, and nothing else.
        host = urlsplit(authority).hostname or ""
        assert f"answered at {host}." in auth["message"], (name, auth)
        answers[name] = tuple(text.replace(host, "<host>") for text in (
            auth["message"], auth["hint"], run.error))
    assert len(set(answers.values())) == 1, answers
    message, hint, _error = answers["nothing listening"]
    assert "No sign-in service answered" in message and "CRM_ALLOWED_NETWORKS" in hint


def test_a_real_sign_in_service_still_explains_its_refusal(tenant: Tenant,
                                                           crm: EmulatorServer) -> None:
    configure_tenant_for_emulator(tenant, crm, client_secret="not-the-secret")
    auth = step(run_check(tenant), "auth")
    assert auth["status"] == "failed" and "client secret" in auth["message"]


def test_a_name_that_turns_inward_during_the_check_reads_the_same(
        tenant: Tenant, crm: EmulatorServer, settings: Any, fake_dns: FakeDNS) -> None:
    """Rebinding between the probe and the sign-in: the CRM answered like a CRM, then its
    name leads to a private address. Refused, and worded like every other missing CRM."""
    def ntlm_challenge(_r: Request) -> Any:
        return http_answer(401, WWW_Authenticate="NTLM")

    with Listener(answer=ntlm_challenge) as crm_host:
        settings.CRM_ALLOWED_NETWORKS = ["crm.rebind.example"]
        configure_tenant_for_emulator(
            tenant, crm, org="fabrikam", crm_url=f"http://crm.rebind.example:{crm_host.port}/org")
        settings.CRM_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        fake_dns.set("crm.rebind.example", ["127.0.0.1"], ["10.0.0.9"])
        run = run_check(tenant)
    assert step(run, "reach")["status"] == "ok"
    auth = step(run, "auth")
    assert auth["status"] == "failed"
    assert "No Dynamics 365 / CRM Web API answered" in auth["message"]
    assert crm_host.connections == 1  # the probe only
