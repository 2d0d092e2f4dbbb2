"""`DataverseClient`: one organisation, one session, every protocol helper in one object."""

from __future__ import annotations

import random
import threading
import warnings
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import requests
from urllib3.exceptions import InsecureRequestWarning

from dynamics import fetchxml
from dynamics.accounting import RequestLog
from dynamics.auth import translate_network_error
from dynamics.changes import ChangesApi
from dynamics.clock import Clock
from dynamics.connection import Connection
from dynamics.journeys import JourneysConsentApi
from dynamics.metadata import MetadataApi
from dynamics.odata import record_path
from dynamics.parallel import ParallelExecutor
from dynamics.security import SecurityApi
from dynamics.simulate import SimulatedWrite, SimulatedWritesTransport
from dynamics.transport import BeforeSend, Transport, guarded_session


@dataclass(frozen=True)
class ProbeResult:
    """What the unauthenticated probe of the Web API root found."""

    status: int
    dataverse: bool  # the answer is a Dataverse Web API's (see looks_like_dataverse)
    certificate_trusted: bool  # False: only an unverified TLS handshake got this answer
    # The sign-in schemes a 401 offered, lower case ("bearer", "ntlm", "negotiate"; "adfs"
    # beside "bearer" when AD FS issues the token): they tell an Online (Entra ID token)
    # CRM from an on-premise one (Windows sign-in, or claims through AD FS).
    challenges: frozenset[str] = frozenset()


def challenge_schemes(resp: requests.Response) -> frozenset[str]:
    """The sign-in schemes of a 401 answer (requests joins repeated headers with ", ")."""
    if resp.status_code != 401:
        return frozenset()
    challenge = resp.headers.get("WWW-Authenticate", "").lower()
    schemes = {s for s in ("bearer", "ntlm", "negotiate") if s in challenge}
    if "bearer" in schemes and "/adfs/" in challenge:
        # The token comes from AD FS (its endpoints live under /adfs/): an on-premise
        # deployment with claims-based authentication (IFD), not Dynamics 365 Online.
        schemes.add("adfs")
    return frozenset(schemes)


def looks_like_dataverse(resp: requests.Response) -> bool:
    """A Dataverse Web API answers an unauthenticated GET of its root with 401 and a
    sign-in challenge (Bearer for Online and claims-based on-premise, NTLM/Negotiate for
    Windows sign-in), or — rarely — with its OData service document."""
    if resp.status_code == 401:
        challenge = resp.headers.get("WWW-Authenticate", "").lower()
        return any(scheme in challenge for scheme in ("bearer", "ntlm", "negotiate"))
    if resp.status_code == 200:
        if resp.headers.get("OData-Version"):
            return True
        try:
            body = resp.json()
        except ValueError:
            return False
        return isinstance(body, dict) and "@odata.context" in body
    return False


def probe_url(transport: Transport, url: str) -> ProbeResult:
    """Unauthenticated GET of `url` (the Web API root, or the Organization Service): does a
    CRM answer there, and is its certificate trusted? Before any credentials are involved,
    so no secret is ever sent to a host that only claims to be the CRM. Never retried: a
    check wants the first answer. Raises ConnectionFailed, RequestTimeout or
    CertificateError when no HTTP answer comes back, DestinationRefused for an address the
    client does not connect to (SPEC N8).

    When TLS fails, a second, unverified GET (still no credentials) tells an untrusted CRM
    certificate — which the admin can fix with a CA bundle — from a host that speaks no TLS
    or is no CRM; both answers are reported the same way otherwise.
    """
    if transport.before_send is not None:
        transport.before_send("GET service root")
    try:
        resp = _probe_get(transport, url, transport.verify)
    except requests.exceptions.SSLError as exc:
        error = translate_network_error(exc, "GET service root")
        try:
            resp = _probe_get(transport, url, False)
        except requests.RequestException:
            raise error from None
        return ProbeResult(resp.status_code, looks_like_dataverse(resp),
                           certificate_trusted=False, challenges=challenge_schemes(resp))
    except requests.RequestException as exc:
        raise translate_network_error(exc, "GET service root") from None
    return ProbeResult(resp.status_code, looks_like_dataverse(resp), certificate_trusted=True,
                       challenges=challenge_schemes(resp))


def _probe_get(transport: Transport, url: str, verify: str | bool) -> requests.Response:
    conn = transport.connection
    with guarded_session(conn, verify) as session, warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureRequestWarning)
        return session.get(url, allow_redirects=False,
                           timeout=(conn.connect_timeout, min(conn.read_timeout, 30.0)))


class DataverseClient(JourneysConsentApi, ChangesApi, MetadataApi, SecurityApi):
    """Dataverse / Dynamics 365 Web API client for one connection.

    Usage: `with DataverseClient(conn) as crm: crm.who_am_i()`. `crm.log` holds the request
    accounting; `crm.capabilities` the detected version and features.
    """

    protocol = "webapi"

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
    def parallel(self) -> ParallelExecutor:
        """Runs independent requests in parallel at the service's pace (dynamics/parallel.py)."""
        return self.transport.parallel

    @property
    def simulated_writes(self) -> list[SimulatedWrite]:
        """The writes a dry-run client answered itself (empty for a real client)."""
        transport = self.transport
        return transport.writes if isinstance(transport, SimulatedWritesTransport) else []

    def update_and_read(self, entity_set: str, id: str, data: dict[str, Any],
                        columns: Sequence[str]) -> dict[str, Any] | None:
        """Update (a deleted row is a 404), then the row's `columns`: from the answer where
        the CRM can return the row (8.2 and later), else one read; None in a dry run."""
        headers = {"If-Match": "*"}
        representation = self.capabilities.return_representation
        if representation:
            headers["Prefer"] = "return=representation"
        resp = self.transport.request(
            "PATCH", record_path(entity_set, id), json_body=data, headers=headers,
            params={"$select": ",".join(columns)} if representation else None)
        if isinstance(self.transport, SimulatedWritesTransport):
            return None
        body = resp.json() if representation and resp.content else None
        if isinstance(body, dict) and all(c in body for c in columns):
            return body
        return self.get(entity_set, id, select=list(columns))

    def fetch_pages(self, entity_set: str, fetch: ET.Element) -> Iterator[list[dict[str, Any]]]:
        """The rows of a FetchXML query, a page at a time (dynamics/fetchxml.py)."""
        return fetchxml.fetch_pages(self.transport, entity_set, fetch)

    def probe(self) -> ProbeResult:
        """Unauthenticated GET of the Web API root (see `probe_url`)."""
        return probe_url(self.transport, self.transport.connection.api_url)

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> DataverseClient:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()
