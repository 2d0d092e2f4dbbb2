"""C2-C6 organisation settings form and view; N4 secrets stay secret."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from orgsettings.models import OrgSettings
from tenants.models import Membership, Role, Tenant
from tests.orgsettings.conftest import SECRET, settings_post

pytestmark = pytest.mark.django_db



def checked(html: str, name: str) -> bool:
    return any("checked" in tag for tag in re.findall(rf'<input[^>]*name="{name}"[^>]*>', html))


def url(tenant: Tenant) -> str:
    return reverse("orgsettings:edit", kwargs={"tenant": tenant.slug})


def test_it_saves_settings_and_derives_the_web_api_url(owner_client: Client, tenant: Tenant,
                                                       owner: object) -> None:
    response = owner_client.post(url(tenant), settings_post())
    assert response.status_code == 302
    org = OrgSettings.objects.get(tenant=tenant)
    assert org.organisation_name == "contoso"
    assert org.web_api_url == "https://contoso.crm4.dynamics.com/api/data/v9.2/"
    assert org.client_secret == SECRET
    assert org.client_secret_changed_at is not None
    assert org.updated_by == owner
    assert org.history.first().history_user == owner


def test_it_renders_defaults_and_no_preselected_reaction_mode(owner_client: Client,
                                                             tenant: Tenant) -> None:
    html = owner_client.get(url(tenant)).content.decode()
    assert 'name="reaction_mode"' in html
    assert 'value="absolute"' in html and 'value="relative"' in html
    assert not checked(html, "reaction_mode")
    assert not checked(html, "deployment")
    for name in ("export_opens", "export_clicks", "export_bounces", "write_back_unsubscribes",
                 "bidirectional_sync"):
        assert checked(html, name), name  # C4/C6 defaults on
    assert not checked(html, "reactivate_deactivated")
    assert not checked(html, "sync_paused")
    assert "must be protected accordingly" in html
    assert "choice-prominent" in html


def test_it_requires_an_explicit_reaction_mode(owner_client: Client, tenant: Tenant) -> None:
    response = owner_client.post(url(tenant), settings_post(reaction_mode=None))
    assert response.status_code == 200
    assert "there is no default" in response.content.decode()
    assert not OrgSettings.objects.exists()


@pytest.mark.parametrize(("overrides", "field", "message"), [
    ({"crm_url": "http://crmserver"}, "crm_url", "does not name the organisation"),
    ({"client_id": ""}, "client_id", "Required for this deployment"),
    ({"deployment": "on_premise"}, "onprem_username", "Required for this deployment"),
    ({"deployment": "on_premise", "onprem_username": "crm-sync", "onprem_password": "pw"},
     "onprem_username", "DOMAIN\\user"),
    ({"ca_bundle": "not a certificate"}, "ca_bundle", "PEM"),
    ({"authority_url": "http://login.example"}, "authority_url", "https://"),
    ({"sync_interval_minutes": "1"}, "sync_interval_minutes", "greater than or equal to 5"),
    # A region's host names no organisation ("crm4" is not one).
    ({"crm_url": "https://crm4.dynamics.com"}, "crm_url", "not of an organisation"),
    ({"crm_url": "https://crm.dynamics.com/"}, "crm_url", "not of an organisation"),
    ({"client_id": "my-app"}, "client_id", "is a GUID"),
    ({"client_id": "{66666666-7777-8888-9999-000000000000}"}, "client_id", "is a GUID"),
    ({"directory_tenant_id": "not a tenant"}, "directory_tenant_id", "is a GUID"),
])
def test_it_rejects_invalid_input(owner_client: Client, tenant: Tenant, overrides: dict,
                                  field: str, message: str) -> None:
    response = owner_client.post(url(tenant), settings_post(**overrides))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert field in errors and message in " ".join(errors[field])
    assert not OrgSettings.objects.exists()


def test_it_accepts_an_on_premise_configuration(owner_client: Client, tenant: Tenant) -> None:
    response = owner_client.post(url(tenant), settings_post(
        crm_url="http://crmserver/contoso", deployment="on_premise", client_secret="",
        directory_tenant_id="", client_id="", onprem_username="CONTOSO\\crm-sync",
        onprem_password="pw-123"))
    assert response.status_code == 302
    org = OrgSettings.objects.get(tenant=tenant)
    assert org.web_api_url == "http://crmserver/contoso/api/data/v8.2/"
    assert org.onprem_password == "pw-123"


def test_it_requires_a_secret_for_a_new_connection(owner_client: Client, tenant: Tenant) -> None:
    response = owner_client.post(url(tenant), settings_post(client_secret=""))
    assert response.status_code == 200
    assert "Acme Newsletter has no client secret" in response.content.decode()
    assert not OrgSettings.objects.exists()


def test_secrets_are_encrypted_and_never_rendered(owner_client: Client, tenant: Tenant) -> None:
    owner_client.post(url(tenant), settings_post())
    with connection.cursor() as cursor:
        cursor.execute("SELECT client_secret FROM orgsettings_orgsettings")
        (raw,) = cursor.fetchone()
    assert raw and SECRET not in raw and raw.startswith("fernet:")
    html = owner_client.get(url(tenant)).content.decode()
    assert SECRET not in html
    assert "leave blank to keep, type to replace" in html
    # invalid re-post must not echo the secret either
    html = owner_client.post(url(tenant), settings_post(crm_url="bad")).content.decode()
    assert SECRET not in html


def test_blank_secret_keeps_the_stored_one(owner_client: Client, tenant: Tenant) -> None:
    owner_client.post(url(tenant), settings_post())
    first = OrgSettings.objects.get(tenant=tenant).client_secret_changed_at
    owner_client.post(url(tenant), settings_post(client_secret="", sync_interval_minutes="30"))
    org = OrgSettings.objects.get(tenant=tenant)
    assert org.client_secret == SECRET
    assert org.sync_interval_minutes == 30
    assert org.client_secret_changed_at == first
    owner_client.post(url(tenant), settings_post(client_secret="new-one"))
    org.refresh_from_db()
    assert org.client_secret == "new-one" and org.client_secret_changed_at != first


def test_a_member_reads_but_cannot_change(member_client: Client, tenant: Tenant,
                                         saved_settings: OrgSettings) -> None:
    response = member_client.get(url(tenant))
    html = response.content.decode()
    assert response.status_code == 200
    assert "contoso" in html and SECRET not in html
    assert "Save settings" not in html
    assert 'name="crm_url"' in html and "disabled" in html
    response = member_client.post(url(tenant), settings_post(crm_url="http://crm/other"))
    assert response.status_code == 403
    saved_settings.refresh_from_db()
    assert saved_settings.organisation_name == "contoso"


def test_an_outsider_gets_not_found(outsider_client: Client, tenant: Tenant) -> None:
    assert outsider_client.get(url(tenant)).status_code == 404
    assert outsider_client.post(url(tenant), settings_post()).status_code == 404
    assert not OrgSettings.objects.exists()


def test_an_integration_user_gets_not_found(make_user, tenant: Tenant) -> None:  # type: ignore[no-untyped-def]
    bot = make_user("bot@example.com")
    Membership.objects.create(user=bot, tenant=tenant, role=Role.INTEGRATION)
    client = Client()
    client.force_login(bot)
    assert client.get(url(tenant)).status_code == 404


def test_a_valid_ca_bundle_is_accepted(owner_client: Client, tenant: Tenant) -> None:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "emulator CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    response = owner_client.post(url(tenant), settings_post(ca_bundle=pem))
    assert response.status_code == 302
    assert "BEGIN CERTIFICATE" in OrgSettings.objects.get(tenant=tenant).ca_bundle


def test_a_directory_given_by_its_domain_is_accepted(owner_client: Client,
                                                     tenant: Tenant) -> None:
    response = owner_client.post(url(tenant), settings_post(
        directory_tenant_id="contoso.onmicrosoft.com"))
    assert response.status_code == 302, response.context["form"].errors
    assert OrgSettings.objects.get(tenant=tenant).directory_tenant_id == "contoso.onmicrosoft.com"
