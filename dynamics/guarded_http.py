"""The only HTTP session the client uses: every connection checked (SPEC N8).

``GuardedSession`` is a requests session whose adapter builds urllib3 connections that
resolve the host once, check every address with the ``OutboundPolicy``
(dynamics/outbound.py) and connect to an address they checked. The request still names
the original host: the ``Host`` header, TLS SNI and certificate hostname verification
all use the name from the URL, so pinning the address costs nothing in trust.

Where it is used: the transport's Web API calls, ``DataverseClient.probe``, msal's
discovery and token requests (``http_client``) and NTLM (its handshake re-sends through
the same adapter). Besides the address rule, the session

- never follows a redirect to another origin (scheme, host or port), whatever
  ``allow_redirects`` a caller passes (msal passes none);
- gives every request a timeout when the caller gives none (msal does not pass its own
  ``timeout`` to an ``http_client``);
- ignores the environment (``trust_env = False``: REQUESTS_CA_BUNDLE would replace the
  connection's CA bundle, HTTPS_PROXY would route CRM traffic unasked) and uses the
  operator's proxy only when one is configured. Through a proxy, the CRM host's own
  address is checked before each request, and the proxy — the operator's — connects.
"""

from __future__ import annotations

import functools
import logging
import socket
import sys
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError
from urllib3.util import connection as urllib3_connection

from dynamics.outbound import OutboundPolicy

log = logging.getLogger("dynamics")

Timeout = float | tuple[float, float]
DEFAULT_PORTS = {"http": 80, "https": 443}


class _PinnedConnectionMixin:
    """Resolve + check once per connection, then connect to a checked address."""

    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    proxy: Any
    _dns_host: str

    def __init__(self, *args: Any, outbound_policy: OutboundPolicy, **kwargs: Any) -> None:
        self.outbound_policy = outbound_policy
        super().__init__(*args, **kwargs)

    def _new_conn(self) -> socket.socket:
        if self.proxy is not None:
            # The socket goes to the operator's proxy; the adapter checked the CRM host.
            return super()._new_conn()  # type: ignore[misc]
        conn: Any = self  # an urllib3 HTTPConnection, which the mixin always extends
        timeout = self.timeout if isinstance(self.timeout, int | float) else None
        try:
            addresses = self.outbound_policy.resolve(self._dns_host, self.port, timeout)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, conn, exc) from exc
        error: Exception | None = None
        for address in addresses:
            try:
                sock = urllib3_connection.create_connection(
                    (str(address), self.port), self.timeout,
                    source_address=self.source_address, socket_options=self.socket_options)
            except TimeoutError as exc:
                error = ConnectTimeoutError(
                    conn, f"Connection to {self.host} timed out. (connect timeout="
                          f"{self.timeout})")
                error.__cause__ = exc
            except OSError as exc:
                error = NewConnectionError(
                    conn, f"Failed to establish a new connection: {exc}")
                error.__cause__ = exc
            else:
                sys.audit("http.client.connect", self, self.host, self.port)
                return sock
        assert error is not None
        raise error


class PinnedHTTPConnection(_PinnedConnectionMixin, HTTPConnection):
    pass


class PinnedHTTPSConnection(_PinnedConnectionMixin, HTTPSConnection):
    pass


class PinnedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = PinnedHTTPConnection


class PinnedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = PinnedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose pools (direct or through a proxy) make pinned connections."""

    def __init__(self, policy: OutboundPolicy, timeout: Timeout, **kwargs: Any) -> None:
        self.policy = policy
        self.default_timeout = timeout
        super().__init__(**kwargs)

    def _guard(self, manager: Any) -> Any:
        manager.pool_classes_by_scheme = {
            "http": functools.partial(PinnedHTTPConnectionPool, outbound_policy=self.policy),
            "https": functools.partial(PinnedHTTPSConnectionPool, outbound_policy=self.policy),
        }
        return manager

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False,
                         **pool_kwargs: Any) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self._guard(self.poolmanager)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        if proxy.lower().startswith("socks"):
            raise ValueError("SOCKS proxies are not supported for CRM connections")
        return self._guard(super().proxy_manager_for(proxy, **proxy_kwargs))

    def send(self, request: requests.PreparedRequest, stream: bool = False,
             timeout: Any = None, verify: bool | str = True, cert: Any = None,
             proxies: Any = None) -> requests.Response:
        if timeout is None:
            timeout = self.default_timeout
        url = request.url or ""
        if select_proxy(url, proxies or {}):
            # The proxy resolves the name itself; the rule still applies to the CRM host's
            # own answer, checked here before the request leaves.
            parts = urlsplit(url)
            try:
                self.policy.resolve(parts.hostname or "", parts.port or DEFAULT_PORTS.get(
                    parts.scheme, 443), _seconds(timeout))
            except OSError as exc:
                raise requests.exceptions.ConnectionError(
                    f"could not resolve {parts.hostname}", request=request) from exc
        return super().send(request, stream=stream, timeout=timeout, verify=verify,
                            cert=cert, proxies=proxies)


def _seconds(timeout: Any) -> float | None:
    if isinstance(timeout, tuple):
        timeout = timeout[0]
    return float(timeout) if isinstance(timeout, int | float) else None


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or DEFAULT_PORTS.get(scheme)


class GuardedSession(requests.Session):
    """A requests session for CRM and sign-in traffic; see the module docstring."""

    def __init__(self, policy: OutboundPolicy, *, timeout: Timeout,
                 proxy: str | None = None, verify: str | bool = True,
                 pool_size: int = 10) -> None:
        super().__init__()
        self.trust_env = False
        self.verify = verify
        self.timeout = timeout
        self.max_redirects = 5
        # One pooled connection per request in flight (requests' default keeps 10 and
        # drops the rest, reconnecting for every request above it).
        size = max(10, pool_size)
        adapter = GuardedAdapter(policy, timeout, pool_maxsize=size)
        self.mount("https://", adapter)
        self.mount("http://", adapter)
        self.proxies = {"http": proxy, "https": proxy} if proxy else {}

    def request(self, method: str | bytes, url: str | bytes, *args: Any,
                **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.timeout
        return super().request(method, url, *args, **kwargs)

    def get_redirect_target(self, resp: requests.Response) -> str | None:
        target = super().get_redirect_target(resp)
        if target is None:
            return None
        if _origin(urljoin(resp.url, target)) != _origin(resp.url):
            log.warning("Not following a redirect from %s to another host.",
                        urlsplit(resp.url).hostname)
            return None
        return target
