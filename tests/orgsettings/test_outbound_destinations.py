"""SPEC N8 when settings are saved: the settings page refuses a CRM URL or sign-in
authority mailworx may not connect to, in the admin's language and naming the operator's
setting; the allowlist lets networks and names through; "apply to several tenants" checks
every tenant; and a name whose DNS answer changes after saving is still not connected to.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from dynamics import errors
from orgsettings.connection import client_for
from orgsettings.models import OrgSettings
from orgsettings.services import save_org_settings
from tenants.models import Membership, Role, Tenant
from tests.orgsettings.conftest import settings_post
from tests.outbound_fixtures import (
    PUBLIC_ADDRESS,
    REFUSED_HOSTS,
    FakeDNS,
    Listener,
    Request,
    http_answer,
)

pytestmark = pytest.mark.django_db

HOST_NAME_WORDS = "the name does not resolve, or it leads to a loopback, private"
SYNTAX_ONLY = {"127.0.0.1."}  # refused by the URL's own rules before any address check


@pytest.fixture
def dns(fake_dns: FakeDNS) -> FakeDNS:
    """DNS for the example names; Microsoft's authority (the form's default) is public."""
    fake_dns.set("login.microsoftonline.com", [PUBLIC_ADDRESS])
    return fake_dns


@pytest.fixture
def no_allowlist(settings: Any, dns: FakeDNS) -> Any:
    settings.CRM_ALLOWED_NETWORKS = []
    return settings


def url(tenant: Tenant) -> str:
    return reverse("orgsettings:edit", kwargs={"tenant": tenant.slug})


def crm_errors(response: Any, field: str = "crm_url") -> str:
    form = response.context["form"]
    return " ".join(form.errors.get(field, []))


@pytest.mark.parametrize(("host", "code"), REFUSED_HOSTS)
def test_the_form_refuses_every_class_and_spelling(owner_client: Client, tenant: Tenant,
                                                   no_allowlist: Any, host: str, code: str
                                                   ) -> None:
    response = owner_client.post(url(tenant), settings_post(crm_url=f"https://{host}/contoso"))
    assert response.status_code == 200
    assert not OrgSettings.objects.exists()
    message = crm_errors(response)
    assert message
    if host not in SYNTAX_ONLY:
        assert "ask the operator of this mailworx installation" in message
        assert "CRM_ALLOWED_NETWORKS" in message
        address = host.strip("[]")
        if address not in ("127.1", "2130706433", "0x7f000001", "0177.0.0.1", "012.0.0.1",
                           "0"):
            assert address in message
        else:
            assert "stands for the address" in message


@pytest.mark.parametrize("host", ["127.0.0.1", "[::1]", "169.254.169.254", "10.0.0.1",
                                  "[::ffff:127.0.0.1]", "[fe80::1]", "100.64.0.1", "0.0.0.0",
                                  "127.1", "2130706433"])
def test_the_form_refuses_a_sign_in_authority_there(owner_client: Client, tenant: Tenant,
                                                    no_allowlist: Any, host: str) -> None:
    response = owner_client.post(url(tenant), settings_post(authority_url=f"https://{host}"))
    assert response.status_code == 200
    assert not OrgSettings.objects.exists()
    message = crm_errors(response, "authority_url")
    assert message  # the URL field refuses the odd IPv4 spellings as not a URL at all
    if host not in ("127.1", "2130706433"):
        assert "CRM_ALLOWED_NETWORKS" in message


def test_a_host_name_gets_one_answer_whether_internal_or_unknown(
        owner_client: Client, tenant: Tenant, no_allowlist: Any, dns: FakeDNS) -> None:
    fake_dns = dns
    fake_dns.set("crm.internal.example", ["10.1.2.3"])
    fake_dns.set("crm.mixed.example", [PUBLIC_ADDRESS, "169.254.169.254"])
    fake_dns.set("crm.unknown.example", [])
    answers = []
    for name in ("crm.internal.example", "crm.mixed.example", "crm.unknown.example"):
        response = owner_client.post(url(tenant), settings_post(crm_url=f"https://{name}/org"))
        message = crm_errors(response)
        assert HOST_NAME_WORDS in message and "CRM_ALLOWED_NETWORKS" in message
        answers.append(message.replace(name, "NAME"))
    assert len(set(answers)) == 1  # the form does not tell which internal names exist
    assert not OrgSettings.objects.exists()
    fake_dns.set("crm.public.example", [PUBLIC_ADDRESS])
    response = owner_client.post(url(tenant),
                                 settings_post(crm_url="https://crm.public.example/org"))
    assert response.status_code == 302


def test_the_message_is_translated(owner_client: Client, tenant: Tenant, no_allowlist: Any
                                   ) -> None:
    owner_client.post(reverse("set_language"), {"language": "de"})
    response = owner_client.post(url(tenant), settings_post(crm_url="https://10.0.0.1/contoso"))
    message = crm_errors(response)
    assert "CRM_ALLOWED_NETWORKS" in message
    assert "privaten Netz" in message, message


def test_the_allowlist_lets_a_network_and_a_host_name_through(
        owner_client: Client, tenant: Tenant, settings: Any, dns: FakeDNS) -> None:
    settings.CRM_ALLOWED_NETWORKS = ["10.20.0.0/16", "crm.intern.example"]
    response = owner_client.post(url(tenant), settings_post(crm_url="https://10.20.0.5/contoso"))
    assert response.status_code == 302
    response = owner_client.post(url(tenant), settings_post(
        crm_url="https://crm.intern.example/contoso"))  # allowed by name: not even looked up
    assert response.status_code == 302
    assert "crm.intern.example" not in dns.lookups
    response = owner_client.post(url(tenant), settings_post(crm_url="https://10.21.0.5/contoso"))
    assert response.status_code == 200 and "CRM_ALLOWED_NETWORKS" in crm_errors(response)


def test_an_unchanged_url_is_not_checked_again(owner_client: Client, tenant: Tenant,
                                               settings: Any, dns: FakeDNS) -> None:
    """Saving another setting needs no DNS; the connection checks the URL anyway."""
    settings.CRM_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    post = settings_post(crm_url="https://10.20.0.5/contoso", authority_url="https://10.20.0.6")
    assert owner_client.post(url(tenant), post).status_code == 302
    settings.CRM_ALLOWED_NETWORKS = []
    response = owner_client.post(url(tenant), {**post, "sync_interval_minutes": "30"})
    assert response.status_code == 302
    assert OrgSettings.objects.get(tenant=tenant).sync_interval_minutes == 30
    response = owner_client.post(url(tenant), {**post, "crm_url": "https://10.20.0.7/contoso"})
    assert response.status_code == 200 and "CRM_ALLOWED_NETWORKS" in crm_errors(response)


def test_on_premise_does_not_check_the_unused_authority(owner_client: Client, tenant: Tenant,
                                                        no_allowlist: Any, dns: FakeDNS
                                                        ) -> None:
    dns.set("crm.onprem.example", [PUBLIC_ADDRESS])
    response = owner_client.post(url(tenant), settings_post(
        crm_url="https://crm.onprem.example/org", deployment="on_premise",
        onprem_username="CONTOSO\\sync", onprem_password="pw", authority_url="https://10.0.0.1"))
    assert response.status_code == 302
    # Switching to Online later checks the authority it then uses.
    response = owner_client.post(url(tenant), settings_post(
        crm_url="https://crm.onprem.example/org", authority_url="https://10.0.0.1"))
    assert response.status_code == 200
    assert "CRM_ALLOWED_NETWORKS" in crm_errors(response, "authority_url")


def test_applying_to_several_tenants_checks_each_tenant(
        owner_client: Client, owner: AbstractUser, tenant: Tenant, other_tenant: Tenant,
        settings: Any, dns: FakeDNS) -> None:
    """The URL is stored for this tenant (allowed back then), new for the other one: the
    page's tenant does not need a check, the other does, and nothing is saved."""
    Membership.objects.create(user=owner, tenant=other_tenant, role=Role.ADMINISTRATOR)
    settings.CRM_ALLOWED_NETWORKS = ["10.20.0.0/16"]
    post = settings_post(crm_url="https://10.20.0.5/contoso", tenants=[tenant.pk])
    assert owner_client.post(url(tenant), post).status_code == 302
    settings.CRM_ALLOWED_NETWORKS = []
    response = owner_client.post(url(tenant), {**post, "tenants": [tenant.pk, other_tenant.pk],
                                                "sync_interval_minutes": "45"})
    assert response.status_code == 200
    page = response.content.decode()
    assert "CRM_ALLOWED_NETWORKS" in page
    assert not OrgSettings.objects.filter(tenant=other_tenant).exists()
    assert OrgSettings.objects.get(tenant=tenant).sync_interval_minutes == 15


def test_the_service_refuses_for_every_door(tenant: Tenant, no_allowlist: Any) -> None:
    values = {"crm_url": "https://169.254.169.254/latest", "deployment": "online",
              "authority_url": "https://login.microsoftonline.com", "reaction_mode": "absolute",
              "directory_tenant_id": "t", "client_id": "c"}
    with pytest.raises(ValidationError) as exc:
        save_org_settings([tenant], values, {"client_secret": "s"}, user=None)
    assert "CRM_ALLOWED_NETWORKS" in " ".join(exc.value.message_dict["crm_url"])
    assert not OrgSettings.objects.exists()


def test_a_dns_answer_that_changes_after_saving_is_not_connected_to(
        owner_client: Client, tenant: Tenant, settings: Any, fake_dns: FakeDNS) -> None:
    """DNS rebinding: the name is public when saved and points at loopback afterwards.
    The job's client checks again at connect time and does not connect; with loopback
    allowed, the same client does reach the listener, so the test would see it."""
    settings.CRM_ALLOWED_NETWORKS = []

    def challenge(_r: Request) -> Any:
        return http_answer(401, WWW_Authenticate="NTLM")

    with Listener(answer=challenge) as crm_host:
        fake_dns.set("crm.rebind.example", [PUBLIC_ADDRESS])
        response = owner_client.post(url(tenant), settings_post(
            crm_url=f"http://crm.rebind.example:{crm_host.port}/contoso",
            deployment="on_premise", onprem_username="CONTOSO\\sync", onprem_password="pw"))
        assert response.status_code == 302
        fake_dns.set("crm.rebind.example", ["127.0.0.1"])
        with client_for(tenant) as crm, pytest.raises(errors.DestinationRefused) as exc:
            crm.probe()
        assert exc.value.address == "127.0.0.1"
        with client_for(tenant) as crm, pytest.raises(errors.DestinationRefused):
            crm.who_am_i()
        assert crm_host.connections == 0
        settings.CRM_ALLOWED_NETWORKS = ["127.0.0.1/32"]
        with client_for(tenant) as crm:
            assert crm.probe().dataverse
        assert crm_host.connections == 1


def test_manage_py_check_names_a_bad_setting(settings: Any) -> None:
    from orgsettings.apps import outbound_settings_check

    settings.CRM_ALLOWED_NETWORKS = ["10.0.0.0/8", "10.0.0.0/33"]
    settings.CRM_HTTPS_PROXY = "socks5://127.0.0.1:1080"
    errors = outbound_settings_check()
    assert [e.id for e in errors] == ["orgsettings.E001", "orgsettings.E002"]
    assert "10.0.0.0/33" in errors[0].msg and "CRM_ALLOWED_NETWORKS" in errors[0].msg
    settings.CRM_ALLOWED_NETWORKS = ["10.0.0.0/8", "crm.intern.example"]
    settings.CRM_HTTPS_PROXY = "http://proxy.intern.example:3128"
    assert outbound_settings_check() == []
