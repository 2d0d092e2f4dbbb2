"""Named exceptions for everything a CRM call can end in, and the mapping from HTTP answers.

Every exception carries a ``key`` naming its cause and ``params`` (plain strings and
numbers) for the application to word in the reader's language (N3, C16: this package
knows no Django and no translations; ``mailworx_crm/crm_errors.py`` holds the sentences).
``explanation`` is the same cause in plain English, for logs and for callers without a
catalogue. Secrets never reach either: both are built from the CRM's answer and the
request's method and path only.
"""

from __future__ import annotations

import json
import re
from typing import Any

# CRM error codes (docs/dataverse-webapi.md §Errors, §Service protection).
CODE_NOT_FOUND = "0x80040217"
CODE_PRIVILEGE_DENIED = "0x80040220"
CODE_DUPLICATE_RECORD = "0x80040237"
CODE_DUPLICATE_DETECTED = "0x80040333"
CODE_DUPLICATE_KEY = "0x80060892"
CODE_CONCURRENCY_MISMATCH = "0x80060882"
CODE_CHANGE_TRACKING_NOT_ENABLED = "0x80072491"
CODE_NOT_ORG_MEMBER = "0x80072560"
CODE_CHANGE_TRACKING_INTERSECT = "0x80072492"
CODE_EXPIRED_VERSION_STAMP = "0x80044352"  # delta token older than the retention (SDK code)
THROTTLING_CODES = frozenset({"0x80072322", "0x80072321", "0x80072326", "0x80072327"})
DUPLICATE_CODES = frozenset({CODE_DUPLICATE_RECORD, CODE_DUPLICATE_DETECTED, CODE_DUPLICATE_KEY})


class DynamicsError(Exception):
    """Base of every client error: HTTP status, CRM code and message, and words for an admin."""

    default_explanation = "The CRM request failed."
    key = "failed"  # the cause, worded by the application (mailworx_crm/crm_errors.py)

    def __init__(
        self,
        explanation: str | None = None,
        *,
        status: int | None = None,
        code: str | None = None,
        crm_message: str | None = None,
        request: str | None = None,
        key: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> None:
        self.explanation = explanation or self.default_explanation
        if key is not None:
            self.key = key
        self.params: dict[str, Any] = dict(params or {})
        self.status = status
        self.code = code
        self.crm_message = crm_message
        self.request = request  # "METHOD entity-set/path", never a full URL with secrets
        super().__init__(self._text())

    def _text(self) -> str:
        parts = [self.explanation]
        details = []
        if self.status is not None:
            details.append(f"HTTP {self.status}")
        if self.code:
            details.append(self.code)
        if self.request:
            details.append(self.request)
        if details:
            parts.append(f"[{', '.join(details)}]")
        if self.crm_message and self.crm_message not in self.explanation:
            parts.append(f"CRM says: {self.crm_message}")
        return " ".join(parts)


class UnexpectedAnswer(DynamicsError):
    """The CRM answered, but not in the shape the Web API documents."""

    key = "unexpected_answer"


class TransientError(DynamicsError):
    """Worth retrying later: throttling, unavailability, network trouble."""

    key = "transient"
    default_explanation = "The CRM is temporarily unavailable."

    def __init__(self, explanation: str | None = None, *, retry_after: float | None = None,
                 **kwargs: Any) -> None:
        self.retry_after = retry_after  # seconds the CRM asked us to wait, if it said
        super().__init__(explanation, **kwargs)


class Throttled(TransientError):
    key = "throttled"
    default_explanation = (
        "The CRM's service protection limits were hit (too many requests); the connector "
        "waits as the CRM asks and continues."
    )


class ServiceUnavailable(TransientError):
    key = "unavailable"
    default_explanation = (
        "The CRM answered 'service unavailable'; it may be restarting or overloaded.")


class RequestTimeout(TransientError):
    key = "timeout"
    default_explanation = "The CRM did not answer in time."


class ConnectionFailed(TransientError):
    key = "connection_failed"
    default_explanation = "The CRM could not be reached (network or DNS problem)."


class PermanentError(DynamicsError):
    """Retrying the same request will not help; a person has to act or the record is skipped."""

    key = "failed"

class NotFound(PermanentError):
    key = "not_found"
    default_explanation = (
        "The record or resource does not exist in the CRM (it may have been deleted).")


class PreconditionFailed(PermanentError):
    key = "precondition_failed"
    default_explanation = "The record changed in the CRM or already exists (precondition failed)."


class DuplicateRecord(PermanentError):
    key = "duplicate"
    default_explanation = "The CRM refused the record because a duplicate already exists."


class PrivilegeError(PermanentError):
    key = "privilege"
    default_explanation = (
        "The CRM user lacks a privilege for this operation. Give the connector's user the "
        "security role described in the CRM solution documentation."
    )


class AuthenticationFailed(PermanentError):
    key = "auth_failed"
    default_explanation = "The CRM rejected the credentials. Check the connection settings."


class CertificateError(PermanentError):
    key = "certificate"
    default_explanation = (
        "The CRM's certificate is not trusted. Add its CA to the connection's CA bundle."
    )


class DestinationRefused(PermanentError):
    """SPEC N8: the client does not connect to this address (dynamics/outbound.py).

    ``code`` names the class of address (``loopback``, ``link_local``, ``private``,
    ``shared``, ``multicast``, ``unspecified``, ``reserved``; ``unresolvable`` for a name
    that does not resolve when a setting is saved); ``params`` holds ``host`` (as written)
    and ``address`` (what it leads to). ``resolved`` says whether the address came from
    DNS rather than from the host itself. The application words its own, translated
    explanation from these (orgsettings/destinations.py).
    """

    default_explanation = (
        "The connector does not connect to this address: it is not a public address and the "
        "operator has not allowed it.")

    def __init__(self, code: str, *, host: str, address: str | None = None,
                 resolved: bool = False, request: str | None = None) -> None:
        self.host = host
        self.address = address or host
        self.resolved = resolved
        if code == "unresolvable":
            explanation = f"The host name {host} does not resolve."
        else:
            where = host if self.address == host else f"{host} ({self.address})"
            explanation = (f"The connector does not connect to {where}: a {code.replace('_', '-')} "
                           "address, which only the operator can allow.")
        super().__init__(explanation, code=code, request=request, key="destination_refused",
                         params={"host": self.host, "address": self.address})


class RedirectNotFollowed(PermanentError):
    key = "redirect"
    default_explanation = (
        "The CRM answered with a redirect; the connector does not follow redirects (they "
        "could lead it to another address). Check that the URL is the organisation's own "
        "address.")


class BadRequest(PermanentError):
    key = "bad_request"
    default_explanation = "The CRM rejected the request as invalid."


class ServerError(PermanentError):
    key = "server_error"
    default_explanation = "The CRM reported an internal error for this request."


class UnsupportedVersion(PermanentError):
    key = "unsupported_version"
    default_explanation = (
        "CRM 2013 and 2015 have no Web API; the connector needs Dynamics CRM 2016 (8.x) or later."
    )


class ChangeTrackingNotEnabled(PermanentError):
    key = "change_tracking_off"
    default_explanation = (
        "Change tracking is not enabled for this table in the CRM; the connector falls back to "
        "comparing modification times (deletions are then found by the periodic reconcile)."
    )


class ChangeTrackingExpired(PermanentError):
    key = "change_tracking_expired"
    default_explanation = (
        "The saved change-tracking position is older than the CRM keeps changes (7 days by "
        "default) or no longer valid; the connector reads the whole table again (full resync)."
    )


class RetriesExhausted(PermanentError):
    key = "retries_exhausted"
    default_explanation = "The CRM kept failing after several retries; the operation was given up."

    def __init__(self, explanation: str | None = None, *, attempts: int = 0,
                 last_error: DynamicsError | None = None, **kwargs: Any) -> None:
        self.attempts = attempts
        self.last_error = last_error
        if last_error is not None:
            kwargs.setdefault("status", last_error.status)
            kwargs.setdefault("code", last_error.code)
            kwargs.setdefault("crm_message", last_error.crm_message)
            kwargs.setdefault("request", last_error.request)
        if explanation is None and last_error is not None:
            explanation = (f"{self.default_explanation} Gave up after {attempts} attempts; "
                           f"last problem: {last_error.explanation}")
        super().__init__(explanation, **kwargs)


class NotExecuted(DynamicsError):
    """A $batch operation that did not take effect because another one failed."""

    key = "not_executed"
    default_explanation = "Not executed because an earlier operation in the same batch failed."


class RolledBack(NotExecuted):
    key = "rolled_back"
    default_explanation = (
        "Rolled back because another operation in the same change set failed.")


def parse_error_body(body: bytes | str | dict[str, Any] | None) -> tuple[str | None, str | None]:
    """(code, message) from `{"error":{"code":..,"message":..}}`; tolerant of junk bodies."""
    data: Any = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body or "null")
        except ValueError:
            text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            return None, _plain_text(text)
    if not isinstance(data, dict):
        return None, None
    error = data.get("error")
    if not isinstance(error, dict):
        return None, None
    code = error.get("code")
    message = error.get("message")
    return (str(code) if code else None), (str(message) if message is not None else None)


def _plain_text(text: str) -> str | None:
    """A non-JSON error body in a few words: an HTML page (a proxy's or a load balancer's
    error page) by its title, never its markup; other text cut short."""
    text = text.strip()
    if text.startswith("<") or "<html" in text[:200].lower():
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        words = re.sub(r"\s+", " ", title.group(1)).strip() if title else ""
        return f"an HTML page: {words}" if words else "an HTML page"
    return text[:500] or None


def parse_retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (the service sends seconds; HTTP dates are not used by it)."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return max(seconds, 0.0)


def error_from_response(
    status: int,
    body: bytes | str | dict[str, Any] | None,
    *,
    retry_after: str | None = None,
    request: str | None = None,
) -> DynamicsError:
    """Map one failed HTTP answer to the named exception an admin can act on."""
    code, message = parse_error_body(body)
    kw: dict[str, Any] = {"status": status, "code": code, "crm_message": message,
                          "request": request}
    code_l = (code or "").lower()
    if status == 429 or code_l in THROTTLING_CODES:
        return Throttled(retry_after=parse_retry_after(retry_after), **kw)
    if code_l in (CODE_CHANGE_TRACKING_NOT_ENABLED, CODE_CHANGE_TRACKING_INTERSECT):
        return ChangeTrackingNotEnabled(**kw)
    if code_l == CODE_EXPIRED_VERSION_STAMP or status == 410:
        # Status undocumented (docs/dataverse-webapi.md §Change tracking): SDK code or 410.
        return ChangeTrackingExpired(**kw)
    if code_l in DUPLICATE_CODES:
        return DuplicateRecord(**kw)
    if status == 503:
        return ServiceUnavailable(retry_after=parse_retry_after(retry_after), **kw)
    if status in (502, 504):
        return ServiceUnavailable("The CRM's gateway did not get an answer in time.",
                                  key="gateway_timeout", **kw)
    if status == 401:
        return AuthenticationFailed(
            "The CRM did not accept the sign-in (HTTP 401). Check the user name and password, "
            "or the app registration's client id and secret and its application user in the CRM.",
            key="sign_in_rejected", **kw)
    if status == 403 and code_l == CODE_NOT_ORG_MEMBER:
        return PrivilegeError(
            "The sign-in worked, but this user or app is not a member of the CRM organisation. "
            "Online: create an application user with the app's client id and give it the "
            "connector's security role; on-premise: add the user to the organisation.",
            key="not_org_member", **kw)
    if status == 403:
        return PrivilegeError(**kw)
    if status == 404:
        return NotFound(**kw)
    if status == 412:
        if code_l == CODE_CONCURRENCY_MISMATCH:
            return PreconditionFailed("The record was changed in the CRM in the meantime.",
                                      key="record_changed", **kw)
        return PreconditionFailed(**kw)
    if 400 <= status < 500:
        return BadRequest(**kw)
    return ServerError(**kw)
