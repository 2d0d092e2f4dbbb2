"""HTTP(S) front end: a threading server translating sockets to `Emulator.handle`.

HTTP/1.1 keep-alive matters: NTLM authenticates a TCP connection, and the per-connection
state dict handed to each `Request` lives as long as the handler instance.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import unquote

from dynamics_emulator.app import DOP_HINT, Emulator
from dynamics_emulator.certs import write_certificates
from dynamics_emulator.http_types import Headers, Request
from dynamics_emulator.protection import Limits
from dynamics_emulator.server_time import Profile


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def setup(self) -> None:
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus
        # delayed ACKs add ~40 ms to every keep-alive request.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if isinstance(self.request, ssl.SSLSocket):
            self.request.settimeout(30)
            self.request.do_handshake()  # in the worker thread, not the accept loop
        super().setup()
        self.conn_state: dict[str, Any] = {}

    def handle(self) -> None:
        with contextlib.suppress(ssl.SSLError, ConnectionError, TimeoutError):
            super().handle()

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        raw_path, _, query = self.path.partition("?")
        req = Request(method=self.command, path=unquote(raw_path), query_string=query,
                      headers=Headers(list(self.headers.items())), body=body,
                      scheme=self.server.scheme, connection=self.conn_state)
        resp = self.server.emulator.handle(req)
        if resp.status == 0:  # injected fault: drop the connection without a response
            self.close_connection = True
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD" and resp.body:
            self.wfile.write(resp.body)

    do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: Emulator
    scheme: str
    verbose: bool


class EmulatorServer:
    """Start/stop the emulator in this process (tests) — see README for the fixture."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, seed: str = "demo",
                 https: bool = True, token_lifetime: int = 3600,
                 state_dir: str | Path | None = None, verbose: bool = False,
                 limits: Limits | None = None, fault_seed: int = 0,
                 data_dir: str | Path | None = None,
                 server_time: str | Profile | None = None, web_servers: int = 1,
                 dop_hint: int = DOP_HINT) -> None:
        self.host, self.port, self.https = host, port, https
        # data_dir: the organisations live in SQLite files there and survive a restart
        # (persistence.py); the CA is then kept too, in the state dir (default DATA/state).
        self.data_dir = Path(data_dir) if data_dir is not None else None
        if state_dir is None and self.data_dir is not None:
            state_dir = self.data_dir / "state"
        self.state_dir = Path(state_dir or tempfile.mkdtemp(prefix="dynamics-emulator-"))
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.emulator = Emulator(seed, token_lifetime, self.state_dir, limits, fault_seed,
                                 self.data_dir, server_time, web_servers, dop_hint)
        self.ca_file: Path | None = None
        self.verbose = verbose
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> EmulatorServer:
        httpd = _Server((self.host, self.port), _Handler)
        httpd.emulator, httpd.verbose = self.emulator, self.verbose
        httpd.scheme = "https" if self.https else "http"
        if self.https:
            ca, cert, key = write_certificates(self.state_dir, [self.host, "localhost",
                                                                "127.0.0.1"],
                                               keep_ca=self.data_dir is not None)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            httpd.socket = context.wrap_socket(httpd.socket, server_side=True,
                                               do_handshake_on_connect=False)
            self.ca_file = ca
        self.port = httpd.server_address[1]
        self._httpd = httpd
        self._thread = threading.Thread(target=httpd.serve_forever, name="dynamics-emulator",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        if self._httpd is None:  # the CLI starts first to print the URLs
            self.start()
        assert self._thread is not None
        try:
            self._thread.join()
        except KeyboardInterrupt:
            self.stop()

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
            if self.data_dir is not None:
                self.emulator.close()  # another EmulatorServer may now open the dir

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- addresses and credentials -----------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"{'https' if self.https else 'http'}://{self.host}:{self.port}"

    def org_url(self, org: str = "contoso") -> str:
        return f"{self.base_url}/{org}"

    def web_api_url(self, org: str = "contoso", version: str | None = None) -> str:
        default = "v9.2" if self.emulator.orgs[org].kind == "online" else "v8.2"
        return f"{self.org_url(org)}/api/data/{version or default}/"

    @property
    def authority(self) -> str:
        from dynamics_emulator.seed import TENANT_ID
        return f"{self.base_url}/{TENANT_ID}"

    @property
    def token_url(self) -> str:
        return f"{self.authority}/oauth2/v2.0/token"

    def reset(self) -> None:
        self.emulator.reset()
        self.emulator.counters.clear()
        self.emulator.clock.reset()
        self.emulator.reset_settings()
        self.emulator.save_settings()  # --data-dir: the start values are what is kept
