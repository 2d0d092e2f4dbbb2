"""S12 in the browser's pages: "Sync now" for the tenant, a group and a subscriber; the
runs list with its filters; a run's detail; cancelling. Owner / member / outsider."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audience.groups import create_group
from audience.models import Subscriber, SubscriberGroup
from orgsettings.models import OrgSettings
from syncjobs import job_bodies, runner
from syncjobs.models import JobKind, JobLogLine, JobRun, JobStatus, Trigger
from tenants.models import Tenant
from tests.syncjobs.ops_fixtures import *  # noqa: F403
from tests.syncjobs.ops_fixtures import RunFn, make_ready

pytestmark = pytest.mark.django_db


def url(name: str, tenant: Tenant, **kw: Any) -> str:
    return reverse(f"syncjobs:{name}", kwargs={"tenant": tenant.slug, **kw})


def start(client: Client, tenant: Tenant, **data: Any) -> Any:
    return client.post(url("sync_start", tenant), data)


def test_it_starts_an_incremental_sync_and_shows_its_page(
        owner_client: Client, owner: Any, tenant: Tenant, ready: OrgSettings,
        no_dispatch: list[int]) -> None:
    response = start(owner_client, tenant, mode="incremental")
    run = JobRun.objects.get(tenant=tenant, kind=JobKind.SYNC)
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.params["mode"] == "incremental" and run.trigger == Trigger.MANUAL
    assert run.requested_by == owner
    page = owner_client.get(run.get_absolute_url()).content.decode()
    assert "started" in page and "hx-get" in page  # the progress partial polls


def test_it_starts_a_full_sync(owner_client: Client, tenant: Tenant, ready: OrgSettings,
                               no_dispatch: list[int]) -> None:
    start(owner_client, tenant, mode="full")
    assert JobRun.objects.get(tenant=tenant).params["mode"] == "full"


def test_an_unknown_mode_is_a_bad_request(owner_client: Client, tenant: Tenant,
                                          ready: OrgSettings, no_dispatch: list[int]) -> None:
    assert start(owner_client, tenant, mode="everything").status_code == 400
    assert not JobRun.objects.exists()


def test_a_second_sync_is_refused_with_a_link_to_the_active_run(
        owner_client: Client, tenant: Tenant, ready: OrgSettings, no_dispatch: list[int],
        make_run: RunFn) -> None:
    active = make_run(tenant)
    response = start(owner_client, tenant, mode="full", next="/t/acme/jobs/?kind=sync")
    assert response.status_code == 302 and response["Location"] == "/t/acme/jobs/?kind=sync"
    html = owner_client.get(response["Location"]).content.decode()
    assert "already running" in html and active.get_absolute_url() in html
    assert JobRun.objects.count() == 1


@pytest.mark.parametrize("setup, words", [
    ("paused", "paused"), ("unchecked", "integration check"),
])
def test_refusals_are_explained(owner_client: Client, tenant: Tenant, ready: OrgSettings,
                                no_dispatch: list[int], setup: str, words: str) -> None:
    if setup == "paused":
        OrgSettings.objects.filter(tenant=tenant).update(sync_paused=True)
    else:
        OrgSettings.objects.filter(tenant=tenant).update(check_passed_at=None)
    response = start(owner_client, tenant, mode="incremental")
    assert response["Location"] == url("list", tenant)
    html = owner_client.get(response["Location"]).content.decode()
    assert words in html
    assert not JobRun.objects.exists()


def test_members_see_the_state_but_may_not_start(
        member_client: Client, tenant: Tenant, ready: OrgSettings, no_dispatch: list[int],
        make_run: RunFn) -> None:
    make_run(tenant)
    html = member_client.get(url("list", tenant)).content.decode()
    assert 'id="sync-now"' in html and "sync-now-incremental" not in html
    assert 'data-status="running"' in html
    assert start(member_client, tenant, mode="incremental").status_code == 403
    assert JobRun.objects.count() == 1


def test_outsiders_get_404_everywhere(
        outsider_client: Client, tenant: Tenant, sub: Subscriber,
        synced_group: SubscriberGroup, make_run: RunFn, no_dispatch: list[int]) -> None:
    run = make_run(tenant)
    assert outsider_client.get(url("list", tenant)).status_code == 404
    assert outsider_client.get(url("detail", tenant, pk=run.pk)).status_code == 404
    assert outsider_client.get(url("progress", tenant, pk=run.pk)).status_code == 404
    assert outsider_client.post(url("cancel", tenant, pk=run.pk)).status_code == 404
    for data in ({"mode": "incremental"}, {"mode": "group", "group": synced_group.pk},
                 {"mode": "subscriber", "subscriber": sub.pk}):
        assert start(outsider_client, tenant, **data).status_code == 404
    run.refresh_from_db()
    assert not run.cancel_requested and JobRun.objects.count() == 1


def test_another_tenants_run_is_not_found(owner_client: Client, other_tenant: Tenant,
                                          tenant: Tenant, owner: Any, make_run: RunFn) -> None:
    foreign = make_run(other_tenant)
    assert owner_client.get(url("detail", tenant, pk=foreign.pk)).status_code == 404
    assert owner_client.post(url("cancel", tenant, pk=foreign.pk)).status_code == 404
    assert not JobRun.objects.get(pk=foreign.pk).cancel_requested


def test_group_page_starts_a_group_sync_and_comes_back(
        owner_client: Client, tenant: Tenant, synced_group: SubscriberGroup,
        no_dispatch: list[int]) -> None:
    page = reverse("audience_data:group", kwargs={"tenant": tenant.slug, "pk": synced_group.pk})
    assert "Sync this group now" in owner_client.get(page).content.decode()
    response = start(owner_client, tenant, mode="group", group=synced_group.pk, next=page)
    assert response["Location"] == page
    run = JobRun.objects.get(tenant=tenant)
    assert run.params == {"mode": "group", "group_id": synced_group.pk, "language": "en"}
    html = owner_client.get(page).content.decode()
    assert f'id="job-{run.pk}"' in html  # the group page shows the run's progress


def test_subscriber_page_starts_a_subscriber_sync(
        owner_client: Client, member_client: Client, tenant: Tenant, sub: Subscriber,
        no_dispatch: list[int]) -> None:
    page = reverse("audience_data:subscriber", kwargs={"tenant": tenant.slug, "pk": sub.pk})
    assert "Sync this subscriber now" in owner_client.get(page).content.decode()
    assert "Sync this subscriber now" not in member_client.get(page).content.decode()
    assert start(member_client, tenant, mode="subscriber", subscriber=sub.pk).status_code == 403
    start(owner_client, tenant, mode="subscriber", subscriber=sub.pk, next=page)
    assert JobRun.objects.get(tenant=tenant).params["subscriber_id"] == sub.pk


def test_group_and_subscriber_of_another_tenant_are_not_found(
        owner_client: Client, tenant: Tenant, other_tenant: Tenant, ready: OrgSettings,
        no_dispatch: list[int]) -> None:
    foreign = create_group(other_tenant, "Theirs")
    assert start(owner_client, tenant, mode="group", group=foreign.pk).status_code == 404
    assert start(owner_client, tenant, mode="group", group="x").status_code == 404
    assert start(owner_client, tenant, mode="subscriber", subscriber=999999).status_code == 404
    assert not JobRun.objects.exists()


def test_runs_list_shows_counters_and_filters(owner_client: Client, tenant: Tenant,
                                              make_run: RunFn) -> None:
    done = make_run(tenant, status=JobStatus.SUCCEEDED, counters={
        "push": {"created": 3, "failed": 1, "skipped": {"blocked": 2}},
        "http": {"round_trips": 7, "operations": 9, "throttled": 1, "retries": 2,
                 "wait_seconds": 0.5}})
    check = make_run(tenant, kind=JobKind.INTEGRATION_CHECK, status=JobStatus.FAILED,
                     params={})
    html = owner_client.get(url("list", tenant)).content.decode()
    assert "mailworx → CRM: 3 created, 1 failed, 2 skipped" in html  # step and counter words
    assert "1 throttled, 2 retries" in html
    only_sync = owner_client.get(url("list", tenant) + "?kind=sync").content.decode()
    assert f'data-run="{done.pk}"' in only_sync and f'data-run="{check.pk}"' not in only_sync
    failed = owner_client.get(url("list", tenant) + "?status=failed").content.decode()
    assert f'data-run="{done.pk}"' not in failed and f'data-run="{check.pk}"' in failed


def test_detail_shows_step_counters_and_skipped_reasons(
        member_client: Client, tenant: Tenant, make_run: RunFn) -> None:
    run = make_run(tenant, status=JobStatus.SUCCEEDED, counters={
        "pull": {"read": 4}, "match": {"linked": 2, "skipped": {"no_email": 1}},
        "http": {"round_trips": 3, "operations": 3, "throttled": 0, "retries": 0,
                 "wait_seconds": 0}})
    JobLogLine.objects.create(run=run, message="Pulled 4 changes.")
    html = member_client.get(url("detail", tenant, pk=run.pk)).content.decode()
    assert 'data-step="match"' in html and "no email: 1" in html
    assert "3 CRM requests" in html and "Pulled 4 changes." in html
    assert "cancel-run" not in html


def test_cancel_a_running_sync(owner_client: Client, member_client: Client, tenant: Tenant,
                              make_run: RunFn) -> None:
    run = make_run(tenant)
    assert 'id="cancel-run"' in owner_client.get(url("detail", tenant, pk=run.pk)).content.decode()
    assert member_client.post(url("cancel", tenant, pk=run.pk)).status_code == 403
    assert not JobRun.objects.get(pk=run.pk).cancel_requested
    response = owner_client.post(url("cancel", tenant, pk=run.pk))
    assert response.status_code == 302
    assert JobRun.objects.get(pk=run.pk).cancel_requested
    html = owner_client.get(url("progress", tenant, pk=run.pk)).content.decode()
    assert "Cancellation requested" in html


def cancel_midway(ctx: runner.JobContext) -> None:
    ctx.progress(3, 10, "Step: push")
    JobRun.objects.filter(pk=ctx.run_id).update(cancel_requested=True)
    ctx.progress(4, 10, "Step: push")  # the next batch boundary stops the run


def test_a_cancelled_run_says_where_it_stopped(owner_client: Client, tenant: Tenant,
                                               monkeypatch: pytest.MonkeyPatch,
                                               no_dispatch: list[int]) -> None:
    monkeypatch.setitem(job_bodies.BODIES, "test_cancel_midway",
                        "tests.syncjobs.test_sync_pages.cancel_midway")
    run = runner.enqueue(tenant, "test_cancel_midway")
    assert runner.execute(run.pk) == JobStatus.CANCELLED
    line = JobLogLine.objects.filter(run=run).last()
    assert line is not None
    assert line.message == ("Cancelled on request. Where it stopped: Step: push, 4 of 10 "
                            "done.")
    html = owner_client.get(url("detail", tenant, pk=run.pk)).content.decode()
    assert "Stopped at Step: push (4 of 10 done)." in html


def test_paused_tenant_shows_why_sync_now_is_refused(owner_client: Client, tenant: Tenant
                                                     ) -> None:
    make_ready(tenant)
    OrgSettings.objects.filter(tenant=tenant).update(sync_paused=True)
    html = owner_client.get(url("list", tenant)).content.decode()
    assert "is paused" in html


def test_sync_now_with_the_broker_down_queues_the_run_and_the_reaper_sends_it_later(
        owner_client: Client, tenant: Tenant, ready: OrgSettings, settings: Any,
        django_capture_on_commit_callbacks: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from kombu.exceptions import OperationalError

    from syncjobs import tasks

    sent: list[int] = []

    def broker_down(run_id: int) -> None:
        raise OperationalError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.run_job, "delay", broker_down)
    with django_capture_on_commit_callbacks(execute=True):
        response = start(owner_client, tenant, mode="incremental")
    assert response.status_code == 302  # not a 500: the run is safe in the database
    run = JobRun.objects.get()
    assert run.status == JobStatus.QUEUED
    # Once the broker is back, the reaper sends what stayed unclaimed.
    monkeypatch.setattr(tasks.run_job, "delay", sent.append)
    later = run.created_at + timedelta(seconds=settings.JOB_QUEUE_STALE_SECONDS + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert runner.reap_expired(now=later) == [(run.pk, "redispatched")]
    assert sent == [run.pk]
