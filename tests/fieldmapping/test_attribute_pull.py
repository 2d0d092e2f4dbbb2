"""C10: the CRM attribute pull, run as a job against the emulator over real HTTPS."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audience.models import SubscriberField
from businessunits.models import BusinessUnit
from dynamics import DataverseClient
from fieldmapping import services
from fieldmapping.models import CrmAttribute, FieldMapping
from syncjobs import runner
from syncjobs.models import JobRun, JobStatus
from tenants.models import Tenant
from tests.crm_fixtures import configure_tenant_for_emulator
from tests.mapping_fixtures import make_unit

pytestmark = pytest.mark.django_db


def pull(tenant: Tenant) -> JobRun:
    run = runner.enqueue(tenant, "attribute_pull")
    runner.execute(run.pk)
    run.refresh_from_db()
    return run


def attr(tenant: Tenant, path: str) -> CrmAttribute:
    entity, name = path.split(".")
    return CrmAttribute.objects.get(tenant=tenant, entity=entity, logical_name=name)


def test_it_pulls_contact_account_and_lead_with_labels_options_and_lookups(
    tenant: Tenant, crm_server: Any, no_dispatch: list[int]
) -> None:
    configure_tenant_for_emulator(tenant, crm_server)
    run = pull(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.percent == 100
    entities = set(CrmAttribute.objects.filter(tenant=tenant).values_list("entity", flat=True))
    assert {"contact", "account", "lead"} <= entities
    assert "systemuser" in entities  # createdby → systemuser, a lookup target
    email = attr(tenant, "contact.emailaddress1")
    assert (email.display_name_en, email.display_name_de) == ("Email", "E-Mail")
    assert email.attribute_type == "string" and email.max_length == 100
    salutation = attr(tenant, "contact.mwx_salutation")
    assert salutation.attribute_type == "picklist"
    assert {(o.value, o.label_en, o.label_de) for o in salutation.options.all()} >= {
        (100000000, "Mr", "Herr"), (100000001, "Ms", "Frau")}
    topics = attr(tenant, "contact.mwx_topics")
    assert topics.attribute_type == "multiselectpicklist"
    assert topics.options.count() == 4
    parent = attr(tenant, "contact.parentcustomerid")
    assert parent.is_lookup and set(parent.lookup_targets) == {"account", "contact"}
    assert services.related_candidates(parent).filter(
        entity="account", logical_name="name").exists()
    assert attr(tenant, "contact.birthdate").date_behavior == "DateOnly"
    assert attr(tenant, "contact.mwx_consenton").date_behavior == "TimeZoneIndependent"
    assert not attr(tenant, "contact.fullname").is_valid_for_update
    assert attr(tenant, "lead.leadsourcecode").options.filter(label_de="Werbung").exists()
    assert run.result["added"] == CrmAttribute.objects.filter(tenant=tenant).count()
    assert run.result["vanished"] == [] and run.result["flagged_mappings"] == []
    assert run.counters["tables"] >= 4


def test_a_rerun_flags_mappings_whose_attribute_vanished(
    tenant: Tenant, crm_server: Any, no_dispatch: list[int], owner_client: Client,
    standard_fields: dict[str, SubscriberField], monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure_tenant_for_emulator(tenant, crm_server)
    assert pull(tenant).status == JobStatus.SUCCEEDED
    unit = make_unit(tenant)
    mapping = services.save_mapping(unit, "contact", services.MappingInput(
        crm_attribute=attr(tenant, "contact.jobtitle"),
        subscriber_field=SubscriberField.objects.create(
            tenant=tenant, key="jobtitle", label_en="Job title", label_de="Position",
            field_type="text", position=50)))

    # The CRM's customiser deletes the column: the metadata no longer lists it.
    original = DataverseClient.entity_attributes

    def without_jobtitle(self: DataverseClient, logical_name: str) -> Any:
        rows = original(self, logical_name)
        return [a for a in rows if not (logical_name == "contact"
                                        and a.logical_name == "jobtitle")]

    monkeypatch.setattr(DataverseClient, "entity_attributes", without_jobtitle)
    run = pull(tenant)
    assert run.status == JobStatus.SUCCEEDED
    assert run.result["vanished"] == ["contact.jobtitle"]
    assert run.result["flagged_mappings"] == [{
        "unit": unit.name, "unit_id": unit.pk, "entity_type": "contact",
        "mapping": "jobtitle", "subscriber_field": "Job title"}]
    assert not attr(tenant, "contact.jobtitle").present
    assert any("jobtitle" in line.message and unit.name in line.message
               for line in run.log_lines.all())

    # The overview flags the mapping, and the run's page lists it by unit.
    page = owner_client.get(reverse("businessunits:detail",
                                    kwargs={"tenant": tenant.slug, "pk": unit.pk}))
    assert "no longer exists in the CRM" in page.content.decode()
    job_page = owner_client.get(run.get_absolute_url()).content.decode()
    assert "contact.jobtitle" in job_page and "Mappings to check" in job_page
    assert FieldMapping.objects.filter(pk=mapping.pk).exists()  # flagged, not deleted


def test_a_wrong_secret_fails_with_the_clients_explanation(
    tenant: Tenant, crm_server: Any, no_dispatch: list[int]
) -> None:
    configure_tenant_for_emulator(tenant, crm_server, client_secret="not-the-secret")
    run = pull(tenant)
    assert run.status == JobStatus.FAILED
    assert run.error.startswith("The sign-in service rejected the client secret")
    assert "Traceback" not in run.error and "not-the-secret" not in run.error
    assert not CrmAttribute.objects.filter(tenant=tenant).exists()


def test_without_settings_the_pull_fails_readably(tenant: Tenant, no_dispatch: list[int]
                                                  ) -> None:
    run = pull(tenant)
    assert run.status == JobStatus.FAILED
    assert run.error == "Save the organisation settings first."


# --- the page and its button --------------------------------------------------------------


def pull_url(tenant: Tenant) -> str:
    return reverse("fieldmapping:attribute_pull", kwargs={"tenant": tenant.slug})


def test_owner_starts_a_pull_from_the_unit_page_and_sees_its_progress(
    owner_client: Client, tenant: Tenant, unit: BusinessUnit, no_dispatch: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    detail = reverse("businessunits:detail", kwargs={"tenant": tenant.slug, "pk": unit.pk})
    page = owner_client.get(detail).content.decode()
    assert "Synchronise CRM attributes" in page and pull_url(tenant) in page
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(pull_url(tenant), {"next": detail})
    assert response.status_code == 302 and response["Location"] == detail
    run = JobRun.objects.get(tenant=tenant, kind="attribute_pull")
    assert no_dispatch == [run.pk]
    page = owner_client.get(detail).content.decode()
    progress = reverse("syncjobs:progress", kwargs={"tenant": tenant.slug, "pk": run.pk})
    assert f'hx-get="{progress}"' in page  # the partial polls while the run is queued


def test_a_second_pull_while_one_is_active_is_refused_with_a_link(
    owner_client: Client, tenant: Tenant, unit: BusinessUnit, no_dispatch: list[int],
) -> None:
    first = runner.enqueue(tenant, "attribute_pull")
    response = owner_client.post(pull_url(tenant), follow=True)
    assert JobRun.objects.filter(tenant=tenant, kind="attribute_pull").count() == 1
    text = response.content.decode()
    assert "already" in text and first.get_absolute_url() in text
    htmx = owner_client.post(pull_url(tenant), HTTP_HX_REQUEST="true").content.decode()
    assert "a second one was not started" in htmx and f'id="job-{first.pk}"' in htmx


def test_htmx_start_returns_the_progress_partial(
    owner_client: Client, tenant: Tenant, unit: BusinessUnit, no_dispatch: list[int],
) -> None:
    response = owner_client.post(pull_url(tenant), HTTP_HX_REQUEST="true")
    run = JobRun.objects.get(tenant=tenant, kind="attribute_pull")
    assert response.status_code == 200
    assert f'id="job-{run.pk}"' in response.content.decode()


def test_member_sees_the_run_but_cannot_start_one(
    member_client: Client, tenant: Tenant, unit: BusinessUnit, no_dispatch: list[int],
) -> None:
    run = runner.enqueue(tenant, "attribute_pull")
    detail = reverse("businessunits:detail", kwargs={"tenant": tenant.slug, "pk": unit.pk})
    page = member_client.get(detail).content.decode()
    assert f'id="job-{run.pk}"' in page and pull_url(tenant) not in page
    assert member_client.post(pull_url(tenant)).status_code == 403
    assert member_client.get(run.get_absolute_url()).status_code == 200
    assert JobRun.objects.filter(tenant=tenant).count() == 1


def test_outsider_gets_404_for_the_button_and_the_run(
    outsider_client: Client, tenant: Tenant, unit: BusinessUnit, other_tenant: Tenant,
    no_dispatch: list[int],
) -> None:
    run = runner.enqueue(tenant, "attribute_pull")
    assert outsider_client.post(pull_url(tenant)).status_code == 404
    for name in ("detail", "progress"):
        assert outsider_client.get(reverse(f"syncjobs:{name}", kwargs={
            "tenant": tenant.slug, "pk": run.pk})).status_code == 404
        # Their own tenant in the URL, our run's id: still not found.
        assert outsider_client.get(reverse(f"syncjobs:{name}", kwargs={
            "tenant": other_tenant.slug, "pk": run.pk})).status_code == 404
    assert JobRun.objects.filter(tenant=tenant).count() == 1


def test_the_pull_waits_for_the_settings(
    owner_client: Client, tenant: Tenant, owner: Any, no_dispatch: list[int],
) -> None:
    response = owner_client.post(pull_url(tenant))
    assert response.status_code == 302
    assert not JobRun.objects.filter(tenant=tenant).exists()


def test_setup_progress_points_to_the_pull_until_the_catalogue_is_filled(
    tenant: Tenant, unit: BusinessUnit, crm_server: Any, no_dispatch: list[int]
) -> None:
    from orgsettings.progress import setup_steps

    def hint() -> bool:
        """The setup's own step "Pull the CRM attributes" is still to do, and the mapping
        step waits for it."""
        steps = {s.key: s for s in setup_steps(tenant)}
        return (not steps["attributes"].done
                and steps["mappings"].reason == "Pull the CRM attributes first.")

    assert hint()
    configure_tenant_for_emulator(tenant, crm_server)
    assert pull(tenant).status == JobStatus.SUCCEEDED
    assert not hint()


def test_an_unreadable_lookup_target_is_skipped_not_reported_as_vanished(
    tenant: Tenant, crm_server: Any, no_dispatch: list[int], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from dynamics.errors import PrivilegeError

    configure_tenant_for_emulator(tenant, crm_server)
    assert pull(tenant).status == JobStatus.SUCCEEDED
    original = DataverseClient.entity_attributes

    def no_systemuser(self: DataverseClient, logical_name: str) -> Any:
        if logical_name == "systemuser":
            raise PrivilegeError("You may not read the user table's metadata.")
        return original(self, logical_name)

    monkeypatch.setattr(DataverseClient, "entity_attributes", no_systemuser)
    run = pull(tenant)
    assert run.status == JobStatus.SUCCEEDED
    assert run.result["vanished"] == []
    assert attr(tenant, "systemuser.fullname").present
    assert any("systemuser" in line.message and line.level == "warning"
               for line in run.log_lines.all())
