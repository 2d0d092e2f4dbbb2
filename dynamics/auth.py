"""Sign-in: OAuth2 client credentials through msal (Online) or NTLM (on-premise).

msal gets its own session (`http_client`) with the connection's CA bundle, the address
rule, proxy and timeouts of dynamics/guarded_http.py, so the per-connection trust and
SPEC N8 apply to the authority's discovery and token endpoints too. msal's token cache
answers repeated calls and treats a token that expires within five minutes as
expired. The same five-minute margin is kept on the transport's injectable clock
(dynamics/clock.py): when it has passed, the cached token is dropped, so a token is
renewed before it expires whatever msal's own (wall) clock says, and tests move time
instead of waiting.
"""

from __future__ import annotations

import threading
from typing import Any

import msal
import requests
from requests.auth import AuthBase
from requests_ntlm import HttpNtlmAuth

from dynamics.clock import Clock, SystemClock
from dynamics.connection import Connection
from dynamics.errors import (
    AuthenticationFailed,
    CertificateError,
    ConnectionFailed,
    DestinationRefused,
    DynamicsError,
    RequestTimeout,
    ServiceUnavailable,
    Throttled,
    parse_retry_after,
)
from dynamics.guarded_http import GuardedSession

# msal counts a token that expires within five minutes as expired; so do we.
REFRESH_MARGIN_S = 300.0

# Entra ID error codes worth their own cause (AADSTS…, docs/dataverse-webapi.md §Sign-in):
# (key, English explanation for logs).
_AAD_CAUSES = {
    "AADSTS7000215": ("secret_rejected", "The sign-in service rejected the client secret "
                      "(AADSTS7000215): use the secret's value, not its id."),
    "AADSTS7000222": ("secret_expired", "The client secret has expired (AADSTS7000222)."),
    "AADSTS700016": ("unknown_client", "The client id is not known in this directory "
                     "(AADSTS700016)."),
    "AADSTS90002": ("unknown_directory", "The directory (tenant) id was not found "
                    "(AADSTS90002)."),
    "AADSTS500011": ("unknown_resource", "The sign-in service knows no CRM organisation at "
                     "this address (AADSTS500011)."),
}


def _aad_error(result: dict[str, Any], scope: str) -> AuthenticationFailed:
    """The named cause of a refused token request; ``params`` carry the OAuth error and
    the organisation the token was asked for (never a secret)."""
    description = str(result.get("error_description") or "")
    error = str(result.get("error") or "")
    resource = scope.removesuffix("/.default").rstrip("/")
    params = {"error": error or "unknown error", "resource": resource}
    for code, (key, words) in _AAD_CAUSES.items():
        if code in description:
            return AuthenticationFailed(words, code=error or None, request="token request",
                                        key=key, params=params)
    if error == "invalid_client":
        return AuthenticationFailed(
            "The sign-in service rejected the client credentials (invalid_client).",
            code=error, request="token request", key="invalid_client", params=params)
    return AuthenticationFailed(
        f"The sign-in service refused to issue a token ({params['error']}).",
        code=error or None, request="token request", key="token_refused", params=params)


def translate_network_error(exc: requests.RequestException, what: str) -> DynamicsError:
    """requests exceptions → named errors; the URL is left out (it can carry secrets)."""
    if isinstance(exc, requests.exceptions.SSLError):
        return CertificateError(request=what)
    if isinstance(exc, requests.exceptions.Timeout):
        return RequestTimeout(request=what)
    return ConnectionFailed(request=what)


class _TokenSession(GuardedSession):
    """msal's HTTP client; remembers the last answer's status, which msal does not report."""

    last_status: int | None = None
    last_retry_after: str | None = None

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        self.last_status, self.last_retry_after = None, None
        resp = super().request(*args, **kwargs)
        self.last_status, self.last_retry_after = resp.status_code, resp.headers.get("Retry-After")
        return resp


class BearerToken(AuthBase):
    """Adds `Authorization: Bearer …` from msal, acquiring and caching tokens as needed."""

    def __init__(self, connection: Connection, verify: str | bool,
                 clock: Clock | None = None) -> None:
        self._connection = connection
        self._verify = verify
        self._clock: Clock = clock or SystemClock()
        self._refresh_at: float | None = None  # on self._clock: renew the token from then
        self._lock = threading.Lock()
        self._app: msal.ConfidentialClientApplication | None = None
        # trust_env off inside: REQUESTS_CA_BUNDLE must not override the bundle.
        self._http = _TokenSession(connection.outbound_policy(), proxy=connection.proxy,
                                   timeout=(connection.connect_timeout, connection.read_timeout),
                                   verify=verify)
        self.acquisitions = 0  # tokens actually fetched from the sign-in service

    def _application(self) -> msal.ConfidentialClientApplication:
        if self._app is None:
            c = self._connection
            kwargs: dict[str, Any] = {}
            if not c.is_microsoft_authority:
                # A private authority (AD FS-like or the emulator) is not in Microsoft's list.
                kwargs.update(validate_authority=False, instance_discovery=False)
            self._app = msal.ConfidentialClientApplication(
                c.client_id,
                client_credential=c.client_secret,
                authority=f"{c.authority}/{c.tenant_id}",
                http_client=self._http,
                timeout=(c.connect_timeout, c.read_timeout),
                **kwargs,
            )
        return self._app

    def token(self) -> str:
        with self._lock:
            if self._refresh_at is not None and self._clock.monotonic() >= self._refresh_at:
                self._app = None  # drops msal's cache with the token that is due
            try:
                app = self._application()
                result = app.acquire_token_for_client(scopes=[self._connection.scope])
            except requests.RequestException as exc:
                raise translate_network_error(exc, "token request") from None
            except DestinationRefused as exc:
                raise DestinationRefused(str(exc.code), host=exc.host, address=exc.address,
                                         resolved=exc.resolved, request="token request") from None
            except msal.exceptions.MsalServiceError:
                # msal raises for a 5xx answer of the token endpoint.
                raise self._unavailable() from None
            except (ValueError, RuntimeError) as exc:
                # msal raises ValueError when the authority's discovery document is unusable,
                # RuntimeError when discovery got an answer that is no document (a redirect
                # the session did not follow, SPEC N8).
                raise AuthenticationFailed(
                    "The sign-in authority could not be used. Check the authority URL and the "
                    f"directory (tenant) id. ({type(exc).__name__})",
                    request="token request", key="authority_unusable",
                    params={"authority": self._connection.authority}) from None
            if "access_token" not in result:
                if self._http.last_status == 429 or (self._http.last_status or 0) >= 500:
                    raise self._unavailable()
                raise _aad_error(result, self._connection.scope)
            if result.get("token_source") != "cache":
                self.acquisitions += 1
                lifetime = float(result.get("expires_in") or 0)
                self._refresh_at = self._clock.monotonic() + lifetime - REFRESH_MARGIN_S
            return str(result["access_token"])

    def _unavailable(self) -> DynamicsError:
        """Throttled/unavailable sign-in service: transient, so the transport retries. msal
        would answer a retry from its own cache of the failure, so it is dropped (there is no
        token in it to lose)."""
        status, retry_after = self._http.last_status, self._http.last_retry_after
        self._app = None
        if status == 429:
            return Throttled("The sign-in service is throttling token requests.", status=status,
                             retry_after=parse_retry_after(retry_after), request="token request",
                             key="sign_in_throttled")
        return ServiceUnavailable("The sign-in service is temporarily unavailable.",
                                  status=status, retry_after=parse_retry_after(retry_after),
                                  request="token request", key="sign_in_unavailable")

    def invalidate(self) -> None:
        """Forget cached tokens, e.g. after the CRM answered 401 to a token msal still trusts."""
        with self._lock:
            self._app = None

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        r.headers["Authorization"] = f"Bearer {self.token()}"
        return r

    def close(self) -> None:
        self._http.close()


def make_auth(connection: Connection, verify: str | bool,
              clock: Clock | None = None) -> AuthBase:
    if connection.deployment == "on_premise":
        return HttpNtlmAuth(connection.username, connection.password)
    return BearerToken(connection, verify, clock)
