"""A stored secret stays bound to where it was entered for: the CRM URL, the sign-in
authority, the directory and client ids (Online) or the user name (on-premise). Changing
one of them with a blank secret is refused — in the form and the API — so the server never
sends the old secret to a place an admin just typed in."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest
from django.test import Client
from rest_framework.test import APIClient

from dynamics_emulator import credentials
from dynamics_emulator.server import EmulatorServer
from orgsettings.models import OrgSettings
from syncjobs import runner
from tenants.models import Tenant
from tests.api.conftest import token_client
from tests.crm_fixtures import configure_tenant_for_emulator
from tests.orgsettings.conftest import settings_post
from tests.outbound_fixtures import LoopbackServer

pytestmark = pytest.mark.django_db


class Recorder(LoopbackServer):
    """Records every byte it is sent, and answers nothing."""

    def __init__(self) -> None:
        self.received = b""
        super().__init__()

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def handle(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(1)
            try:
                while chunk := conn.recv(65536):
                    self.received += chunk
            except OSError:
                pass


@pytest.fixture
def listener() -> Iterator[Recorder]:
    with Recorder() as server:
        yield server


def settings_url(tenant: Tenant) -> str:
    return f"/t/{tenant.slug}/settings/"


@pytest.mark.parametrize(("field", "value"), [
    ("crm_url", "https://fabrikam.crm4.dynamics.com"),
    ("authority_url", "https://login.example.net"),
    ("directory_tenant_id", "99999999-2222-3333-4444-555555555555"),
    ("client_id", "99999999-7777-8888-9999-000000000000"),
])
def test_the_form_refuses_a_changed_binding_without_the_secret(
        owner_client: Client, tenant: Tenant, field: str, value: str) -> None:
    assert owner_client.post(settings_url(tenant), settings_post()).status_code == 302
    response = owner_client.post(settings_url(tenant),
                                 settings_post(client_secret="", **{field: value}))
    assert response.status_code == 200
    assert "Enter the client secret again" in response.content.decode()
    assert getattr(OrgSettings.objects.get(tenant=tenant), field) != value
    # Entered again, the change is saved.
    response = owner_client.post(settings_url(tenant),
                                 settings_post(client_secret="new-secret", **{field: value}))
    assert response.status_code == 302
    assert OrgSettings.objects.get(tenant=tenant).client_secret == "new-secret"


def test_the_on_premise_password_is_bound_to_the_url_and_the_user(
        owner_client: Client, tenant: Tenant) -> None:
    onprem = {"deployment": "on_premise", "crm_url": "https://crm.contoso.example/contoso",
              "client_secret": "", "directory_tenant_id": "", "client_id": "",
              "onprem_username": "CONTOSO\\svc-mailworx", "onprem_password": "pw-1"}
    assert owner_client.post(settings_url(tenant), settings_post(**onprem)).status_code == 302
    for change in ({"onprem_username": "CONTOSO\\someone-else"},
                   {"crm_url": "https://crm.fabrikam.example/fabrikam"}):
        response = owner_client.post(settings_url(tenant), settings_post(
            **{**onprem, "onprem_password": "", **change}))
        assert response.status_code == 200
        assert "Enter the password again" in response.content.decode()
    # A change of something the password is not bound to keeps it.
    response = owner_client.post(settings_url(tenant), settings_post(
        **{**onprem, "onprem_password": "", "sync_interval_minutes": "30"}))
    assert response.status_code == 302
    assert OrgSettings.objects.get(tenant=tenant).onprem_password == "pw-1"


def test_the_api_refuses_a_changed_binding_without_the_secret(
        owner: Any, tenant: Tenant, owner_client: Client) -> None:
    owner_client.post(settings_url(tenant), settings_post())
    api: APIClient = token_client(owner)
    url = f"/api/v1/tenants/{tenant.slug}/org-settings/"
    response = api.put(url, {"authority_url": "https://login.example.net"}, format="json")
    assert response.status_code == 400
    assert "Enter the client secret again" in str(response.json())
    assert OrgSettings.objects.get(tenant=tenant).authority_url != "https://login.example.net"
    response = api.put(url, {"authority_url": "https://login.example.net",
                             "client_secret": "s2"}, format="json")
    assert response.status_code == 200


def test_the_old_secret_never_reaches_a_changed_authority(
        tenant: Tenant, crm: EmulatorServer, owner_client: Client, listener: Recorder,
        no_dispatch: list[int]) -> None:
    configure_tenant_for_emulator(tenant, crm)
    org = OrgSettings.objects.get(tenant=tenant)
    post = settings_post(crm_url=org.crm_url, authority_url=listener.url, client_secret="",
                         directory_tenant_id=org.directory_tenant_id, client_id=org.client_id,
                         ca_bundle=org.ca_bundle)
    response = owner_client.post(settings_url(tenant), post)
    assert response.status_code == 200  # refused
    run = runner.enqueue(tenant, "integration_check")
    runner.execute(run.pk)
    assert OrgSettings.objects.get(tenant=tenant).authority_url == crm.base_url
    assert credentials.CLIENT_SECRET.encode() not in listener.received
    assert listener.received == b""  # nobody was even asked


def test_switching_the_deployment_and_back_never_moves_the_secret_to_a_new_place(
        owner_client: Client, tenant: Tenant) -> None:
    """Online with secret S; on-premise with a new URL and authority; Online again with a
    blank secret: S was entered for the old URL and authority, so it is asked for again."""
    assert owner_client.post(settings_url(tenant), settings_post(
        client_secret="entered-for-microsoft")).status_code == 302
    moved = {"crm_url": "https://crm.contoso.example/contoso",
             "authority_url": "https://login.example.net"}
    onprem = owner_client.post(settings_url(tenant), settings_post(
        deployment="on_premise", client_secret="", onprem_username="CONTOSO\\svc",
        onprem_password="pw", **moved))
    assert onprem.status_code == 302
    back = owner_client.post(settings_url(tenant), settings_post(client_secret="", **moved))
    assert back.status_code == 200
    assert "Enter the client secret again" in back.content.decode()
    org = OrgSettings.objects.get(tenant=tenant)
    assert org.deployment == "on_premise"  # nothing of the refused save was kept
    # Entered again for the new place, it is saved (and bound to it).
    assert owner_client.post(settings_url(tenant), settings_post(
        client_secret="entered-for-example", **moved)).status_code == 302
    org.refresh_from_db()
    assert org.secret_bindings["client_secret"]["authority_url"] == "https://login.example.net"
