"""The CA bundle a tenant trusts for its CRM's TLS certificate: certificates only.

A CA bundle never needs a private key, so a pasted key — alone or beside a certificate —
is refused rather than stored (it would sit in the database and its history, readable by
every member of the tenant). Stored bundles are never shown back as PEM: pages, the API
and the audit history describe each certificate instead (subject, issuer, expiry, SHA-256
fingerprint), which is what an admin needs to recognise it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

# One PEM block: its label and body (RFC 7468 textual encoding).
PEM_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----(?P<body>.*?)-----END (?P=label)-----", re.S)
CERTIFICATE = "CERTIFICATE"


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    issuer: str
    not_after: datetime
    fingerprint_sha256: str

    def summary(self) -> str:
        return _("%(subject)s, issued by %(issuer)s, valid until %(date)s, SHA-256 "
                 "%(fingerprint)s") % {
            "subject": self.subject, "issuer": self.issuer,
            "date": self.not_after.strftime("%Y-%m-%d"), "fingerprint": self.fingerprint_sha256}


def clean_ca_bundle(text: str) -> str:
    """The certificates of ``text`` as normalised PEM, or ``ValidationError`` in words."""
    text = (text or "").strip()
    if not text:
        return ""
    labels = [m.group("label") for m in PEM_BLOCK.finditer(text)]
    others = sorted({label for label in labels if label != CERTIFICATE})
    if others:
        raise ValidationError(_(
            "Only certificates are accepted, and this text also holds: %(blocks)s. A CA "
            "bundle never needs a private key: paste only the blocks between -----BEGIN "
            "CERTIFICATE----- and -----END CERTIFICATE-----, and treat the key you pasted as "
            "exposed.") % {"blocks": ", ".join(others)}, code="not_a_certificate")
    try:
        certificates = x509.load_pem_x509_certificates(text.encode())
    except ValueError:
        raise ValidationError(_(
            "Paste one or more PEM certificates, each between -----BEGIN CERTIFICATE----- "
            "and -----END CERTIFICATE-----."), code="invalid") from None
    return "".join(c.public_bytes(serialization.Encoding.PEM).decode() for c in certificates)


def describe(pem: str) -> list[CertificateInfo]:
    """Each stored certificate in words; an unreadable bundle describes as nothing."""
    if not (pem or "").strip():
        return []
    try:
        certificates = x509.load_pem_x509_certificates(only_certificates(pem).encode())
    except ValueError:
        return []
    return [CertificateInfo(
        subject=c.subject.rfc4514_string(), issuer=c.issuer.rfc4514_string(),
        not_after=c.not_valid_after_utc,
        fingerprint_sha256=c.fingerprint(hashes.SHA256()).hex(":").upper())
        for c in certificates]


def summary(pem: str) -> str:
    """One line for history and lists: every certificate, or "—" for none."""
    infos = describe(pem)
    return "; ".join(info.summary() for info in infos) if infos else "—"


def only_certificates(text: str) -> str:
    """``text`` with every block that is not a certificate removed (the data migration)."""
    blocks = [m.group(0) for m in PEM_BLOCK.finditer(text or "")
              if m.group("label") == CERTIFICATE]
    return "\n".join(blocks) + "\n" if blocks else ""
