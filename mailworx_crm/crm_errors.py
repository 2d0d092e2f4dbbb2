"""What went wrong with a CRM call, in the reader's language (N3, C16).

``dynamics/`` knows no Django: its errors carry a ``key`` naming the cause and ``params``
(dynamics/errors.py, dynamics/auth.py). This module holds the sentences for those keys as
stored texts (mailworx_crm/texts.py), so a sync issue or a check step written by a worker
in one language is read in another. ``describe`` words the cause, adding the CRM's own
message and the request's details that an admin or support may need.

It reads the error's attributes rather than importing ``dynamics``: the job runner, which
must not know the client (pyproject.toml contracts), words a failed run with it too.
"""

from __future__ import annotations

from typing import Any, Protocol

from django.utils.translation import gettext_noop

from mailworx_crm.texts import StoredText, join, stored_text


class CrmError(Protocol):
    """What ``dynamics.errors.DynamicsError`` carries."""

    key: str
    params: dict[str, Any]
    explanation: str
    status: int | None
    code: str | None
    crm_message: str | None
    request: str | None


def is_crm_error(exc: BaseException) -> bool:
    return isinstance(getattr(exc, "key", None), str) and isinstance(
        getattr(exc, "params", None), dict) and hasattr(exc, "crm_message")

# key → English msgid (translated at display time; %(…)s from the error's params).
SENTENCES: dict[str, str] = {
    "failed": gettext_noop("The CRM request failed."),
    "unexpected_answer": gettext_noop("The CRM sent an answer the connector cannot read."),
    "not_json": gettext_noop("The CRM sent an answer that is not JSON."),
    "collection_without_value": gettext_noop("The CRM sent a collection without 'value'."),
    "batch_not_multipart": gettext_noop(
        "The CRM answered a $batch request without a multipart body."),
    "batch_unreadable": gettext_noop("The CRM's $batch answer could not be read."),
    "no_delta_link": gettext_noop(
        "The CRM did not return a delta link for change tracking."),
    "no_record_id": gettext_noop("The CRM created a record but did not say its id."),
    "whoami_incomplete": gettext_noop("The CRM's WhoAmI answer is incomplete."),
    "transient": gettext_noop("The CRM is temporarily unavailable."),
    "throttled": gettext_noop(
        "The CRM's service protection limits were hit (too many requests); the connector "
        "waits as the CRM asks and continues."),
    "unavailable": gettext_noop(
        "The CRM answered “service unavailable”; it may be restarting or overloaded."),
    "gateway_timeout": gettext_noop("The CRM's gateway did not get an answer in time."),
    "timeout": gettext_noop("The CRM did not answer in time."),
    "connection_failed": gettext_noop("The CRM could not be reached (network or DNS problem)."),
    "not_found": gettext_noop(
        "The record or resource does not exist in the CRM (it may have been deleted)."),
    "precondition_failed": gettext_noop(
        "The record changed in the CRM or already exists (precondition failed)."),
    "record_changed": gettext_noop("The record was changed in the CRM in the meantime."),
    "duplicate": gettext_noop("The CRM refused the record because a duplicate already exists."),
    "privilege": gettext_noop(
        "The CRM user lacks a privilege for this operation. Give the connector's user the "
        "security role described in the CRM solution documentation."),
    "not_org_member": gettext_noop(
        "The sign-in worked, but this user or app is not a member of the CRM organisation. "
        "Online: create an application user with the app's client id and give it the "
        "connector's security role; on-premise: add the user to the organisation."),
    "auth_failed": gettext_noop(
        "The CRM rejected the credentials. Check the connection settings."),
    "sign_in_rejected": gettext_noop(
        "The CRM did not accept the sign-in (HTTP 401). Check the user name and password, or "
        "the app registration's client id and secret and its application user in the CRM."),
    "windows_sign_in_not_offered": gettext_noop(
        "The CRM server does not offer Windows sign-in (NTLM) at this address; it asks for "
        "claims-based sign-in (AD FS / OAuth, as internet-facing deployments are set up). The "
        "connector signs in to on-premise CRM with a Windows account only, so this deployment "
        "cannot be connected as it is set up. Ask the CRM administrator whether an address "
        "with Windows authentication exists for the organisation."),
    "certificate": gettext_noop(
        "The CRM's certificate is not trusted. Add its CA to the connection's CA bundle."),
    "redirect": gettext_noop(
        "The CRM answered with a redirect; the connector does not follow redirects (they "
        "could lead it to another address). Check that the URL is the organisation's own "
        "address."),
    "bad_request": gettext_noop("The CRM rejected the request as invalid."),
    "server_error": gettext_noop("The CRM reported an internal error for this request."),
    "unsupported_version": gettext_noop(
        "CRM 2013 and 2015 have no Web API; the connector needs Dynamics CRM 2016 (8.x) or "
        "later."),
    "change_tracking_off": gettext_noop(
        "Change tracking is not enabled for this table in the CRM; the connector falls back "
        "to comparing modification times (deletions are then found by the periodic "
        "reconcile)."),
    "change_tracking_expired": gettext_noop(
        "The saved change-tracking position is older than the CRM keeps changes (7 days by "
        "default) or no longer valid; the connector reads the whole table again (full "
        "resync)."),
    "not_executed": gettext_noop(
        "Not executed because an earlier operation in the same batch failed."),
    "rolled_back": gettext_noop(
        "Rolled back because another operation in the same change set failed."),
    # Sign-in (Microsoft Entra ID or another OAuth authority), dynamics/auth.py.
    "secret_rejected": gettext_noop(
        "The sign-in service rejected the client secret (AADSTS7000215). Check that the "
        "secret is the secret's value (not its id) and has not expired."),
    "secret_expired": gettext_noop(
        "The client secret has expired (AADSTS7000222). Create a new secret in the app "
        "registration and enter it in the connection."),
    "unknown_client": gettext_noop(
        "The client id is not known in this directory (AADSTS700016). Check the client id "
        "and the directory (tenant) id."),
    "unknown_directory": gettext_noop(
        "The directory (tenant) id was not found (AADSTS90002). Check the tenant id."),
    "unknown_resource": gettext_noop(
        "The organisation %(resource)s was not found: the sign-in service knows no CRM "
        "organisation at this address (AADSTS500011). Check the organisation name in the "
        "CRM URL, and that the directory (tenant) id is the organisation's."),
    "invalid_client": gettext_noop(
        "The sign-in service rejected the client credentials (invalid_client). Check the "
        "client id and client secret."),
    "token_refused": gettext_noop(
        "The sign-in service refused to issue a token (%(error)s). Check the Online "
        "settings."),
    "authority_unusable": gettext_noop(
        "The sign-in authority %(authority)s could not be used. Check the authority URL and "
        "the directory (tenant) id."),
    "sign_in_throttled": gettext_noop("The sign-in service is throttling token requests."),
    "sign_in_unavailable": gettext_noop("The sign-in service is temporarily unavailable."),
}


def cause(exc: CrmError) -> StoredText:
    """The cause alone, without the CRM's message or request details."""
    if exc.key == "destination_refused":
        if exc.code == "unresolvable":
            return stored_text(gettext_noop("The host name %(host)s does not resolve."),
                               host=exc.params.get("host", ""))
        return stored_text(gettext_noop(
            "The connector does not connect to %(host)s (%(address)s): not a public address, "
            "and the operator has not allowed it."), **exc.params)
    if exc.key == "retries_exhausted":
        last: CrmError | None = getattr(exc, "last_error", None)
        return stored_text(gettext_noop(
            "The CRM kept failing after %(attempts)s attempts; the operation was given up. "
            "Last problem: %(last)s"), attempts=getattr(exc, "attempts", 0),
            last=cause(last) if last is not None else "")
    sentence = SENTENCES.get(exc.key) or SENTENCES["failed"]
    return stored_text(sentence, **exc.params)


def describe(exc: CrmError) -> StoredText:
    """The cause, the CRM's own message (when it adds something) and the request."""
    parts: list[StoredText | str] = [cause(exc)]
    if exc.crm_message and exc.crm_message not in exc.explanation:
        parts.append(stored_text(gettext_noop("The CRM says: %(message)s"),
                                 message=exc.crm_message))
    details = [d for d in (f"HTTP {exc.status}" if exc.status is not None else "",
                           exc.code or "", exc.request or "") if d]
    if details:
        parts.append(f"[{', '.join(details)}]")
    return join(*parts)
