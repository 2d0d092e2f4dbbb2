"""A throwaway CA and a server certificate for 127.0.0.1 / localhost, made at start.

With `keep_ca` (the emulator runs on a data dir) the CA and its key stay in the state dir
and are reused on the next start, so a client's copy of ca.pem stays valid; only the
server certificate is new.
"""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Dynamics Emulator"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common)])


def _new_ca(now: datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name("Dynamics Emulator Local CA"))
        .issuer_name(_name("Dynamics Emulator Local CA")).public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now)
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca_cert


def _existing_ca(directory: Path) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    try:
        cert = x509.load_pem_x509_certificate((directory / "ca.pem").read_bytes())
        key = serialization.load_pem_private_key((directory / "ca.key").read_bytes(), None)
    except (OSError, ValueError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or \
            cert.public_key() != key.public_key():
        return None
    if cert.not_valid_after_utc < datetime.now(UTC) + timedelta(days=2):
        return None  # about to expire: a new one (clients must re-read ca.pem)
    return key, cert


def _private_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def write_certificates(directory: Path, hosts: list[str],
                       keep_ca: bool = False) -> tuple[Path, Path, Path]:
    """Returns (ca.pem, server.pem, server.key); `keep_ca` reuses ca.pem + ca.key."""
    now = datetime.now(UTC) - timedelta(minutes=5)
    existing = _existing_ca(directory) if keep_ca else None
    ca_key, ca_cert = existing or _new_ca(now)
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for host in hosts:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            alt.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + timedelta(days=30))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    directory.mkdir(parents=True, exist_ok=True)
    ca_file, cert_file, key_file = (directory / "ca.pem", directory / "server.pem",
                                    directory / "server.key")
    if existing is None:
        if keep_ca:  # the key first: a ca.pem without its key is never reused
            ca_key_file = directory / "ca.key"
            ca_key_file.unlink(missing_ok=True)
            ca_key_file.touch(mode=0o600)
            ca_key_file.write_bytes(_private_pem(ca_key))
        ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(_private_pem(key))
    key_file.chmod(0o600)
    return ca_file, cert_file, key_file
