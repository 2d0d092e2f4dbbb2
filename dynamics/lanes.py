"""Application users as lanes: each with its own token, bulk session and request slots.

Dataverse counts its service-protection limits per user (and per web server): requests
and combined execution time per five minutes, concurrent requests
(docs/dataverse-webapi.md §Several application users). A tenant that registers more
application users has more budget, so the transport sends each bulk-path request
through the least busy lane (fewest requests in flight; ties take turns). Single calls
stay on the primary user (lane 0) and its affinity session, so a sequence of single
calls keeps one user and one web server.

A lane whose user cannot sign in (secret refused or expired, unknown client, no
application user in the organisation) is taken out for the rest of the client's life:
the request that met the refusal was not executed, so the transport sends it through
another lane. The primary lane is never taken out — its failure is the connection's.
"""

from __future__ import annotations

import http.cookiejar
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from requests.auth import AuthBase

from dynamics.auth import BearerToken, make_auth
from dynamics.clock import Clock
from dynamics.connection import Connection
from dynamics.errors import DynamicsError
from dynamics.guarded_http import GuardedSession

log = logging.getLogger("dynamics")

BASE_HEADERS = {
    "OData-MaxVersion": "4.0",
    "OData-Version": "4.0",
    "Accept": "application/json",
}


def guarded_session(connection: Connection, verify: str | bool) -> GuardedSession:
    """A session for this connection's traffic: the address rule, its proxy, its timeouts,
    a connection pool as large as the requests it may have in flight."""
    return GuardedSession(
        connection.outbound_policy(),
        proxy=connection.proxy,
        timeout=(connection.connect_timeout, connection.read_timeout),
        verify=verify,
        pool_size=connection.concurrency,
    )


class NoCookies(http.cookiejar.DefaultCookiePolicy):
    """Accept and return no cookie: without ``ARRAffinity`` the load balancer sends each
    request to any web server (docs/dataverse-webapi.md §Web servers)."""

    def set_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False

    def return_ok(self, cookie: http.cookiejar.Cookie, request: Any) -> bool:
        return False


@dataclass
class Lane:
    index: int  # 0: the connection's own (primary) user
    client_id: str  # who the lane signs in as (on-premise: the domain user)
    auth: AuthBase
    bulk_session: GuardedSession  # no affinity cookie: spreads over the web servers
    slots: threading.BoundedSemaphore  # the per-user share of concurrent requests
    in_flight: int = 0
    failure: DynamicsError | None = None  # why the lane was taken out, if it was

    @property
    def primary(self) -> bool:
        return self.index == 0


def _bulk_session(connection: Connection, verify: str | bool, auth: AuthBase) -> GuardedSession:
    session = guarded_session(connection, verify)
    session.headers.update(BASE_HEADERS)
    session.auth = auth
    session.cookies.set_policy(NoCookies())
    return session


class Lanes:
    """The connection's application users; thread-safe."""

    def __init__(self, connection: Connection, verify: str | bool, clock: Clock) -> None:
        self._lock = threading.Lock()
        self._turn = 0
        primary = make_auth(connection, verify, clock)
        self.lanes = [
            Lane(
                0,
                connection.client_id or connection.username,
                primary,
                _bulk_session(connection, verify, primary),
                threading.BoundedSemaphore(connection.concurrency),
            )
        ]
        for user in connection.additional_users:
            own = replace(
                connection,
                client_id=user.client_id,
                client_secret=user.client_secret,
                additional_users=(),
            )
            auth = make_auth(own, verify, clock)
            self.lanes.append(
                Lane(
                    len(self.lanes),
                    user.client_id,
                    auth,
                    _bulk_session(own, verify, auth),
                    threading.BoundedSemaphore(connection.concurrency),
                )
            )

    @property
    def primary(self) -> Lane:
        return self.lanes[0]

    def usable(self) -> int:
        """Lanes still in use: the executor's ceiling grows with them."""
        with self._lock:
            return sum(1 for lane in self.lanes if lane.failure is None)

    @property
    def failures(self) -> dict[str, DynamicsError]:
        """Client id → why that user's lane was taken out."""
        with self._lock:
            return {lane.client_id: lane.failure for lane in self.lanes if lane.failure is not None}

    def _take(self, bulk: bool) -> Lane:
        with self._lock:
            if bulk:
                usable = [lane for lane in self.lanes if lane.failure is None]
                least = min(lane.in_flight for lane in usable)
                idle = [lane for lane in usable if lane.in_flight == least]
                lane = idle[self._turn % len(idle)]
                self._turn += 1
            else:
                lane = self.lanes[0]
            lane.in_flight += 1
            return lane

    @contextmanager
    def use(self, bulk: bool) -> Iterator[Lane]:
        """A lane for one attempt: the least busy one on the bulk path, else the primary;
        the lane's slot is held while the request is in flight."""
        lane = self._take(bulk)
        try:
            with lane.slots:
                yield lane
        finally:
            with self._lock:
                lane.in_flight -= 1

    def take_out(self, lane: Lane, error: DynamicsError) -> bool:
        """Stop using ``lane`` after its user could not sign in; False for the primary lane
        (the caller raises the error then). The error is kept, naming the user."""
        if lane.primary:
            return False
        with self._lock:
            if lane.failure is None:
                error.params.setdefault("application_user", lane.client_id)
                lane.failure = error
                log.warning(
                    "CRM application user %s taken out of the bulk path: %s",
                    lane.client_id,
                    error.key,
                )
        return True

    def close(self) -> None:
        for lane in self.lanes:
            lane.bulk_session.close()
            if isinstance(lane.auth, BearerToken):
                lane.auth.close()
