"""The CA bundle holds certificates only and is never shown back as PEM: pages, the API
and the history describe each certificate (subject, issuer, expiry, fingerprint)."""

from __future__ import annotations

import datetime
import uuid
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test import Client

from orgsettings.models import OrgSettings
from tenants.models import Tenant
from tests.api.conftest import token_client
from tests.orgsettings.conftest import settings_post

pytestmark = pytest.mark.django_db


def make_ca(name: str) -> tuple[str, str, str]:
    """(certificate PEM, private key PEM, SHA-256 fingerprint as shown)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    return (cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem,
            cert.fingerprint(hashes.SHA256()).hex(":").upper())


def url(tenant: Tenant, page: str = "settings") -> str:
    return f"/t/{tenant.slug}/{page}/"


@pytest.mark.parametrize("with_certificate", [False, True])
def test_a_private_key_is_refused_alone_or_beside_a_certificate(
        owner_client: Client, tenant: Tenant, with_certificate: bool) -> None:
    cert, key, _fp = make_ca("Contoso Root CA")
    pasted = f"{cert}{key}" if with_certificate else key
    response = owner_client.post(url(tenant), settings_post(ca_bundle=pasted))
    assert response.status_code == 200
    text = response.content.decode()
    assert "Only certificates are accepted" in text and "PRIVATE KEY" in text
    assert not OrgSettings.objects.filter(tenant=tenant).exists()


def test_the_stored_bundle_is_described_never_shown(
        owner_client: Client, member_client: Client, tenant: Tenant) -> None:
    cert, _key, fingerprint = make_ca("Contoso Root CA")
    assert owner_client.post(url(tenant), settings_post(ca_bundle=cert)).status_code == 302
    body = cert.splitlines()[1]  # a line of the certificate itself
    for client in (owner_client, member_client):
        for page in ("settings", "history"):
            text = client.get(url(tenant, page)).content.decode()
            assert body not in text, page
            assert "CN=Contoso Root CA" in text and fingerprint in text, page


def test_blank_keeps_the_certificates_and_remove_clears_them(
        owner_client: Client, tenant: Tenant) -> None:
    cert, _key, _fp = make_ca("Contoso Root CA")
    owner_client.post(url(tenant), settings_post(ca_bundle=cert))
    assert owner_client.post(url(tenant), settings_post(ca_bundle="")).status_code == 302
    assert OrgSettings.objects.get(tenant=tenant).ca_bundle == cert
    response = owner_client.post(url(tenant), settings_post(ca_bundle="", ca_bundle_clear="on"))
    assert response.status_code == 302
    assert OrgSettings.objects.get(tenant=tenant).ca_bundle == ""


def test_the_api_describes_certificates_and_refuses_keys(
        owner: Any, owner_client: Client, tenant: Tenant) -> None:
    cert, key, fingerprint = make_ca("Fabrikam Issuing CA")
    owner_client.post(url(tenant), settings_post(ca_bundle=cert))
    api = token_client(owner)
    endpoint = f"/api/v1/tenants/{tenant.slug}/org-settings/"
    body = api.get(endpoint).json()
    assert "ca_bundle" not in body and "BEGIN" not in str(body)
    [described] = body["ca_certificates"]
    assert described["subject"] == "CN=Fabrikam Issuing CA"
    assert described["fingerprint_sha256"] == fingerprint
    refused = api.put(endpoint, {"ca_bundle": cert + key}, format="json")
    assert refused.status_code == 400 and "PRIVATE KEY" in str(refused.json())
    # A PUT without the bundle keeps it; ca_bundle_clear removes it.
    assert api.put(endpoint, {"sync_interval_minutes": 30}, format="json").status_code == 200
    assert OrgSettings.objects.get(tenant=tenant).ca_bundle == cert
    assert api.put(endpoint, {"ca_bundle_clear": True}, format="json").status_code == 200
    assert api.get(endpoint).json()["ca_certificates"] == []


@pytest.mark.django_db(transaction=True)
def test_the_migration_removes_stored_keys_and_keeps_the_certificates() -> None:
    before = [("orgsettings", "0004_reconcile_interval")]
    after = [("orgsettings", "0005_ca_bundle_certificates_only")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    apps = executor.loader.project_state(before).apps
    cert, key, _fp = make_ca("Old Root")
    tenant = apps.get_model("tenants", "Tenant").objects.create(name="T", slug="t")
    org = apps.get_model("orgsettings", "OrgSettings").objects.create(
        tenant=tenant, crm_url="https://contoso.crm4.dynamics.com", ca_bundle=cert + key)
    history = apps.get_model("orgsettings", "HistoricalOrgSettings")
    history.objects.create(id=org.pk, tenant_id=tenant.pk, ca_bundle=key + cert,
                           history_date=datetime.datetime.now(datetime.UTC),
                           history_type="~", crm_url=org.crm_url,
                           reaction_mode="absolute", deployment="online",
                           history_change_reason=str(uuid.uuid4()),
                           created_at=org.created_at, updated_at=org.updated_at)
    executor = MigrationExecutor(connection)
    executor.migrate(after)
    apps = executor.loader.project_state(after).apps
    assert apps.get_model("orgsettings", "OrgSettings").objects.get().ca_bundle == cert
    assert apps.get_model("orgsettings", "HistoricalOrgSettings").objects.get(
        ca_bundle__contains="CERTIFICATE").ca_bundle == cert
    MigrationExecutor(connection).migrate(MigrationExecutor(connection).loader.graph
                                          .leaf_nodes())
