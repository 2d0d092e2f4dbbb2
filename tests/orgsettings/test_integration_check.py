"""Check integration (C9, C15) against the Dataverse emulator over real HTTPS."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import translation

from dynamics_emulator import credentials
from dynamics_emulator.server import EmulatorServer
from mailworx_crm.texts import render
from orgsettings.connection import client_for
from orgsettings.integration_access import prepare_mailworx
from orgsettings.journeys_check import journeys_consent_check
from orgsettings.models import OrgSettings
from orgsettings.progress import integration_ready, setup_steps
from syncjobs import runner
from syncjobs.models import JobKind, JobRun, JobStatus
from tenants.models import Tenant
from tests.crm_fixtures import configure_tenant_for_emulator

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_dispatch")]




def run_check(tenant: Tenant) -> JobRun:
    run = runner.enqueue(tenant, JobKind.INTEGRATION_CHECK)
    runner.execute(run.pk)
    run.refresh_from_db()
    return run


def steps(run: JobRun) -> dict[str, dict[str, Any]]:
    """The steps with their messages and hints as an English reader sees them."""
    return {s["key"]: {**s, "message": render(s["message"]), "hint": render(s["hint"])}
            for s in run.result["steps"]}


def test_a_correct_online_setup_passes_every_step(tenant: Tenant, crm: EmulatorServer) -> None:
    configure_tenant_for_emulator(tenant, crm)
    run = run_check(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    result = steps(run)
    assert [s["status"] for s in result.values()] == ["ok"] * 11, result
    assert result["version"]["message"].startswith("Version 9.2")
    # contoso has Customer Insights – Journeys, and the connector's role may write consent.
    assert "“Commercial communications”" in result["journeys"]["message"]
    assert "mailworx Administrator" in result["roles"]["message"]
    assert integration_ready(tenant)


def test_a_wrong_secret_fails_at_sign_in_and_skips_the_rest(tenant: Tenant, crm: EmulatorServer
                                                           ) -> None:
    configure_tenant_for_emulator(tenant, crm, client_secret="not-the-secret")
    run = run_check(tenant)
    assert run.status == JobStatus.FAILED
    result = steps(run)
    assert result["reach"]["status"] == "ok" and result["tls"]["status"] == "ok"
    assert result["auth"]["status"] == "failed"
    assert "client secret" in result["auth"]["message"]
    assert {result[k]["status"] for k in ("whoami", "version", "schema", "roles")} == {"skipped"}
    assert "Sign-in works" in run.error
    assert not integration_ready(tenant)


def test_an_untrusted_certificate_is_named_with_a_fix(tenant: Tenant, crm: EmulatorServer) -> None:
    configure_tenant_for_emulator(tenant, crm, ca_bundle="")
    result = steps(run_check(tenant))
    assert result["tls"]["status"] == "failed"
    assert "CA certificates" in result["tls"]["hint"]


def test_an_app_without_application_user_fails_at_whoami(tenant: Tenant, crm: EmulatorServer
                                                         ) -> None:
    configure_tenant_for_emulator(tenant, crm, client_id=credentials.ORPHAN_CLIENT_ID,
                                  client_secret=credentials.ORPHAN_CLIENT_SECRET)
    result = steps(run_check(tenant))
    assert result["auth"]["status"] == "ok"
    assert result["whoami"]["status"] == "failed"
    assert "application user" in result["whoami"]["hint"]


def test_on_premise_ntlm_passes_with_warnings_for_tracking(tenant: Tenant, crm: EmulatorServer
                                                          ) -> None:
    configure_tenant_for_emulator(tenant, crm, org="fabrikam")
    run = run_check(tenant)
    result = steps(run)
    assert result["version"]["message"] == "Version 8.2.2.112, through the Web API (v8.2)."
    assert result["change_tracking"]["status"] == "warning"
    assert "$batch" in result["bulk"]["message"]
    assert result["journeys"]["status"] == "ok"
    assert "“do not allow bulk email” carries consent" in result["journeys"]["message"]
    assert run.status == JobStatus.SUCCEEDED, run.error


def test_a_user_without_the_roles_fails_at_privileges(tenant: Tenant, crm: EmulatorServer) -> None:
    domain, user, password = credentials.NTLM_USERS[2]  # a salesperson, no mailworx role
    configure_tenant_for_emulator(tenant, crm, org="fabrikam", onprem_username=f"{domain}\\{user}",
                                  onprem_password=password)
    run = run_check(tenant)
    result = steps(run)
    assert result["privileges"]["status"] == "failed"
    assert "prvReadUser" in result["privileges"]["message"]
    assert "mailworx User" in result["privileges"]["hint"]
    assert result["roles"]["status"] == "failed"  # may not even read the roles
    assert run.status == JobStatus.FAILED
    assert "privileges" in run.error


@pytest.mark.parametrize(("org", "version"), [("legacy2013", "6.1"), ("legacy2015", "7.1")])
def test_crm_2013_and_2015_pass_through_the_organization_service(
        tenant: Tenant, crm: EmulatorServer, org: str, version: str) -> None:
    """No Web API there: the check detects the version, chooses SOAP and says so; syncs
    then use the Organization Service."""
    configure_tenant_for_emulator(tenant, crm, org=org)
    run = run_check(tenant)
    result = steps(run)
    assert run.status == JobStatus.SUCCEEDED, (run.error, result)
    assert result["version"]["message"].startswith(f"Version {version}")
    assert "Organization Service (SOAP)" in result["version"]["message"]
    assert result["change_tracking"]["status"] == "warning"
    assert "modification date" in result["change_tracking"]["message"]
    assert "ExecuteMultiple" in result["bulk"]["message"]
    settings = OrgSettings.objects.get(tenant=tenant)
    assert (settings.crm_protocol, settings.crm_api_version) == ("soap", "")
    with client_for(tenant) as client:
        assert client.protocol == "soap"
        assert client.who_am_i().user_id


def test_a_deployment_without_windows_sign_in_is_named_not_a_wrong_password(
        tenant: Tenant, crm: EmulatorServer) -> None:
    """CRM 2013/2015 set up for claims/IFD answers Windows sign-in with a bearer challenge
    only: the connector (NTLM on-premise) cannot connect, and the check says why."""
    configure_tenant_for_emulator(tenant, crm, org="legacyifd")
    run = run_check(tenant)
    result = steps(run)
    assert run.status == JobStatus.FAILED
    assert result["reach"]["status"] == "failed", result
    assert "only claims-based sign-in through AD FS" in result["reach"]["message"]
    assert "Online" not in result["reach"]["message"]  # not taken for Dynamics 365 Online
    with translation.override("de"):
        german = render(next(s for s in run.result["steps"] if s["key"] == "reach")["message"])
    assert "AD FS" in german and "Windows-Anmeldung" in german, german


def test_crm_2016_rtm_is_found_at_its_highest_web_api_version(tenant: Tenant,
                                                              crm: EmulatorServer) -> None:
    """8.0 has no v8.2, the version the settings assume on-premise: the check finds v8.0."""
    configure_tenant_for_emulator(tenant, crm, org="crm80")
    run = run_check(tenant)
    result = steps(run)
    assert run.status == JobStatus.SUCCEEDED, (run.error, result)
    assert result["version"]["message"] == "Version 8.0.1.79, through the Web API (v8.0)."
    settings = OrgSettings.objects.get(tenant=tenant)
    assert (settings.crm_protocol, settings.crm_api_version) == ("webapi", "v8.0")
    with client_for(tenant) as client:
        assert client.transport.connection.api_url.endswith("/api/data/v8.0/")


def test_the_protocol_is_named_in_german(tenant: Tenant, crm: EmulatorServer) -> None:
    configure_tenant_for_emulator(tenant, crm, org="legacy2015")
    run = run_check(tenant)
    with translation.override("de"):
        message = render(next(s for s in run.result["steps"] if s["key"] == "version")["message"])
    assert message.startswith("Version 7.1") and "Organization Service (SOAP)" in message
    assert message.startswith("Version 7.1.0.2014, über den Organization Service (SOAP)")


def test_an_unreachable_crm_fails_at_the_first_step(tenant: Tenant, crm: EmulatorServer) -> None:
    configure_tenant_for_emulator(tenant, crm, crm_url="https://127.0.0.1:9/contoso")
    result = steps(run_check(tenant))
    assert result["reach"]["status"] == "failed"
    assert "firewall" in result["reach"]["hint"]


def test_changing_the_connection_asks_for_a_new_check(tenant: Tenant, crm: EmulatorServer) -> None:
    configure_tenant_for_emulator(tenant, crm)
    prepare_mailworx(tenant, user=None)
    run_check(tenant)
    assert integration_ready(tenant)
    assert next(s for s in setup_steps(tenant) if s.key == "check").done
    configure_tenant_for_emulator(tenant, crm, sync_interval_minutes=30)  # not a connection field
    assert integration_ready(tenant)
    configure_tenant_for_emulator(tenant, crm, client_secret=credentials.LIMITED_CLIENT_SECRET,
                                  client_id=credentials.LIMITED_CLIENT_ID)
    assert not integration_ready(tenant)
    step = next(s for s in setup_steps(tenant) if s.key == "check")
    assert not step.done and "changed" in step.reason


class TestCheckPage:
    def url(self, tenant: Tenant) -> str:
        return reverse("orgsettings:check", kwargs={"tenant": tenant.slug})

    def test_owner_and_member_start_a_check(self, tenant: Tenant, crm: EmulatorServer,
                                            owner_client: Client, member_client: Client,
                                            no_dispatch: list[int],
                                            django_capture_on_commit_callbacks: Any) -> None:
        configure_tenant_for_emulator(tenant, crm)
        prepare_mailworx(tenant, user=None)
        with django_capture_on_commit_callbacks(execute=True):
            response = member_client.post(self.url(tenant))
        assert response.status_code == 302
        run = JobRun.objects.get(tenant=tenant, kind=JobKind.INTEGRATION_CHECK)
        assert no_dispatch == [run.pk]
        runner.execute(run.pk)
        page = owner_client.get(self.url(tenant)).content.decode()
        assert 'data-step="schema" data-status="ok"' in page
        assert "The mailworx solution is installed" in page

    def test_check_needs_settings_and_prepare(self, tenant: Tenant, owner_client: Client) -> None:
        response = owner_client.post(self.url(tenant), follow=True)
        assert "Save the organisation settings first." in response.content.decode()
        assert not JobRun.objects.filter(tenant=tenant).exists()

    def test_outsider_gets_404(self, tenant: Tenant, outsider_client: Client) -> None:
        assert outsider_client.get(self.url(tenant)).status_code == 404
        assert outsider_client.post(self.url(tenant)).status_code == 404
        assert not JobRun.objects.filter(tenant=tenant).exists()

    def test_results_render_in_german(self, tenant: Tenant, crm: EmulatorServer,
                                      owner_client: Client) -> None:
        configure_tenant_for_emulator(tenant, crm, client_secret="wrong")
        prepare_mailworx(tenant, user=None)
        owner_client.post(reverse("set_language"), {"language": "de"})
        owner_client.post(self.url(tenant))
        run = JobRun.objects.get(tenant=tenant)
        assert run.params["language"] == "de"
        runner.execute(run.pk)
        page = owner_client.get(self.url(tenant)).content.decode()
        assert OrgSettings.objects.get(tenant=tenant).check_passed_at is None
        assert 'lang="de"' in page


def test_journeys_without_the_rights_on_its_consent_table_is_a_warning(
        tenant: Tenant, crm: EmulatorServer) -> None:
    configure_tenant_for_emulator(tenant, crm)
    with client_for(tenant) as client:
        status, message, hint = journeys_consent_check(client, {"prvReadmsdynmkt_purpose"})
    assert status == "warning"
    assert "prvCreatemsdynmkt_contactpointconsent4" in render(message)
    assert "prvAppendTomsdynmkt_purpose" in render(message)
    assert "security role" in render(hint)
