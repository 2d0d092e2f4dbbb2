"""`DataverseClient`: one organisation, one session, every protocol helper in one object."""

from __future__ import annotations

import random
import threading
from types import TracebackType

import requests

from dynamics.accounting import RequestLog
from dynamics.auth import translate_network_error
from dynamics.bulk import BulkApi
from dynamics.changes import ChangesApi
from dynamics.clock import Clock
from dynamics.connection import Connection
from dynamics.metadata import MetadataApi
from dynamics.security import SecurityApi
from dynamics.simulate import SimulatedWrite, SimulatedWritesTransport
from dynamics.transport import BeforeSend, Transport


class DataverseClient(BulkApi, ChangesApi, MetadataApi, SecurityApi):
    """Dataverse / Dynamics 365 Web API client for one connection.

    Usage: `with DataverseClient(conn) as crm: crm.who_am_i()`. `crm.log` holds the request
    accounting; `crm.capabilities` the detected version and features.
    """

    def __init__(self, connection: Connection, *, clock: Clock | None = None,
                 request_log: RequestLog | None = None,
                 rng: random.Random | None = None, simulate_writes: bool = False,
                 before_send: BeforeSend | None = None) -> None:
        # A dry run reads the CRM but answers its own writes (dynamics.simulate).
        transport_class = SimulatedWritesTransport if simulate_writes else Transport
        super().__init__(transport_class(connection, clock=clock, request_log=request_log,
                                         rng=rng, before_send=before_send))
        self._capabilities = None
        self._caps_lock = threading.Lock()

    @property
    def log(self) -> RequestLog:
        return self.transport.log

    @property
    def simulated_writes(self) -> list[SimulatedWrite]:
        """The writes a dry-run client answered itself (empty for a real client)."""
        transport = self.transport
        return transport.writes if isinstance(transport, SimulatedWritesTransport) else []

    def probe(self) -> int:
        """Unauthenticated GET of the Web API root: proves the host answers and its
        certificate is trusted, before any credentials are involved. Returns the status
        (401 is the normal answer); raises ConnectionFailed, RequestTimeout or
        CertificateError. Never retried: a check wants the first answer."""
        conn = self.transport.connection
        if self.transport.before_send is not None:
            self.transport.before_send("GET service root")
        with requests.Session() as session:
            session.trust_env = False  # REQUESTS_CA_BUNDLE must not replace the bundle
            try:
                resp = session.get(conn.api_url, verify=self.transport.verify,
                                   timeout=(conn.connect_timeout, min(conn.read_timeout, 30.0)),
                                   allow_redirects=False)
            except requests.RequestException as exc:
                raise translate_network_error(exc, "GET service root") from None
        return resp.status_code

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> DataverseClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
