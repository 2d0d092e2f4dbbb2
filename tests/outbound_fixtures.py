"""Doors for the SPEC N8 tests: real loopback listeners, a CONNECT proxy, TLS certificates
for made-up names, a scripted DNS and a record of every socket the client opens.

- ``Listener``: a TCP server on 127.0.0.1 that answers HTTP (optionally over TLS, noting
  the SNI it was offered), sends a non-HTTP banner, or accepts and stays silent. It counts
  connections, so a test can prove that nothing reached it.
- ``ConnectProxy``: an HTTP CONNECT proxy on 127.0.0.1 that notes each target and relays.
- ``tls_files(tmp_path, "crm.example")``: a CA (PEM text) and a server certificate for the
  names given.
- ``FakeDNS``: replaces ``dynamics.outbound.resolve_host``; a name answers its scripted
  addresses (a list of answers is used one per look-up, the last one repeating). Other
  names resolve as before (``made_up_names_resolve``, which every test has).
- ``ConnectSpy``: every ``create_connection`` the client's urllib3 makes, by address.

The addresses refused by the rule, in every class and spelling the tests go through, are
in ``REFUSED_HOSTS``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import socket
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from urllib3.util import connection as urllib3_connection

from dynamics import outbound

# (host as written in a URL, refusal code). Every class of SPEC N8 and the spellings that
# hide an address: short and numeric IPv4, hex, octal, trailing dot, IPv6 that carries
# IPv4 (mapped, mapped in hex, compatible, NAT64, 6to4).
REFUSED_HOSTS: list[tuple[str, str]] = [
    ("127.0.0.1", "loopback"),
    ("127.1", "loopback"),
    ("2130706433", "loopback"),
    ("0x7f000001", "loopback"),
    ("0177.0.0.1", "loopback"),
    ("127.0.0.1.", "loopback"),
    ("[::1]", "loopback"),
    ("[::ffff:127.0.0.1]", "loopback"),
    ("[::ffff:7f00:1]", "loopback"),
    ("[::127.0.0.1]", "loopback"),
    ("[2002:7f00:1::1]", "loopback"),
    ("169.254.169.254", "link_local"),
    ("[fe80::1]", "link_local"),
    ("10.0.0.1", "private"),
    ("172.16.5.4", "private"),
    ("192.168.1.1", "private"),
    ("012.0.0.1", "private"),
    ("[fd00::1]", "private"),
    ("[64:ff9b::a00:1]", "private"),
    ("100.64.0.1", "shared"),
    ("224.0.0.1", "multicast"),
    ("[ff02::1]", "multicast"),
    ("0.0.0.0", "unspecified"),
    ("0", "unspecified"),
    ("[::]", "unspecified"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("192.0.2.10", "reserved"),
    ("[2001:db8::1]", "reserved"),
]
PUBLIC_ADDRESS = "93.184.215.14"  # any globally routable address; never connected to


Answer = tuple[int, dict[str, str], bytes]


def http_answer(status: int = 200, body: bytes = b"", **headers: str) -> Answer:
    return status, {k.replace("_", "-"): v for k, v in headers.items()}, body


@dataclass
class Request:
    line: str
    headers: dict[str, str]


class LoopbackServer:
    """A TCP server thread on 127.0.0.1 that hands each connection to ``handle`` in a
    thread of its own; a context manager that stops it."""

    def __init__(self) -> None:
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self.port = int(self._sock.getsockname()[1])
        self._stop = threading.Event()
        self._open: list[socket.socket] = []
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _addr = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._open.append(conn)
            self.accepted(conn)
            threading.Thread(target=self.handle, args=(conn,), daemon=True).start()

    def accepted(self, conn: socket.socket) -> None:
        """Called in the accepting thread, before ``handle``."""

    def handle(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._sock.close()
        for conn in self._open:
            conn.close()
        self._thread.join(timeout=2)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Listener(LoopbackServer):
    """``behaviour``: "http" (``answer(request)`` builds the reply), "banner" (a non-HTTP
    greeting, then close) or "silent" (accept, never answer)."""

    def __init__(self, behaviour: str = "http", answer: Callable[[Request], Answer] | None = None,
                 tls: ssl.SSLContext | None = None) -> None:
        self.behaviour = behaviour
        self.answer = answer or (lambda _r: http_answer(404, b"not here"))
        self.tls = tls
        self.connections = 0
        self.requests: list[Request] = []
        self.sni: list[str | None] = []
        if tls is not None:
            tls.sni_callback = lambda _sock, name, _ctx: self.sni.append(name)  # type: ignore[assignment,misc]
        super().__init__()

    def accepted(self, conn: socket.socket) -> None:
        self.connections += 1

    def handle(self, conn: socket.socket) -> None:
        try:
            if self.behaviour == "silent":
                self._stop.wait()
                return
            if self.behaviour == "banner":
                conn.sendall(b"SSH-2.0-OpenSSH_9.6\r\n")
                return
            stream: Any = conn
            if self.tls is not None:
                stream = self.tls.wrap_socket(conn, server_side=True)
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = stream.recv(4096)
                if not chunk:
                    return
                head += chunk
            text, _, rest = head.partition(b"\r\n\r\n")
            line, *header_lines = text.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip()
                       for k, _, v in (h.partition(":") for h in header_lines)}
            length = int(headers.get("content-length", "0") or 0)
            while len(rest) < length:
                rest += stream.recv(4096)
            request = Request(line, headers)
            self.requests.append(request)
            status, extra, body = self.answer(request)
            reply = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close",
                     *(f"{k}: {v}" for k, v in extra.items())]
            stream.sendall(("\r\n".join(reply) + "\r\n\r\n").encode("latin-1") + body)
        except (OSError, ssl.SSLError):
            return
        finally:
            conn.close()


class ConnectProxy(LoopbackServer):
    """A forwarding HTTP CONNECT proxy on loopback; ``targets`` lists "host:port" asked for."""

    def __init__(self) -> None:
        self.targets: list[str] = []
        super().__init__()
        self.url = f"http://127.0.0.1:{self.port}"

    def handle(self, client: socket.socket) -> None:
        with client:
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = client.recv(4096)
                if not chunk:
                    return
                head += chunk
            method, target, _version = head.split(b"\r\n", 1)[0].decode().split(" ")
            self.targets.append(target)
            if method != "CONNECT":
                client.sendall(b"HTTP/1.1 405 CONNECT only\r\nContent-Length: 0\r\n\r\n")
                return
            host, _, port = target.rpartition(":")
            try:
                upstream = socket.create_connection((host.strip("[]"), int(port)), timeout=5)
            except OSError:
                client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
                return
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            with upstream:
                pump = threading.Thread(target=_pipe, args=(upstream, client), daemon=True)
                pump.start()
                _pipe(client, upstream)
                pump.join(timeout=5)

def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


@dataclass
class TlsFiles:
    ca_pem: str
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _san(name: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def tls_files(folder: Path, *names: str) -> TlsFiles:
    """A throw-away CA and a server certificate for ``names``, signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "N8 test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name)
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(
              digital_signature=True, key_cert_sign=True, crl_sign=True,
              content_commitment=False, key_encipherment=False, data_encipherment=False,
              key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                         critical=False)
          .sign(ca_key, hashes.SHA256()))
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([_san(n) for n in names]),
                           critical=False)
            .add_extension(x509.ExtendedKeyUsage([x509.ExtendedKeyUsageOID.SERVER_AUTH]),
                           critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))
    cert_file, key_file = folder / "server.pem", folder / "server.key"
    cert_file.write_bytes(leaf.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return TlsFiles(ca.public_bytes(serialization.Encoding.PEM).decode(), cert_file, key_file)


@dataclass
class FakeDNS:
    answers: dict[str, list[list[str]]] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    fallback: outbound.Resolver = outbound.system_resolver

    def set(self, name: str, *answers: list[str]) -> None:
        """One answer per look-up in order; the last one repeats."""
        self.answers[name] = list(answers)

    def resolve(self, host: str, port: int | None, timeout: float | None
                ) -> list[outbound.IPAddress]:
        self.lookups.append(host)
        script = self.answers.get(host)
        if script is None:
            return self.fallback(host, port, timeout)
        answer = script.pop(0) if len(script) > 1 else script[0]
        if not answer:
            raise socket.gaierror(socket.EAI_NONAME, f"{host}: no such name")
        return [ipaddress.ip_address(a) for a in answer]


@pytest.fixture
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> FakeDNS:
    dns = FakeDNS(fallback=outbound.resolve_host)
    monkeypatch.setattr(outbound, "resolve_host", dns.resolve)
    return dns


# The test environment has no DNS. Names the suite makes up (contoso.crm4.dynamics.com,
# login.microsoftonline.com, crmserver …) resolve here to this public address, which
# refuses every connection: like a real CRM that is down. So saving them passes SPEC N8
# as it would in production, and a job that tries them fails fast, as before.
MADE_UP_NAMES_ADDRESS = "192.0.32.10"


@pytest.fixture(autouse=True)
def made_up_names_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    """Autouse wherever imported (tests/conftest.py: every test)."""
    def resolve(host: str, port: int | None, timeout: float | None
                ) -> list[outbound.IPAddress]:
        try:
            return outbound.system_resolver(host, port, timeout)
        except socket.gaierror:
            return [ipaddress.ip_address(MADE_UP_NAMES_ADDRESS)]

    real = urllib3_connection.create_connection

    def connect(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        if address[0] == MADE_UP_NAMES_ADDRESS:
            raise ConnectionRefusedError(111, "Connection refused (a made-up name)")
        return real(address, *args, **kwargs)

    monkeypatch.setattr(outbound, "resolve_host", resolve)
    monkeypatch.setattr(urllib3_connection, "create_connection", connect)


@dataclass
class ConnectSpy:
    addresses: list[tuple[str, int]] = field(default_factory=list)


@pytest.fixture
def connect_spy(monkeypatch: pytest.MonkeyPatch) -> ConnectSpy:
    spy = ConnectSpy()
    real = urllib3_connection.create_connection

    def record(address: tuple[str, int], *args: Any, **kwargs: Any) -> socket.socket:
        spy.addresses.append(address)
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3_connection, "create_connection", record)
    return spy


@pytest.fixture
def listener() -> Iterator[Listener]:
    with Listener() as server:
        yield server
