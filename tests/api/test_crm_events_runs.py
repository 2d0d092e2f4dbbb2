"""S12 "being told": the CRM side's events queue the matching sync run (trigger ``crm``);
an event that cannot be handled now waits and a later run handles it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser
from django.utils import timezone
from rest_framework.test import APIClient

from audience.models import Campaign
from audience.services import ensure_standard_fields
from crmevents.models import CrmEvent
from dynamics_emulator.server import EmulatorServer
from orgsettings.connection import client_for
from orgsettings.integration_access import prepare_mailworx
from orgsettings.models import OrgSettings
from syncjobs import runner
from syncjobs.engine.start import start_sync
from syncjobs.models import JobKind, JobRun, JobStatus, Trigger
from tenants.models import Tenant
from tests.api.conftest import Integration, token_client
from tests.crm_fixtures import EmulatorAdmin, configure_tenant_for_emulator
from tests.mapping_fixtures import make_unit, save_settings
from tests.syncjobs.engine.conftest import quiet_seed_campaigns, unmark_seed_lists

pytestmark = pytest.mark.django_db
T = "/api/v1/tenants/acme/crm-events/"
CRM_ID = "3c1d2e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
ENDPOINTS = [("list-marked/", "list_id", "lists"),
             ("activity-distributed/", "activity_id", "campaigns")]


@pytest.fixture
def ready(tenant: Tenant, integration: Integration, no_dispatch: list[int]) -> Integration:
    """The integration check passed: syncs may start (C9)."""
    OrgSettings.objects.filter(tenant=tenant).update(check_passed_at=timezone.now(),
                                                     sync_started_at=timezone.now())
    return integration


@pytest.mark.parametrize(("path", "field", "mode"), ENDPOINTS)
def test_S12_an_event_queues_the_matching_run_with_trigger_crm(
        ready: Integration, tenant: Tenant, path: str, field: str, mode: str) -> None:
    response = ready.client.post(T + path, {field: CRM_ID}, format="json")
    assert response.status_code == 202, response.content
    body = response.json()
    run = JobRun.objects.get(tenant=tenant)
    assert (run.kind, run.trigger, run.status) == (JobKind.SYNC, Trigger.CRM, JobStatus.QUEUED)
    assert run.params["mode"] == mode and run.params[field] == CRM_ID
    assert run.requested_by is not None and run.requested_by.username == ready.username
    assert (body["queued"], body["run_id"], body["duplicate"]) == (True, run.pk, False)
    assert str(run.pk) in body["message"]
    assert CrmEvent.objects.get().processed_at is None  # the run has not handled it yet


@pytest.mark.parametrize(("path", "field", "mode"), ENDPOINTS)
def test_S12_a_repeated_event_is_deduplicated_and_waits_for_the_active_run(
        ready: Integration, tenant: Tenant, path: str, field: str, mode: str) -> None:
    first = ready.client.post(T + path, {field: CRM_ID}, format="json").json()
    again = ready.client.post(T + path, {field: CRM_ID}, format="json")
    assert again.status_code == 202
    body = again.json()
    assert (body["id"], body["duplicate"]) == (first["id"], True)
    assert (body["queued"], body["run_id"]) == (False, first["run_id"])
    assert f"run {first['run_id']}" in body["message"]
    assert CrmEvent.objects.count() == 1 and JobRun.objects.filter(tenant=tenant).count() == 1


def test_S12_an_event_while_another_run_is_active_is_kept(
        ready: Integration, tenant: Tenant) -> None:
    manual = start_sync(tenant, "incremental")
    response = ready.client.post(T + "activity-distributed/", {"activity_id": CRM_ID},
                                 format="json")
    assert response.status_code == 202
    body = response.json()
    assert (body["queued"], body["run_id"], body["duplicate"]) == (False, manual.pk, False)
    assert "already queued or running" in body["message"]
    assert JobRun.objects.filter(tenant=tenant).count() == 1
    assert CrmEvent.objects.get().processed_at is None


@pytest.mark.parametrize("why", ["paused", "not checked"])
@pytest.mark.parametrize(("path", "field", "mode"), ENDPOINTS)
def test_S12_a_refused_sync_keeps_the_event_and_says_why(
        ready: Integration, tenant: Tenant, why: str, path: str, field: str,
        mode: str) -> None:
    change = {"sync_paused": True} if why == "paused" else {"check_passed_at": None}
    OrgSettings.objects.filter(tenant=tenant).update(**change)
    response = ready.client.post(T + path, {field: CRM_ID}, format="json")
    assert response.status_code == 202
    body = response.json()
    assert (body["queued"], body["run_id"]) == (False, None)
    assert ("paused" if why == "paused" else "integration check") in body["message"]
    assert not JobRun.objects.filter(tenant=tenant).exists()
    assert CrmEvent.objects.get().processed_at is None


@pytest.mark.parametrize("caller", ["owner", "member", "outsider", "other integration"])
@pytest.mark.parametrize(("path", "field", "mode"), ENDPOINTS)
def test_S12_only_the_tenants_integration_user_starts_runs(
        ready: Integration, tenant: Tenant, other_tenant: Tenant, owner_api: APIClient,
        member_api: APIClient, outsider_api: APIClient, owner: AbstractUser,
        caller: str, path: str, field: str, mode: str) -> None:
    clients = {"owner": owner_api, "member": member_api, "outsider": outsider_api}
    if caller == "other integration":
        save_settings(other_tenant)
        theirs = prepare_mailworx(other_tenant, user=owner)
        client, key = token_client(theirs.access.user, theirs.token), theirs.activation_key
    else:
        client, key = clients[caller], ready.key  # even with the right key
    client.credentials(HTTP_AUTHORIZATION=client._credentials["HTTP_AUTHORIZATION"],
                       HTTP_X_MAILWORX_ACTIVATION_KEY=key)
    response = client.post(T + path, {field: CRM_ID}, format="json")
    assert response.status_code == 404
    assert not CrmEvent.objects.exists() and not JobRun.objects.exists()


def crm_side_of(tenant: Tenant, crm: EmulatorServer, owner: AbstractUser) -> APIClient:
    """A tenant wired to a quiet emulator org, checked and prepared; returns the API client
    of its integration user, as the CRM side calls mailworx."""
    unmark_seed_lists(crm)
    quiet_seed_campaigns(EmulatorAdmin(crm))
    configure_tenant_for_emulator(tenant, crm)
    OrgSettings.objects.filter(tenant=tenant).update(check_passed_at=timezone.now(),
                                                     sync_started_at=timezone.now())
    ensure_standard_fields(tenant)
    make_unit(tenant, is_default=True)
    issued = prepare_mailworx(tenant, user=owner)
    crm_side = token_client(issued.access.user, issued.token)
    crm_side.credentials(HTTP_AUTHORIZATION=crm_side._credentials["HTTP_AUTHORIZATION"],
                         HTTP_X_MAILWORX_ACTIVATION_KEY=issued.activation_key)
    return crm_side


def test_S12_an_activity_told_while_a_run_is_queued_joins_it(
        tenant: Tenant, crm: EmulatorServer, owner: AbstractUser, no_dispatch: list[int],
        ) -> None:
    """The whole path against the emulator: the CRM tells about A, then about B while A's
    run is queued; B joins that run, which takes both over and answers both."""
    crm_side = crm_side_of(tenant, crm, owner)
    with client_for(tenant) as client:
        activities = {}
        for name in ("A", "B"):
            contact = client.create("contacts", {"lastname": name,
                                                 "emailaddress1": f"{name}@told.example"})
            list_id = client.create("lists", {"listname": name, "type": False,
                                              "createdfromcode": 2})
            client.call_action("AddListMembersList", {"List": {"listid": list_id},
                                                      "Members": [{"contactid": contact}]})
            aid = client.create("campaignactivities", {"subject": f"Mailing {name}",
                                                       "channeltypecode": 100000000})
            client.transport.request(
                "POST", f"campaignactivities({aid})/campaignactivitylist_association/$ref",
                json_body={"@odata.id": f"{client.transport.connection.api_url}"
                                        f"lists({list_id})"})
            client.call_action("DistributeCampaignActivity", {"CampaignActivityId": aid})
            activities[name] = aid

    told = crm_side.post(T + "activity-distributed/", {"activity_id": activities["A"]},
                         format="json").json()
    waiting = crm_side.post(T + "activity-distributed/", {"activity_id": activities["B"]},
                            format="json").json()
    assert told["queued"] is True
    assert (waiting["queued"], waiting["run_id"]) == (False, told["run_id"])
    assert "joined" in waiting["message"]
    assert JobRun.objects.get(pk=told["run_id"]).params == {"mode": "campaigns"}

    assert runner.execute(told["run_id"]) == JobStatus.SUCCEEDED
    assert {str(c.crm_campaign_activity_id) for c in Campaign.objects.filter(tenant=tenant)
            } == set(activities.values())
    assert CrmEvent.objects.filter(processed_at__isnull=True).count() == 0
    assert JobRun.objects.filter(tenant=tenant).count() == 1  # one run for both


def test_S12_told_list_is_synced_and_its_event_closed(
        tenant: Tenant, crm: EmulatorServer, owner: AbstractUser, no_dispatch: list[int],
        ) -> None:
    """The CRM marks a list and tells us: the queued lists run makes the group and closes
    the event; an event about another list joins the run, which answers it too (a list
    that is not marked or does not exist leaves nothing to do)."""
    crm_side = crm_side_of(tenant, crm, owner)
    with client_for(tenant) as client:
        contact = client.create("contacts", {"lastname": "Told",
                                             "emailaddress1": "told@list.example"})
        list_id = client.create("lists", {"listname": "Told list", "type": False,
                                          "createdfromcode": 2, "mwx_syncwithmailworx": True})
        client.call_action("AddListMembersList", {"List": {"listid": list_id},
                                                  "Members": [{"contactid": contact}]})

    told = crm_side.post(T + "list-marked/", {"list_id": list_id}, format="json").json()
    other = crm_side.post(T + "list-marked/", {"list_id": CRM_ID}, format="json").json()
    assert told["queued"] is True and other["run_id"] == told["run_id"]

    assert runner.execute(told["run_id"]) == JobStatus.SUCCEEDED
    group = tenant.subscriber_groups.get(name="Told list")
    assert list(group.memberships.values_list("subscriber__email", flat=True)) == [
        "told@list.example"]
    assert CrmEvent.objects.get(pk=told["id"]).processed_at is not None
    assert CrmEvent.objects.get(pk=other["id"]).processed_at is not None  # joined the run


def test_S12_a_burst_of_events_makes_one_run_and_none_is_left_waiting(
        tenant: Tenant, crm: EmulatorServer, owner: AbstractUser, no_dispatch: list[int],
        settings: object) -> None:
    """300 reports with random ids, of both kinds, while runs come and go: one run handles
    what arrived while it was queued; the scheduler's next tick picks up the rest."""
    import uuid

    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,  # type: ignore[attr-defined]
                               "DEFAULT_THROTTLE_RATES": {"crm_events": "1000/min"}}
    crm_side = crm_side_of(tenant, crm, owner)
    for n in range(300):
        path = "list-marked/" if n % 2 else "activity-distributed/"
        field = "list_id" if n % 2 else "activity_id"
        response = crm_side.post(T + path, {field: str(uuid.uuid4())}, format="json")
        assert response.status_code == 202
        if n == 150:  # a worker takes the queued run meanwhile
            run = JobRun.objects.get(tenant=tenant, status=JobStatus.QUEUED)
            assert runner.execute(run.pk) == JobStatus.SUCCEEDED
    assert JobRun.objects.filter(tenant=tenant).count() == 2
    for run in JobRun.objects.filter(tenant=tenant, status=JobStatus.QUEUED):
        assert runner.execute(run.pk) == JobStatus.SUCCEEDED
    assert CrmEvent.objects.filter(processed_at__isnull=True).count() == 0
    assert CrmEvent.objects.count() == 300


def test_S12_events_told_while_a_run_is_running_get_a_run_of_their_own_within_a_minute(
        tenant: Tenant, crm: EmulatorServer, owner: AbstractUser, no_dispatch: list[int],
        ) -> None:
    from syncjobs.schedule import dispatch_due

    crm_side = crm_side_of(tenant, crm, owner)
    manual = start_sync(tenant, "group", group=tenant.subscriber_groups.create(name="G"))
    answer = crm_side.post(T + "list-marked/", {"list_id": CRM_ID}, format="json").json()
    assert (answer["queued"], answer["run_id"]) == (False, manual.pk)
    assert "waits" in answer["message"]
    assert runner.execute(manual.pk) == JobStatus.SUCCEEDED
    assert CrmEvent.objects.get().processed_at is None
    # The scheduled sync is not due (it ran a moment ago), so only the events need a run.
    scheduled = start_sync(tenant, "full", trigger=Trigger.SCHEDULE)
    JobRun.objects.filter(pk=scheduled.pk).update(status=JobStatus.SUCCEEDED,
                                                  started_at=timezone.now(),
                                                  finished_at=timezone.now())
    queued = [r for r in dispatch_due() if r.kind == JobKind.SYNC]
    assert [(r.params["mode"], r.trigger) for r in queued] == [("crm_events", Trigger.CRM)]
    assert runner.execute(queued[0].pk) == JobStatus.SUCCEEDED
    assert CrmEvent.objects.get().processed_at is not None


def test_S12_event_reports_are_rate_limited_per_tenant(
        ready: Integration, tenant: Tenant, settings: object) -> None:
    import uuid

    from django.core.cache import cache

    cache.clear()
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK,  # type: ignore[attr-defined]
                               "DEFAULT_THROTTLE_RATES": {"crm_events": "5/min"}}
    answers = [ready.client.post(T + "list-marked/", {"list_id": str(uuid.uuid4())},
                                 format="json") for _ in range(7)]
    assert [a.status_code for a in answers] == [202] * 5 + [429] * 2
    assert int(answers[-1]["Retry-After"]) > 0
    assert CrmEvent.objects.count() == 5  # a refused report records nothing
