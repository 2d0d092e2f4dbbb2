"""The integration check's explanations for "nobody answered" and a wrong deployment:
one wording for every way each can happen, so the admin reads the same cause whatever the
network did (orgsettings/checks.py runs the steps)."""

from __future__ import annotations

from urllib.parse import urlsplit

from dynamics.errors import (
    AuthenticationFailed,
    CertificateError,
    ConnectionFailed,
    DestinationRefused,
    DynamicsError,
    RequestTimeout,
    RetriesExhausted,
    Throttled,
)
from mailworx_crm.texts import StoredText, stored_text
from orgsettings.destinations import SETTING

Explained = tuple[StoredText, StoredText]


def no_crm_answer() -> Explained:
    """The one answer for every way no CRM answers at the CRM URL (see the docstring)."""
    return (stored_text("No Dynamics 365 / CRM Web API answered at this address."), stored_text(
        "Check the CRM URL, and that the CRM accepts connections from the mailworx servers "
        "(firewall, proxy). mailworx connects only to public addresses and to networks the "
        "operator of this installation allows (%(setting)s).", setting=SETTING))


def no_sign_in_service(authority: str) -> Explained:
    """The one answer for every way no sign-in service answers at the authority URL; it
    names the authority's host, which the admin typed (or left at Microsoft's)."""
    host = urlsplit(authority).hostname or authority
    return (stored_text("No sign-in service answered at %(host)s.", host=host), stored_text(
        "Check the sign-in authority URL (Microsoft's is https://login.microsoftonline.com) "
        "and the directory (tenant) id. mailworx connects only to public addresses and to "
        "networks the operator of this installation allows (%(setting)s).", setting=SETTING))


def organisation_not_found(api_url: str) -> Explained:
    """A server answers at the URL, but the sign-in service knows no organisation there
    (AADSTS500011, docs/dataverse-webapi.md §Sign-in)."""
    parts = urlsplit(api_url)
    base = f"{parts.scheme}://{parts.netloc}{parts.path.split('/api/data/')[0]}"
    return (stored_text(
        "The organisation %(url)s was not found: the sign-in service knows no CRM "
        "organisation at this address.", url=base), stored_text(
        "Check the organisation name in the CRM URL (Online: https://<organisation>."
        "crm4.dynamics.com) and that the directory (tenant) id is the one of the "
        "organisation's Microsoft 365 tenant."))


def deployment_mismatch(deployment: str, challenges: frozenset[str]) -> Explained | None:
    """Online chosen for a CRM that asks for Windows sign-in, or on-premise chosen for one
    that asks only for a token: named before any credentials are sent. An answer without
    a challenge (a service document) tells nothing, so it passes."""
    if not challenges:
        return None
    windows = bool(challenges & {"ntlm", "negotiate"})
    if deployment == "online" and "bearer" not in challenges and windows:
        return (stored_text(
            "This CRM asks for Windows sign-in (NTLM): it is an on-premise CRM, but "
            "“Online” is chosen."), stored_text(
            "Choose “On-premise” as the deployment and enter a CRM user's name and password."))
    if deployment == "on_premise" and not windows and "adfs" in challenges:
        return (stored_text(
            "This on-premise CRM accepts only claims-based sign-in through AD FS (an "
            "internet-facing deployment), not Windows sign-in (NTLM). The connector signs in "
            "to on-premise CRM with a Windows account only, so it cannot connect to this "
            "deployment as it is set up."), stored_text(
            "Ask the CRM administrator whether the organisation has an address with Windows "
            "authentication; docs/organization-service.md §Authentication lists what each "
            "deployment accepts."))
    if deployment == "on_premise" and not windows:
        return (stored_text(
            "This CRM asks for a Microsoft Entra ID token, not for Windows sign-in: it is "
            "Dynamics 365 Online, but “On-premise” is chosen."), stored_text(
            "Choose “Online” as the deployment and enter the app registration's directory "
            "(tenant) id, client id and client secret."))
    return None


def _nobody_answered(exc: DynamicsError) -> str | None:
    """"sign-in" when the token request found no sign-in service, "crm" when the Web API
    stopped answering after the probe: a refused address, no connection, no answer in
    time, a TLS failure, an unusable answer (no OAuth error) — or retries of those ran
    out. An OAuth error (``code``), throttling or any HTTP answer of the CRM is an answer."""
    if isinstance(exc, RetriesExhausted) and exc.last_error is not None:
        exc = exc.last_error
    if exc.request == "token request":
        if isinstance(exc, AuthenticationFailed):
            return None if exc.code else "sign-in"
        return None if isinstance(exc, Throttled) else "sign-in"
    network = (ConnectionFailed, RequestTimeout, CertificateError, DestinationRefused)
    return "crm" if isinstance(exc, network) else None
