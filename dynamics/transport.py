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
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from dynamics.accounting import RequestLog, RequestRecord
from dynamics.auth import BearerToken, make_auth, translate_network_error
from dynamics.clock import Clock, SystemClock
from dynamics.connection import Connection
from dynamics.errors import (
    CertificateError,
    DynamicsError,
    RedirectNotFollowed,
    RetriesExhausted,
    Throttled,
    TransientError,
    UnexpectedAnswer,
    error_from_response,
)
from dynamics.guarded_http import GuardedSession

log = logging.getLogger("dynamics")

BASE_HEADERS = {
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "Accept": "application/json",
}
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


def guarded_session(connection: Connection, verify: str | bool) -> GuardedSession:
    """A session for this connection's traffic: the address rule, its proxy, its timeouts."""
    return GuardedSession(connection.outbound_policy(), proxy=connection.proxy,
                          timeout=(connection.connect_timeout, connection.read_timeout),
                          verify=verify)


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
        self.session = guarded_session(connection, self.verify)
        self.session.headers.update(BASE_HEADERS)
        self.auth = make_auth(connection, self.verify, self.clock)
        self.session.auth = self.auth
        self._slots = threading.BoundedSemaphore(connection.concurrency)

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path  # nextLink / deltaLink: used verbatim, never re-encoded
        return self.connection.api_url + path.lstrip("/")

    def close(self) -> None:
        self.session.close()
        if isinstance(self.auth, BearerToken):
            self.auth.close()
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
    ) -> requests.Response:
        """Send one logical call (retrying as the policy says) and return a 2xx/3xx answer.

        Errors are raised as named exceptions; `accept_multipart_error` lets `$batch` read
        the per-operation failure that Dataverse sends with a non-2xx outer status.
        """
        url = self.url(path)
        query = build_query(params)
        if query:
            url = f"{url}{'&' if '?' in url else '?'}{query}"
        entity_set = entity_set_of(urlsplit(url).path)
        what = f"{method} {entity_set}"
        hdrs = dict(headers or {})
        if method == "GET":
            hdrs.setdefault("If-None-Match", "null")  # defeat cached expanded collections
        if json_body is not None:
            data = json.dumps(json_body).encode("utf-8")
            hdrs.setdefault("Content-Type", "application/json")

        if self.before_send is not None:
            self.before_send(what)
        attempt, waited, reauthenticated = 0, 0.0, False
        while True:
            started = time.monotonic()
            status: int | None = None
            error: DynamicsError
            try:
                with self._slots:
                    resp = self.session.request(method, url, data=data, headers=hdrs,
                                                timeout=self.timeout, verify=self.verify,
                                                allow_redirects=False)
            except requests.RequestException as exc:
                error = translate_network_error(exc, what)
            except DynamicsError as exc:
                error = exc  # from sign-in (token endpoint), raised inside the auth hook
            else:
                status = resp.status_code
                ok = status < 400 or (
                    accept_multipart_error and
                    resp.headers.get("Content-Type", "").startswith("multipart/"))
                if 300 <= status < 400 and status != 304:
                    # Never followed: a redirect could lead to another address (SPEC N8).
                    error = RedirectNotFollowed(status=status, request=what)
                elif ok:
                    self._record(method, entity_set, status, started, operations, attempt, waited)
                    return resp
                else:
                    error = error_from_response(status, resp.content,
                                                retry_after=resp.headers.get("Retry-After"),
                                                request=what)
            self._record(method, entity_set, status, started, operations, attempt, waited,
                         throttled=isinstance(error, Throttled))
            log.info("CRM %s -> %s (%s)", what, status, type(error).__name__)
            if status == 401 and isinstance(self.auth, BearerToken) and not reauthenticated:
                # A token msal still trusts was refused (revoked/expired early): fetch anew once.
                self.auth.invalidate()
                reauthenticated, attempt, waited = True, attempt + 1, 0.0
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

    def _record(self, method: str, entity_set: str, status: int | None, started: float,
                operations: int, attempt: int, waited: float, throttled: bool = False) -> None:
        self.log.add(RequestRecord(
            method=method, entity_set=entity_set, status=status,
            duration=time.monotonic() - started, operations=operations,
            throttled=throttled, retry=attempt > 0, waited=waited))

    def get_json(self, path: str, params: Mapping[str, str | int] | None = None,
                 headers: Mapping[str, str] | None = None) -> Any:
        resp = self.request("GET", path, params=params, headers=headers)
        return parse_json(resp, f"GET {entity_set_of(path)}")


def parse_json(resp: requests.Response, what: str) -> Any:
    """Validate that the CRM answered JSON before using it (STYLE #11)."""
    if not resp.content:
        return None
    try:
        return resp.json()
    except ValueError:
        raise UnexpectedAnswer("The CRM sent an answer that is not JSON.",
                            status=resp.status_code, request=what, key="not_json") from None
