"""Derive the organisation name and Web API URL from the CRM URL an admin types (C3).

Pure functions, no database. Two forms are accepted:

- organisation name as subdomain: ``https://contoso.crm4.dynamics.com``,
  ``https://contoso.crm.example.com`` (on-premise with internet-facing deployment);
- organisation name as the only path segment: ``http://crmserver/contoso``,
  ``https://127.0.0.1:8765/contoso`` (the local Dynamics emulator).

Decisions: only one path segment is accepted (a longer path is almost always a page URL
copied from the browser, e.g. ``/contoso/main.aspx``); a host needs at least three labels
to carry the organisation as subdomain (``crm.local`` is not ``crm`` of ``local``); a
Dynamics Online host (``*.crm.dynamics.com``, ``*.crmN.dynamics.com``) always takes the
subdomain, must use https and has no path; a region's own host (``crm4.dynamics.com``)
names no organisation at all and is refused rather than read as organisation "crm4".
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from orgsettings.models import Deployment

# The one place that decides the Web API version per deployment.
API_VERSIONS: dict[str, str] = {
    Deployment.ONLINE: "v9.2",
    Deployment.ON_PREMISE: "v8.2",
}

_ONLINE_HOST = re.compile(r"^(?P<org>[a-z0-9][a-z0-9-]*)\.crm\d*\.dynamics\.com$")
_REGION_HOST = re.compile(r"^crm\d*\.dynamics\.com$")
_ORG_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,99}$")
_HOST_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")

EXAMPLES = _(
    "Give the organisation URL, with the organisation name either as subdomain "
    "(https://contoso.crm4.dynamics.com) or as the last path segment "
    "(https://crm.contoso.com/contoso)."
)


@dataclass(frozen=True)
class CrmEndpoint:
    organisation_name: str
    web_api_url: str
    base_url: str  # the organisation URL, normalised, without a trailing slash


def web_api_url(base_url: str, deployment: str) -> str:
    """The Web API root for an organisation URL: ``<base>/api/data/v9.2/`` (Online)."""
    try:
        version = API_VERSIONS[deployment]
    except KeyError:
        raise ValidationError(_("Choose a deployment."), code="deployment") from None
    return f"{base_url.rstrip('/')}/api/data/{version}/"


def _invalid(reason: str, code: str) -> ValidationError:
    return ValidationError(f"{reason} {EXAMPLES}", code=code)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def parse_crm_url(url: str, deployment: str = Deployment.ONLINE) -> CrmEndpoint:
    """Parse ``url`` or raise ``ValidationError`` whose message shows accepted examples."""
    url = (url or "").strip()
    if not url:
        raise _invalid(str(_("Enter the CRM URL.")), "required")
    try:
        parts = urlsplit(url)  # raises ValueError for an unclosed [ of an IPv6 address
    except ValueError:
        raise _invalid(str(_("This is not a URL that can be read (check brackets and typing "
                             "errors).")), "malformed") from None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc or "://" not in url:
        raise _invalid(str(_("The URL must start with https:// or http://.")), "scheme")
    if "@" in parts.netloc:
        raise _invalid(
            str(_("Do not put a user name or password into the URL; use the credential "
                  "fields.")), "credentials")
    if "?" in url or "#" in url:
        raise _invalid(
            str(_("The URL must not contain a query (?…) or fragment (#…).")), "query")
    host = (parts.hostname or "").lower()
    try:
        port = parts.port
    except ValueError:
        raise _invalid(str(_("The port is not a number between 0 and 65535.")), "port") from None
    is_ip = _is_ip(host)
    if not host or (not is_ip and not all(_HOST_LABEL.match(lbl) for lbl in host.split("."))):
        raise _invalid(str(_("The host name is not valid.")), "host")

    segments = parts.path.split("/")[1:] if parts.path else []
    if segments and segments[-1] == "":
        segments = segments[:-1]  # one trailing slash is fine
    if any(s.lower() == "api" for s in segments):
        raise _invalid(
            str(_("Leave out /api/data/…: the app derives the Web API URL from the "
                  "organisation URL.")), "web_api")
    if len(segments) > 1:
        raise _invalid(
            str(_("The URL may have at most one path segment, the organisation name "
                  "(not a page such as /main.aspx).")), "path")
    if any(s == "" for s in segments):
        raise _invalid(str(_("The URL path is not valid.")), "path")

    netloc = f"[{host}]" if ":" in host else host
    if port is not None:
        netloc += f":{port}"
    if _REGION_HOST.match(host):
        raise _invalid(str(_(
            "%(host)s is the address of a Dynamics 365 region, not of an organisation: put "
            "the organisation name in front of it.") % {"host": host}), "no_org")
    online = _ONLINE_HOST.match(host)
    if online:
        if segments:
            raise _invalid(
                str(_("A Dynamics 365 Online URL carries the organisation in its subdomain "
                      "and has no path.")), "path")
        if scheme != "https":
            raise _invalid(str(_("Dynamics 365 Online is reached over https:// only.")),
                           "scheme")
        org = online.group("org")
        base = f"{scheme}://{netloc}"
    elif segments:
        org = segments[0]
        base = f"{scheme}://{netloc}/{org}"
    else:
        labels = host.split(".")
        if is_ip:
            raise _invalid(
                str(_("With an IP address the organisation name must follow as path "
                      "segment.")), "no_org")
        if len(labels) < 3:
            raise _invalid(
                str(_("The URL does not name the organisation.")), "no_org")
        org = labels[0]
        base = f"{scheme}://{netloc}"
    if not _ORG_NAME.match(org):
        raise _invalid(str(_("“%(org)s” is not a valid organisation name.") % {"org": org}),
                       "org")
    return CrmEndpoint(organisation_name=org, web_api_url=web_api_url(base, deployment),
                       base_url=base)
