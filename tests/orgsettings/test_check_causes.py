"""The integration check names the cause (issue "The admin's experience"): a misspelt
organisation, the wrong deployment, an unreachable sign-in host — against the emulator
over HTTPS, read on the check page in English and German."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from dynamics_emulator import credentials
from dynamics_emulator.server import EmulatorServer
from mailworx_crm.texts import render
from syncjobs import runner
from syncjobs.models import JobKind, JobRun
from tenants.models import Tenant
from tests.crm_fixtures import configure_tenant_for_emulator

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_dispatch")]


def run_check(tenant: Tenant) -> JobRun:
    run = runner.enqueue(tenant, JobKind.INTEGRATION_CHECK)
    runner.execute(run.pk)
    run.refresh_from_db()
    return run


def steps(run: JobRun) -> dict[str, dict[str, Any]]:
    return {s["key"]: {**s, "message": render(s["message"]), "hint": render(s["hint"])}
            for s in run.result["steps"]}


def test_a_misspelt_organisation_is_not_found_and_the_crm_does_not_answer(
        tenant: Tenant, crm: EmulatorServer) -> None:
    configure_tenant_for_emulator(tenant, crm, crm_url=crm.org_url("contosso"))
    result = steps(run_check(tenant))
    assert result["reach"]["status"] == "failed", result["reach"]
    assert "contosso was not found" in result["reach"]["message"]
    assert "organisation name" in result["reach"]["hint"]
    assert result["auth"]["status"] == "skipped"
    assert "invalid_resource" not in str(result)


def test_online_chosen_for_an_on_premise_crm_says_so(tenant: Tenant, crm: EmulatorServer
                                                    ) -> None:
    configure_tenant_for_emulator(
        tenant, crm, "fabrikam", deployment="online", directory_tenant_id=credentials.TENANT_ID,
        client_id=credentials.CLIENT_ID, client_secret=credentials.CLIENT_SECRET)
    result = steps(run_check(tenant))
    assert result["reach"]["status"] == "failed"
    assert "on-premise CRM" in result["reach"]["message"]
    assert "“On-premise”" in result["reach"]["hint"]


def test_on_premise_chosen_for_an_online_crm_says_so(tenant: Tenant, crm: EmulatorServer
                                                    ) -> None:
    configure_tenant_for_emulator(tenant, crm, "contoso", deployment="on_premise",
                                  onprem_username="FABRIKAM\\crmadmin",
                                  onprem_password="Pass@word1")
    result = steps(run_check(tenant))
    assert result["reach"]["status"] == "failed"
    assert "Dynamics 365 Online" in result["reach"]["message"]
    assert result["auth"]["status"] == "skipped"


def test_whoami_names_the_user_and_business_unit(tenant: Tenant, crm: EmulatorServer) -> None:
    configure_tenant_for_emulator(tenant, crm)
    message = steps(run_check(tenant))["whoami"]["message"]
    assert "# mailworx Connector" in message, message
    assert not any(len(part) == 36 and part.count("-") == 4 for part in message.split("“"))


def test_the_check_page_reads_in_the_readers_language(tenant: Tenant, crm: EmulatorServer,
                                                      owner_client: Client) -> None:
    """Written by a worker once, read in German by one admin and in English by another."""
    configure_tenant_for_emulator(tenant, crm, crm_url=crm.org_url("contosso"))
    run = run_check(tenant)
    url = run.get_absolute_url()
    german = owner_client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    english = owner_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "wurde nicht gefunden" in german and "Die CRM-Organisation" not in english
    assert "was not found" in english and "was not found" not in german
    assert "Der CRM-Server antwortet" in german or "Das CRM antwortet" in german
