"""One session per connection: headers, timeouts, TLS trust, the retry policy, accounting.

This is the product's only retry policy (DESIGN "The Dataverse client"): 429 and 503 wait
for Retry-After (else exponential backoff with jitter), network errors and timeouts retry,
other 4xx never retry, and every retry is bounded, counted and waited on an injectable clock.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from dynamics.accounting import RequestLog, RequestRecord
from dynamics.auth import BearerToken, translate_network_error
from dynamics.clock import Clock, SystemClock
from dynamics.connection import Connection
from dynamics.errors import (
    AuthenticationFailed,
    CertificateError,
    DynamicsError,
    PrivilegeError,
    RedirectNotFollowed,
    RetriesExhausted,
    Throttled,
    TransientError,
    UnexpectedAnswer,
    error_from_response,
)
from dynamics.guarded_http import GuardedSession
from dynamics.lanes import BASE_HEADERS, Lane, Lanes, guarded_session
from dynamics.parallel import ParallelExecutor, Signals, on_bulk_path

log = logging.getLogger("dynamics")

BACKOFF_BASE_S = 1.0


def build_query(params: Mapping[str, str | int] | None) -> str:
    """Encode OData options ourselves: `%20` for spaces, `'`, `(`, `)`, `,` and `$` kept
    readable, everything else (`&`, `+`, `#`, `=`, non-ASCII …) percent-encoded."""
    if not params:
        return ""
    parts = [f"{quote(k, safe='$@')}={quote_value(str(v))}"
             for k, v in params.items() if v is not None]
    return "&".join(parts)


_ALWAYS_SAFE = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-~"
# Byte → its encoded form, for ``str.translate``: ``quote(text, safe="'(),$*@")`` with one
# C-level pass instead of a Python call per byte (look-ups encode every address, twice).
_VALUE_TABLE = {b: chr(b) if b in _ALWAYS_SAFE or chr(b) in "'(),$*@" else f"%{b:02X}"
                for b in range(256)}


def quote_value(text: str) -> str:
    """An option's value percent-encoded as ``build_query`` does (UTF-8 bytes)."""
    return text.encode("utf-8").decode("latin-1").translate(_VALUE_TABLE)


def entity_set_of(path: str) -> str:
    """`contacts(…)/x?…` → `contacts`; used for accounting and error context only."""
    if "/api/data/" in path:
        path = path.split("/api/data/", 1)[1].split("/", 1)[-1]
    head = path.split("?", 1)[0]
    for sep in ("(", "/"):
        head = head.split(sep, 1)[0]
    return head


def parse_dop_hint(value: str | None) -> int | None:
    try:
        return int(value) if value else None
    except ValueError:
        return None


def resolve_ca_bundle(value: str | None) -> tuple[str | bool, str | None]:
    """(verify argument, temporary file to remove). PEM text is written to a private file."""
    if not value:
        return True, None
    if "-----BEGIN" in value:
        fd, path = tempfile.mkstemp(prefix="dynamics-ca-", suffix=".pem")
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(value)
        return path, path
    return value, None


# Called with "METHOD entity set" before a request leaves the process; raising stops it.
# The application uses it to refuse CRM calls made while it holds a database transaction.
BeforeSend = Callable[[str], None]


class Transport:
    def __init__(self, connection: Connection, *, clock: Clock | None = None,
                 request_log: RequestLog | None = None, rng: random.Random | None = None,
                 before_send: BeforeSend | None = None) -> None:
        self.connection = connection
        self.before_send = before_send
        self.clock: Clock = clock or SystemClock()
        self.log = request_log or RequestLog()
        self._random = rng or random.Random()  # noqa: S311 - jitter, not security
        self.verify, self._temp_ca = resolve_ca_bundle(connection.ca_bundle)
        self.timeout = (connection.connect_timeout, connection.read_timeout)
        # Every connection checked against the address rule and pinned to the checked
        # address (SPEC N8); trust_env off: this machine sets REQUESTS_CA_BUNDLE, which
        # would override verify= otherwise, and only the configured proxy is used.
        # One lane per application user (dynamics/lanes.py). The bulk path (requests the
        # parallel executor runs) goes through the least busy lane's session, which keeps
        # no affinity cookie, so the load balancer spreads it over all web servers, each
        # with its own limits; single calls use the primary user, keep the cookie and stay
        # on one server.
        self.lanes = Lanes(connection, self.verify, self.clock)
        self.auth = self.lanes.primary.auth
        self.session: GuardedSession = guarded_session(connection, self.verify)
        self.session.headers.update(BASE_HEADERS)
        self.session.auth = self.auth
        self.signals = Signals()
        # Limits are per user: each lane brings the configured maximum once more. On-premise
        # servers sign in with NTLM, whose handshake lives on one connection and whose auth
        # object is not safe to share between threads: their bulk work stays sequential.
        online = connection.deployment != "on_premise"
        self.parallel = ParallelExecutor(self.signals,
                                         connection.concurrency if online else 1,
                                         users=self.lanes.usable)
        # A bulk request sized to a quarter of the read timeout survives a slower moment.
        self.parallel.request_seconds = connection.read_timeout / 4

    @property
    def bulk_session(self) -> GuardedSession:
        """The primary user's cookie-less session."""
        return self.lanes.primary.bulk_session

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path  # nextLink / deltaLink: used verbatim, never re-encoded
        return self.connection.api_url + path.lstrip("/")

    def close(self) -> None:
        self.session.close()
        self.lanes.close()
        if self._temp_ca:
            with contextlib.suppress(OSError):
                os.unlink(self._temp_ca)
            self._temp_ca = None

    def _backoff(self, attempt: int) -> float:
        delay = BACKOFF_BASE_S * (2 ** attempt)
        return min(delay, self.connection.max_wait) * self._random.uniform(0.5, 1.0)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json_body: Any = None,
        data: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        operations: int = 1,
        accept_multipart_error: bool = False,
        accept_soap_fault: bool = False,
        label: str | None = None,
    ) -> requests.Response:
        """Send one logical call (retrying as the policy says) and return a 2xx/3xx answer.

        Errors are raised as named exceptions; `accept_multipart_error` lets `$batch` read
        the per-operation failure that Dataverse sends with a non-2xx outer status;
        `accept_soap_fault` lets the Organization Service client read a SOAP fault (HTTP 500
        with an XML body), and `label` names the table for the accounting where the URL
        cannot (every SOAP call goes to the same address).
        """
        url = self.url(path)
        query = build_query(params)
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        entity_set = label or entity_set_of(urlsplit(url).path)
        what = f"{method} {entity_set}"
        hdrs = dict(headers or {})
        if method == "GET":
            hdrs.setdefault("If-None-Match", "null")  # defeat cached expanded collections
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")

        if self.before_send is not None:
            self.before_send(what)
        attempt, waited = 0, 0.0
        # Lanes that fetched a new token for this request: a retry may go to another lane
        # (the least busy), whose token may be just as stale — each lane renews once.
        renewed: set[int] = set()
        while True:
            started = time.monotonic()
            status: int | None = None
            error: DynamicsError
            bulk = on_bulk_path()
            try:
                with self.lanes.use(bulk) as lane:
                    session = lane.bulk_session if bulk else self.session
                    resp = session.request(method, url, data=data, headers=hdrs,
                                           timeout=self.timeout, verify=self.verify,
                                           allow_redirects=False)
            except requests.RequestException as exc:
                error = translate_network_error(exc, what)
            except DynamicsError as exc:
                error = exc  # from sign-in (token endpoint), raised inside the auth hook
            else:
                status = resp.status_code
                self._observe(resp)
                content_type = resp.headers.get("Content-Type", "")
                ok = status < 400 or (
                    accept_multipart_error and content_type.startswith("multipart/")) or (
                    accept_soap_fault and status == 500 and "xml" in content_type)
                if 300 <= status < 400 and status != 304:
                    # Never followed: a redirect could lead to another address (SPEC N8).
                    error = RedirectNotFollowed(status=status, request=what)
                elif ok:
                    self._record(method, entity_set, status, started, operations, attempt,
                                 waited, lane=lane)
                    return resp
                else:
                    error = error_from_response(status, resp.content,
                                                retry_after=resp.headers.get("Retry-After"),
                                                request=what)
                    if status == 401 and not isinstance(lane.auth, BearerToken):
                        error = windows_sign_in_refused(resp, error)
            self._record(method, entity_set, status, started, operations, attempt, waited,
                         throttled=isinstance(error, Throttled), lane=lane)
            log.info("CRM %s -> %s (%s)", what, status, type(error).__name__)
            if status == 401 and isinstance(lane.auth, BearerToken) and id(lane) not in renewed:
                # A token msal still trusts was refused (revoked/expired early): the lane
                # that met it fetches a new one, once.
                lane.auth.invalidate()
                renewed.add(id(lane))
                attempt, waited = attempt + 1, 0.0
                continue
            if _cannot_sign_in(error) and self.lanes.take_out(lane, error):
                # An additional user that cannot sign in: the request was not executed, so
                # another lane sends it (the primary lane is never taken out).
                continue
            if isinstance(error, CertificateError) or not isinstance(error, TransientError):
                raise error
            if attempt >= self.connection.max_retries:
                raise RetriesExhausted(attempts=attempt + 1, last_error=error) from error
            delay = error.retry_after
            if delay is None:
                delay = self._backoff(attempt)
            elif delay > self.connection.max_wait:
                # Waiting longer than allowed would hold a worker; hand it back to the job.
                raise error
            self.clock.sleep(delay)
            attempt, waited = attempt + 1, delay

    def _observe(self, resp: requests.Response) -> None:
        """Tell the pacing what the service said: its dop hint, and any back-pressure."""
        hint = parse_dop_hint(resp.headers.get("x-ms-dop-hint"))
        if hint is not None:
            self.signals.hint_seen(hint)
        if resp.status_code in (429, 503) or resp.headers.get("Retry-After"):
            self.signals.pressure_seen()

    def _record(self, method: str, entity_set: str, status: int | None, started: float,
                operations: int, attempt: int, waited: float, *, lane: Lane,
                throttled: bool = False) -> None:
        self.log.add(RequestRecord(
            method=method, entity_set=entity_set, status=status,
            duration=time.monotonic() - started, operations=operations,
            throttled=throttled, retry=attempt > 0, waited=waited, app_user=lane.client_id))

    def get_json(self, path: str, params: Mapping[str, str | int] | None = None,
                 headers: Mapping[str, str] | None = None) -> Any:
        resp = self.request("GET", path, params=params, headers=headers)
        return parse_json(resp, f"GET {entity_set_of(path)}")


def _cannot_sign_in(error: DynamicsError) -> bool:
    """The user itself is refused (token request, 401 after a new token, no application
    user in the organisation): nothing was executed, and retrying as this user cannot help."""
    return isinstance(error, AuthenticationFailed) or (
        isinstance(error, PrivilegeError) and error.key == "not_org_member")


def parse_json(resp: requests.Response, what: str) -> Any:
    """Validate that the CRM answered JSON before using it (STYLE #11)."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        raise UnexpectedAnswer("The CRM sent an answer that is not JSON.",
                            status=resp.status_code, request=what, key="not_json") from None


def windows_sign_in_refused(resp: requests.Response, error: DynamicsError) -> DynamicsError:
    """A 401 to a Windows (NTLM) sign-in whose challenge offers neither NTLM nor Negotiate:
    the server accepts only claims-based sign-in (AD FS / OAuth, an IFD deployment), which
    the connector does not use on-premise — say so instead of "wrong password"
    (docs/organization-service.md §Authentication)."""
    offered = resp.headers.get("WWW-Authenticate", "").lower()
    if "ntlm" in offered or "negotiate" in offered:
        return error
    return AuthenticationFailed(
        "The CRM server does not offer Windows sign-in (NTLM) at this address; it asks for "
        "claims-based sign-in (AD FS / OAuth, as internet-facing deployments are set up). The "
        "connector signs in to on-premise CRM with a Windows account only, so this deployment "
        "cannot be connected as it is set up. Ask the CRM administrator whether an address "
        "with Windows authentication exists for the organisation.",
        key="windows_sign_in_not_offered", status=401,
        request=error.request)
