"""Email addresses: the one place that decides what a valid address is and what its
matching key is (how S7/S9 compare subscribers with each other and with CRM records, and
how accounts are found by address).

Validation follows RFC 5321/5322 through the email-validator library (no DNS look-up):
at most 64 characters before the @ and 254 in all, no invisible or control characters
(a zero-width space pasted from a web page is the classic), a domain with a dot.
Internationalised domains are kept one way everywhere: in Unicode, lower case
(``anna@xn--bcher-kva.example`` and ``anna@BÜCHER.example`` are both stored as
``anna@bücher.example``); other addresses are stored as typed.
"""

from __future__ import annotations

import contextlib
import unicodedata

import idna
from django.utils.translation import gettext as _
from email_validator import EmailNotValidError, validate_email

MAX_LOCAL = 64
MAX_ADDRESS = 254
# Unicode categories a person cannot see: controls, format characters (zero-width space,
# joiners, direction marks), line and paragraph separators.
_INVISIBLE = {"Cc", "Cf", "Zl", "Zp"}


class InvalidEmail(ValueError):
    """The address is refused; the message says why, in the reader's language."""


def checked_email(value: str) -> str:
    """``value`` as it is stored: blanks around it removed, the domain normalised; or
    ``InvalidEmail`` naming the reason."""
    text = unicodedata.normalize("NFC", value.strip())
    hidden = [c for c in text if unicodedata.category(c) in _INVISIBLE or c.isspace()]
    if hidden:
        raise InvalidEmail(_("“%(value)s” contains an invisible or control character "
                             "(%(codes)s); type the address again.")
                           % {"value": text.encode("unicode_escape").decode(),
                              "codes": ", ".join(f"U+{ord(c):04X}" for c in hidden)})
    local, _at, domain = text.rpartition("@")
    if len(local) > MAX_LOCAL or len(text) > MAX_ADDRESS:
        raise InvalidEmail(_("“%(value)s” is too long: an email address has at most "
                             "%(local)s characters before the @ and %(total)s in all.")
                           % {"value": text, "local": MAX_LOCAL, "total": MAX_ADDRESS})
    try:
        valid = validate_email(text, check_deliverability=False, strict=True)
    except EmailNotValidError:
        raise InvalidEmail(_("“%(value)s” is not a valid email address.")
                           % {"value": text}) from None
    if domain.isascii() and "xn--" not in domain.lower():
        return text  # as typed: only internationalised domains are rewritten
    return f"{local}@{valid.domain}"


def normalise_email(email: str) -> str:
    """The matching key: ``checked_email``'s form, lower-cased — and never a refusal, so
    that addresses read from the CRM can be compared whatever they hold."""
    text = unicodedata.normalize("NFC", email.strip())
    local, at, domain = text.rpartition("@")
    if at:
        with contextlib.suppress(idna.IDNAError, UnicodeError, ValueError):
            domain = idna.decode(domain)
        text = f"{local}@{domain}"
    return text.lower()


def same_address(a: str, b: str) -> bool:
    return normalise_email(a) == normalise_email(b)
