"""The setup page's actions through the API (#19): "prepare mailworx" with its credentials
shown once, the integration check and the attribute pull as jobs to poll, the catalogue and
the owner directory — with the page's gating and refusals (409 with the page's words),
administrators acting, members reading, outsiders finding nothing."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from businessunits.models import CrmPrincipal
from dynamics_emulator.server import EmulatorServer
from fieldmapping.models import CrmAttribute
from orgsettings.integration_access import prepare_mailworx
from orgsettings.models import IntegrationAccess
from syncjobs import runner
from syncjobs.models import JobKind, JobRun, JobStatus
from tenants.models import Tenant
from tests.api.conftest import token_client
from tests.crm_fixtures import configure_tenant_for_emulator
from tests.mapping_fixtures import save_settings

pytestmark = pytest.mark.django_db


def url(path: str) -> str:
    return f"/api/v1/tenants/acme/{path}"


class TestPrepare:
    def test_credentials_once_then_state_without_secrets(
            self, tenant: Tenant, owner_api: APIClient) -> None:
        refused = owner_api.post(url("setup/prepare/"))
        assert refused.status_code == 409
        assert refused.json()["detail"] == "Save the organisation settings first."
        save_settings(tenant)
        assert owner_api.get(url("setup/prepare/")).json()["prepared"] is False
        issued = owner_api.post(url("setup/prepare/"))
        assert issued.status_code == 201, issued.content
        assert issued["Cache-Control"] == "no-store"
        body = issued.json()
        assert body["username"] == "integration-acme"
        assert body["password"] and body["activation_key"] and body["token"]
        state = owner_api.get(url("setup/prepare/")).json()
        assert state["prepared"] is True and state["issued_by"] == "owner@acme.example"
        assert not {"password", "activation_key", "token"} & set(state)
        for secret in (body["password"], body["activation_key"], body["token"]):
            assert secret not in str(state)
        again = owner_api.post(url("setup/prepare/"))
        assert again.status_code == 409 and "re-issue" in again.json()["detail"]
        # The token works for the integration user's CRM-side endpoints only.
        crm_side = token_client(None, body["token"])
        assert crm_side.get(url("subscribers/")).status_code == 404

    def test_reissue_replaces_and_revoke_ends(self, tenant: Tenant,
                                              owner_api: APIClient) -> None:
        assert owner_api.post(url("setup/prepare/reissue/")).status_code == 409
        assert owner_api.post(url("setup/prepare/revoke/")).status_code == 409
        save_settings(tenant)
        first = owner_api.post(url("setup/prepare/")).json()
        second = owner_api.post(url("setup/prepare/reissue/"))
        assert second.status_code == 200 and second["Cache-Control"] == "no-store"
        assert second.json()["password"] != first["password"]
        revoked = owner_api.post(url("setup/prepare/revoke/"))
        assert revoked.status_code == 200 and revoked.json()["revoked"] is True
        assert not IntegrationAccess.objects.filter(tenant=tenant).exists()

    def test_members_read_outsiders_find_nothing(
            self, tenant: Tenant, member_api: APIClient, outsider_api: APIClient) -> None:
        save_settings(tenant)
        assert member_api.get(url("setup/prepare/")).status_code == 200
        for path in ("setup/prepare/", "setup/prepare/reissue/", "setup/prepare/revoke/"):
            assert member_api.post(url(path)).status_code == 403
            assert outsider_api.post(url(path)).status_code == 404
        assert outsider_api.get(url("setup/prepare/")).status_code == 404
        assert not IntegrationAccess.objects.filter(tenant=tenant).exists()


class TestIntegrationCheck:
    def test_gated_as_on_the_page(self, tenant: Tenant, owner_api: APIClient,
                                  owner_client: Client, no_dispatch: list[int]) -> None:
        answer = owner_api.post(url("setup/integration-checks/"))
        assert answer.status_code == 409
        assert answer.json() == {"detail": "Save the organisation settings first.",
                                 "active_run": None}
        save_settings(tenant)
        answer = owner_api.post(url("setup/integration-checks/"))
        assert answer.status_code == 409 and answer.json()["detail"] == "Prepare mailworx first."
        # The page refuses with the same words (one service decides for both).
        page = owner_client.post("/t/acme/setup/check/", follow=True)
        assert "Prepare mailworx first." in page.content.decode()
        assert not JobRun.objects.exists() and no_dispatch == []

    def test_runs_and_reports_steps_and_verdict(
            self, tenant: Tenant, owner: AbstractUser, member_api: APIClient,
            crm: EmulatorServer, no_dispatch: list[int]) -> None:
        configure_tenant_for_emulator(tenant, crm)
        prepare_mailworx(tenant, user=owner)
        started = member_api.post(url("setup/integration-checks/"))  # any member may
        assert started.status_code == 202, started.content
        check = started.json()
        assert check["status"] == "queued" and check["verdict"] == "pending"
        second = member_api.post(url("setup/integration-checks/"))
        assert second.status_code == 409 and second.json()["active_run"] == check["id"]
        assert runner.execute(check["id"]) == JobStatus.SUCCEEDED
        done = member_api.get(url(f"setup/integration-checks/{check['id']}/")).json()
        assert done["verdict"] == "passed" and done["status"] == "succeeded"
        steps = {s["key"]: s for s in done["steps"]}
        assert steps["auth"]["status"] == "ok" and steps["auth"]["message"] == "Signed in."
        assert all(s["status"] in ("ok", "warning") for s in steps.values())
        listed = member_api.get(url("setup/integration-checks/")).json()
        assert [c["id"] for c in listed["results"]] == [check["id"]]

    def test_a_failed_check_names_the_step(
            self, tenant: Tenant, owner: AbstractUser, owner_api: APIClient,
            crm: EmulatorServer, no_dispatch: list[int]) -> None:
        configure_tenant_for_emulator(tenant, crm, client_secret="wrong")
        prepare_mailworx(tenant, user=owner)
        check = owner_api.post(url("setup/integration-checks/")).json()
        runner.execute(check["id"])
        done = owner_api.get(url(f"setup/integration-checks/{check['id']}/")).json()
        assert done["verdict"] == "failed"
        failed = [s for s in done["steps"] if s["status"] == "failed"]
        assert failed and failed[0]["message"]
        assert "skipped" in {s["status"] for s in done["steps"]}

    def test_outsider_404(self, tenant: Tenant, outsider_api: APIClient) -> None:
        save_settings(tenant)
        assert outsider_api.post(url("setup/integration-checks/")).status_code == 404
        assert outsider_api.get(url("setup/integration-checks/")).status_code == 404


class TestAttributePull:
    def test_gated_started_and_polled(self, tenant: Tenant, owner_api: APIClient,
                                      member_api: APIClient, outsider_api: APIClient,
                                      crm: EmulatorServer, no_dispatch: list[int]) -> None:
        refused = owner_api.post(url("setup/attribute-pulls/"))
        assert refused.status_code == 409
        assert refused.json()["detail"] == "Save the organisation settings first."
        configure_tenant_for_emulator(tenant, crm)
        assert member_api.post(url("setup/attribute-pulls/")).status_code == 403
        assert outsider_api.post(url("setup/attribute-pulls/")).status_code == 404
        started = owner_api.post(url("setup/attribute-pulls/"))
        assert started.status_code == 202 and started.json()["kind"] == "attribute_pull"
        run_id = started.json()["id"]
        busy = owner_api.post(url("setup/attribute-pulls/"))
        assert busy.status_code == 409 and busy.json()["active_run"] == run_id
        assert runner.execute(run_id) == JobStatus.SUCCEEDED
        done = member_api.get(url(f"setup/attribute-pulls/{run_id}/")).json()
        assert done["status"] == "succeeded" and done["result"]["added"] > 0
        assert outsider_api.get(url(f"setup/attribute-pulls/{run_id}/")).status_code == 404


class TestCatalogue:
    def test_per_table_type_options_and_mappable(
            self, tenant: Tenant, catalogue: None, member_api: APIClient) -> None:
        body = member_api.get(url("crm-attributes/"), {"table": "contact",
                                                       "page_size": 1000}).json()
        rows = {a["logical_name"]: a for a in body["results"]}
        assert {a["table"] for a in rows.values()} == {"contact"}
        assert rows["lastname"]["mappable"] is True
        assert rows["lastname"]["fits_field_type"] == "text"
        choice = next(a for a in rows.values() if a["type"] == "picklist")
        assert choice["options"] and {"value", "label"} <= set(choice["options"][0])
        assert choice["fits_field_type"] == "single_select"
        lookups = [a for a in rows.values() if a["type"] in ("lookup", "customer")]
        assert lookups and all(a["mappable"] and a["fits_field_type"] is None
                               for a in lookups)
        multi = [a for a in rows.values() if a["type"] == "multiselectpicklist"]
        assert multi and not any(a["mappable"] for a in multi) and multi[0]["options"]
        not_mappable = member_api.get(url("crm-attributes/"), {
            "table": "contact", "mappable": "false", "page_size": 1000}).json()["results"]
        assert not_mappable and not any(a["mappable"] for a in not_mappable)
        assert {a["type"] for a in member_api.get(url("crm-attributes/"), {
            "type": "picklist"}).json()["results"]} == {"picklist"}
        one = member_api.get(url("crm-attributes/"), {"table": "contact",
                                                      "logical_name": "lastname"}).json()
        assert one["count"] == 1
        attr = CrmAttribute.objects.get(tenant=tenant, entity="contact", logical_name="lastname")
        assert one["results"][0]["id"] == attr.pk
        assert member_api.get(url(f"crm-attributes/{attr.pk}/")).json()["logical_name"] == (
            "lastname")

    def test_its_ids_are_what_mapping_create_takes(
            self, tenant: Tenant, catalogue: None, owner_api: APIClient) -> None:
        save_settings(tenant)
        unit = owner_api.post(url("business-units/"), {
            "name": "Sales", "owner_id": str(uuid.uuid4()), "owner_name": "Sales",
            "owner_type": "team"}, format="json").json()
        attr = owner_api.get(url("crm-attributes/"), {
            "table": "contact", "logical_name": "firstname"}).json()["results"][0]
        field = owner_api.get(url("subscriber-fields/"), {"key": "first_name"}).json()
        assert field["count"] == 1
        made = owner_api.post(url(f"business-units/{unit['id']}/field-mappings/"), {
            "entity_type": "contact", "crm_attribute": attr["id"],
            "subscriber_field": field["results"][0]["id"]}, format="json")
        assert made.status_code == 201, made.content

    def test_vanished_only_on_request_and_outsider_404(
            self, tenant: Tenant, catalogue: None, member_api: APIClient,
            outsider_api: APIClient) -> None:
        gone = CrmAttribute.objects.filter(tenant=tenant, entity="contact").first()
        assert gone is not None
        CrmAttribute.objects.filter(pk=gone.pk).update(present=False)
        ids = {a["id"] for a in member_api.get(url("crm-attributes/"), {
            "page_size": 1000}).json()["results"]}
        assert gone.pk not in ids
        ids = {a["id"] for a in member_api.get(url("crm-attributes/"), {
            "page_size": 1000, "include_vanished": "true"}).json()["results"]}
        assert gone.pk in ids
        assert outsider_api.get(url("crm-attributes/")).status_code == 404
        assert outsider_api.get(url(f"crm-attributes/{gone.pk}/")).status_code == 404


class TestOwners:
    def _cache(self, tenant: Tenant) -> None:
        now = timezone.now()
        for name, kind, active in (("Anna Berger", "systemuser", True),
                                   ("Marketing DACH", "team", True),
                                   ("Gerhard Ausgeschieden", "systemuser", False)):
            CrmPrincipal.objects.create(tenant=tenant, crm_id=uuid.uuid4(), name=name,
                                        principal_type=kind, is_active=active,
                                        refreshed_at=now)

    def test_search_the_cache(self, tenant: Tenant, member_api: APIClient,
                              outsider_api: APIClient) -> None:
        self._cache(tenant)
        names = [p["name"] for p in member_api.get(url("crm-owners/")).json()["results"]]
        assert names == ["Anna Berger", "Marketing DACH"]
        found = member_api.get(url("crm-owners/"), {"search": "anna berg"}).json()["results"]
        assert [(p["name"], p["type"]) for p in found] == [("Anna Berger", "systemuser")]
        teams = member_api.get(url("crm-owners/"), {"type": "team"}).json()["results"]
        assert [p["name"] for p in teams] == ["Marketing DACH"]
        everyone = member_api.get(url("crm-owners/"), {"include_inactive": "true"}).json()
        assert everyone["count"] == 3
        assert outsider_api.get(url("crm-owners/")).status_code == 404

    def test_refresh_is_a_job(self, tenant: Tenant, owner_api: APIClient,
                              member_api: APIClient, outsider_api: APIClient,
                              crm: EmulatorServer, no_dispatch: list[int]) -> None:
        refused = owner_api.post(url("crm-owners/refresh/"))
        assert refused.status_code == 409 and "organisation settings" in refused.json()["detail"]
        configure_tenant_for_emulator(tenant, crm)
        assert member_api.post(url("crm-owners/refresh/")).status_code == 403
        assert outsider_api.post(url("crm-owners/refresh/")).status_code == 404
        started = owner_api.post(url("crm-owners/refresh/"))
        assert started.status_code == 202 and started.json()["kind"] == JobKind.OWNER_REFRESH
        assert owner_api.post(url("crm-owners/refresh/")).status_code == 409
        assert runner.execute(started.json()["id"]) == JobStatus.SUCCEEDED
        found = owner_api.get(url("crm-owners/"), {"search": "Anna Berger"}).json()["results"]
        assert found and found[0]["type"] == "systemuser"
