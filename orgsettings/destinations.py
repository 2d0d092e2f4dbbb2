"""Where mailworx may connect (SPEC N8): the operator's settings and the admin's words.

The rule itself is plain Python in ``dynamics/outbound.py`` and is enforced where every
connection is made. This module reads the operator's settings (``CRM_ALLOWED_NETWORKS``,
``CRM_HTTPS_PROXY``) for the client, checks a URL when an administrator saves it, and
words a refusal in the admin's language.

Save-time decisions: a URL is checked when it is new or leads to another host or port
than the stored one (an unchanged URL does not need DNS again to save, say, a new
interval; the connection checks it anyway). A host name that does not resolve is refused
like one that leads to an internal address, with the same sentence: the form must not
tell an admin which internal names exist.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.utils.translation import gettext as _

from dynamics.errors import DestinationRefused
from dynamics.outbound import (
    LINK_LOCAL,
    LOOPBACK,
    MULTICAST,
    PRIVATE,
    RESERVED,
    SHARED,
    UNSPECIFIED,
    OutboundPolicy,
)

SETTING = "CRM_ALLOWED_NETWORKS"


def allowed_destinations() -> tuple[str, ...]:
    return tuple(getattr(settings, SETTING, ()) or ())


def proxy() -> str | None:
    return getattr(settings, "CRM_HTTPS_PROXY", "") or None


def outbound_policy() -> OutboundPolicy:
    try:
        return OutboundPolicy.from_entries(allowed_destinations())
    except ValueError as exc:
        raise ImproperlyConfigured(f"{SETTING}: {exc}") from None


def connection_options() -> dict[str, Any]:
    """The operator's part of every ``dynamics.Connection``."""
    outbound_policy()  # a bad entry: ImproperlyConfigured naming the setting
    return {"allowed_destinations": allowed_destinations(), "proxy": proxy()}


def _address_sentence(code: str, address: str) -> str:
    sentences = {
        LOOPBACK: _("%(address)s is a loopback address: this server itself."),
        LINK_LOCAL: _("%(address)s is a link-local address, such as the cloud metadata "
                      "service."),
        PRIVATE: _("%(address)s is an address in a private network."),
        SHARED: _("%(address)s is an address in the shared range of carrier-grade NAT."),
        MULTICAST: _("%(address)s is a multicast address."),
        UNSPECIFIED: _("%(address)s is the unspecified address."),
        RESERVED: _("%(address)s is a reserved or special-purpose address."),
    }
    return sentences.get(code, sentences[RESERVED]) % {"address": address}


def refusal_message(exc: DestinationRefused) -> str:
    """The admin's explanation of a refused destination, naming the operator's setting."""
    ask = _("If the CRM really is reachable only there, ask the operator of this mailworx "
            "installation to allow it with the setting %(setting)s.") % {"setting": SETTING}
    if exc.resolved:
        # A host name: the same words whether it did not resolve or led somewhere internal.
        return " ".join([_(
            "mailworx cannot connect to “%(host)s”: the name does not resolve, or it leads "
            "to a loopback, private, link-local or other internal address, to which "
            "mailworx does not connect. Check the spelling.") % {"host": exc.host}, ask])
    parts = []
    if exc.host != exc.address:
        parts.append(_("“%(host)s” stands for the address %(address)s.") % {
            "host": exc.host, "address": exc.address})
    parts += [_address_sentence(str(exc.code), exc.address),
              _("mailworx does not connect to such addresses."), ask]
    return " ".join(parts)


def destination(url: str) -> tuple[str, str, int | None] | None:
    """(scheme, host, port) of a URL, None when it has no usable host."""
    try:
        parts = urlsplit((url or "").strip())
        port = parts.port
    except ValueError:
        return None
    if not parts.hostname:
        return None
    scheme = parts.scheme.lower()
    return scheme, parts.hostname.lower().rstrip("."), port or {"https": 443, "http": 80}.get(
        scheme)


def check_destination(url: str, stored: str | None = None) -> None:
    """Raise ``ValidationError`` (code ``destination``) when mailworx may not connect to
    the host of ``url``. Skipped when ``stored`` leads to the same host and port."""
    target = destination(url)
    if target is None:
        return  # the URL's own validation reports it
    if stored and destination(stored) == target:
        return
    try:
        outbound_policy().check_url(url)
    except DestinationRefused as exc:
        raise ValidationError(refusal_message(exc), code="destination") from None
    except ValueError:
        return
