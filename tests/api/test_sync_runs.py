"""S12 and N3 over the API: runs (list, detail, start, cancel) and sync issues (list,
detail, retry, retry all, ignore). Owner / member / outsider."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from audience.groups import create_group
from audience.models import Subscriber, SubscriberGroup
from orgsettings.models import OrgSettings
from syncjobs.models import IssueState, JobKind, JobRun, JobStatus, SyncIssue, Trigger
from tenants.models import Tenant
from tests.syncjobs.ops_fixtures import *  # noqa: F403
from tests.syncjobs.ops_fixtures import IssueFn, RunFn

pytestmark = pytest.mark.django_db

BASE = "/api/v1/tenants/acme/"


def test_start_a_sync(owner_api: APIClient, owner: Any, tenant: Tenant, ready: OrgSettings,
                      no_dispatch: list[int]) -> None:
    response = owner_api.post(BASE + "runs/", {"mode": "full"}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["kind"] == "sync" and body["mode"] == "full" and body["status"] == "queued"
    assert body["trigger"] == Trigger.API and body["requested_by"] == owner.email
    assert body["progress"] == {"done": 0, "total": 0, "percent": 0, "step": ""}
    run = JobRun.objects.get(pk=body["id"])
    assert run.trigger == Trigger.API and run.params["mode"] == "full"


def test_start_defaults_to_incremental(owner_api: APIClient, tenant: Tenant,
                                       ready: OrgSettings, no_dispatch: list[int]) -> None:
    assert owner_api.post(BASE + "runs/", {}, format="json").json()["mode"] == "incremental"


def test_start_a_group_and_a_subscriber_sync(owner_api: APIClient, tenant: Tenant,
                                             sub: Subscriber, synced_group: SubscriberGroup,
                                             no_dispatch: list[int]) -> None:
    body = owner_api.post(BASE + "runs/", {"mode": "group", "group": synced_group.pk},
                          format="json").json()
    assert body["mode"] == "group" and body["group_id"] == synced_group.pk
    JobRun.objects.update(status=JobStatus.SUCCEEDED)
    body = owner_api.post(BASE + "runs/", {"mode": "subscriber", "subscriber": sub.pk},
                          format="json").json()
    assert body["mode"] == "subscriber" and body["subscriber_id"] == sub.pk


@pytest.mark.parametrize("data, field", [
    ({"mode": "group"}, "group"),
    ({"mode": "subscriber"}, "subscriber"),
    ({"mode": "incremental", "group": 1}, "group"),
    ({"mode": "everything"}, "mode"),
])
def test_bad_start_requests_are_400(owner_api: APIClient, tenant: Tenant, ready: OrgSettings,
                                    data: dict[str, Any], field: str) -> None:
    response = owner_api.post(BASE + "runs/", data, format="json")
    assert response.status_code == 400 and field in response.json()
    assert not JobRun.objects.exists()


def test_another_tenants_group_or_subscriber_is_400(
        owner_api: APIClient, tenant: Tenant, other_tenant: Tenant, ready: OrgSettings) -> None:
    foreign = create_group(other_tenant, "Theirs")
    response = owner_api.post(BASE + "runs/", {"mode": "group", "group": foreign.pk},
                              format="json")
    assert response.status_code == 400 and "group" in response.json()
    response = owner_api.post(BASE + "runs/", {"mode": "subscriber", "subscriber": 99999},
                              format="json")
    assert response.status_code == 400 and "subscriber" in response.json()


def test_a_second_sync_is_409_naming_the_active_run(
        owner_api: APIClient, tenant: Tenant, ready: OrgSettings, make_run: RunFn) -> None:
    active = make_run(tenant)
    response = owner_api.post(BASE + "runs/", {"mode": "incremental"}, format="json")
    assert response.status_code == 409
    body = response.json()
    assert body["active_run"] == active.pk and "already running" in body["detail"]


def test_a_paused_sync_is_409_with_the_reason(owner_api: APIClient, tenant: Tenant,
                                              ready: OrgSettings) -> None:
    OrgSettings.objects.filter(tenant=tenant).update(sync_paused=True)
    response = owner_api.post(BASE + "runs/", {"mode": "incremental"}, format="json")
    assert response.status_code == 409
    assert response.json() == {"detail": response.json()["detail"], "active_run": None}
    assert "paused" in response.json()["detail"]


def test_list_filter_and_detail(member_api: APIClient, tenant: Tenant, other_tenant: Tenant,
                                make_run: RunFn) -> None:
    sync = make_run(tenant, status=JobStatus.SUCCEEDED, counters={
        "push": {"created": 2}, "http": {"round_trips": 3}})
    check = make_run(tenant, kind=JobKind.INTEGRATION_CHECK, params={})
    foreign = make_run(other_tenant)
    ids = [r["id"] for r in member_api.get(BASE + "runs/").json()["results"]]
    assert set(ids) == {sync.pk, check.pk}
    assert [r["id"] for r in member_api.get(BASE + "runs/?kind=sync").json()["results"]] == [
        sync.pk]
    assert [r["id"] for r in member_api.get(BASE + "runs/?status=running").json()["results"]
            ] == [check.pk]
    detail = member_api.get(BASE + f"runs/{sync.pk}/").json()
    assert detail["counters"]["push"] == {"created": 2} and detail["mode"] == "incremental"
    assert member_api.get(BASE + f"runs/{foreign.pk}/").status_code == 404


def test_cancel(owner_api: APIClient, member_api: APIClient, tenant: Tenant,
               other_tenant: Tenant, owner: Any, make_run: RunFn) -> None:
    run = make_run(tenant)
    assert member_api.post(BASE + f"runs/{run.pk}/cancel/").status_code == 403
    response = owner_api.post(BASE + f"runs/{run.pk}/cancel/")
    assert response.status_code == 202 and response.json()["cancel_requested"] is True
    JobRun.objects.filter(pk=run.pk).update(status=JobStatus.CANCELLED)
    assert owner_api.post(BASE + f"runs/{run.pk}/cancel/").status_code == 409
    foreign = make_run(other_tenant)
    assert owner_api.post(BASE + f"runs/{foreign.pk}/cancel/").status_code == 404
    assert not JobRun.objects.get(pk=foreign.pk).cancel_requested


def test_members_may_not_start_or_act(member_api: APIClient, tenant: Tenant, sub: Subscriber,
                                      make_issue: IssueFn) -> None:
    issue = make_issue(tenant, sub)
    assert member_api.post(BASE + "runs/", {"mode": "incremental"},
                           format="json").status_code == 403
    for path in (f"sync-issues/{issue.pk}/retry/", f"sync-issues/{issue.pk}/ignore/",
                 "sync-issues/retry-all/"):
        assert member_api.post(BASE + path).status_code == 403, path
    issue.refresh_from_db()
    assert issue.state == IssueState.OPEN and not JobRun.objects.exists()


def test_outsiders_get_404(outsider_api: APIClient, tenant: Tenant, sub: Subscriber,
                           make_issue: IssueFn, make_run: RunFn) -> None:
    issue, run = make_issue(tenant, sub), make_run(tenant)
    for path in ("runs/", f"runs/{run.pk}/", "sync-issues/", f"sync-issues/{issue.pk}/"):
        assert outsider_api.get(BASE + path).status_code == 404, path
    for path in ("runs/", f"runs/{run.pk}/cancel/", f"sync-issues/{issue.pk}/retry/",
                 f"sync-issues/{issue.pk}/ignore/", "sync-issues/retry-all/"):
        assert outsider_api.post(BASE + path, {}, format="json").status_code == 404, path
    issue.refresh_from_db()
    assert issue.state == IssueState.OPEN and JobRun.objects.count() == 1


def test_issues_list_filter_and_detail(member_api: APIClient, tenant: Tenant,
                                       other_tenant: Tenant, sub: Subscriber,
                                       make_issue: IssueFn) -> None:
    issue = make_issue(tenant, sub)
    ignored = make_issue(tenant, None, state=IssueState.IGNORED)
    foreign = make_issue(other_tenant, None)
    listed = member_api.get(BASE + "sync-issues/").json()["results"]
    assert [i["id"] for i in listed] == [issue.pk]
    assert listed[0]["subscriber_email"] == "anna@example.com"
    assert listed[0]["code"] == "0x80044331" and listed[0]["hint"] and listed[0]["reason"]
    assert [i["id"] for i in member_api.get(BASE + "sync-issues/?state=ignored").json()[
        "results"]] == [ignored.pk]
    assert member_api.get(BASE + f"sync-issues/{ignored.pk}/").json()["state"] == "ignored"
    assert member_api.get(BASE + f"sync-issues/{foreign.pk}/").status_code == 404


def test_retry_one_queues_its_subscribers_sync(owner_api: APIClient, tenant: Tenant,
                                               sub: Subscriber, make_issue: IssueFn,
                                               no_dispatch: list[int]) -> None:
    issue = make_issue(tenant, sub)
    response = owner_api.post(BASE + f"sync-issues/{issue.pk}/retry/")
    assert response.status_code == 202
    body = response.json()
    assert body["retried"] == 1 and body["run"]["mode"] == "subscriber"
    assert body["run"]["subscriber_id"] == sub.pk
    issue.refresh_from_db()
    assert issue.state == IssueState.RETRYING and issue.attempts == 0


def test_retry_while_paused_marks_it_for_later(owner_api: APIClient, tenant: Tenant,
                                               sub: Subscriber, make_issue: IssueFn) -> None:
    OrgSettings.objects.filter(tenant=tenant).update(sync_paused=True)
    issue = make_issue(tenant, sub)
    body = owner_api.post(BASE + f"sync-issues/{issue.pk}/retry/").json()
    assert body["run"] is None and "paused" in body["detail"]
    issue.refresh_from_db()
    assert issue.state == IssueState.RETRYING


def test_retry_all_and_ignore(owner_api: APIClient, tenant: Tenant, sub: Subscriber,
                              make_issue: IssueFn, no_dispatch: list[int]) -> None:
    first = make_issue(tenant, sub)
    second = make_issue(tenant, None, step="pull")
    body = owner_api.post(BASE + "sync-issues/retry-all/").json()
    assert body["retried"] == 2 and body["run"]["mode"] == "incremental"
    assert set(SyncIssue.objects.values_list("state", flat=True)) == {"retrying"}
    response = owner_api.post(BASE + f"sync-issues/{second.pk}/ignore/")
    assert response.status_code == 200 and response.json()["state"] == "ignored"
    assert [i["id"] for i in owner_api.get(BASE + "sync-issues/").json()["results"]] == [
        first.pk]


def test_retry_all_without_issues(owner_api: APIClient, tenant: Tenant,
                                  ready: OrgSettings) -> None:
    body = owner_api.post(BASE + "sync-issues/retry-all/").json()
    assert body == {"retried": 0, "run": None, "detail": "There are no open issues to retry."}
