"""N3 in the pages: the issues list (filter, reason, hint, CRM code, subscriber, attempts),
one issue's page, retry one (a subscriber sync), retry all (one incremental sync), ignore.
Owner / member / outsider."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audience.models import Subscriber
from orgsettings.models import OrgSettings
from syncjobs.models import IssueState, JobRun, SyncIssue, SyncStatus
from tenants.models import Tenant
from tests.syncjobs.ops_fixtures import *  # noqa: F403
from tests.syncjobs.ops_fixtures import IssueFn, RunFn

pytestmark = pytest.mark.django_db


def url(name: str, tenant: Tenant, **kw: Any) -> str:
    return reverse(f"syncjobs:{name}", kwargs={"tenant": tenant.slug, **kw})


def test_the_list_explains_each_record(member_client: Client, tenant: Tenant, sub: Subscriber,
                                       make_issue: IssueFn) -> None:
    issue = make_issue(tenant, sub)
    html = member_client.get(url("issues", tenant)).content.decode()
    assert "longer than the CRM allows" in html and "Shorten the subscriber" in html
    assert "0x80044331" in html and "anna@example.com" in html
    assert reverse("audience_data:subscriber", kwargs={"tenant": "acme", "pk": sub.pk}) in html
    assert url("issue", tenant, pk=issue.pk) in html
    assert "retry-issue" not in html and "retry-all" not in html  # members read only


def test_the_filter_shows_open_retrying_ignored(owner_client: Client, tenant: Tenant,
                                                sub: Subscriber, make_issue: IssueFn) -> None:
    open_ = make_issue(tenant, sub)
    retrying = make_issue(tenant, None, state=IssueState.RETRYING, step="pull",
                          entity_type="contact", crm_id="6f1d2c1e-0000-4000-8000-000000000001")
    ignored = make_issue(tenant, None, state=IssueState.IGNORED, reason="ignored one")

    def shown(state: str) -> set[int]:
        html = owner_client.get(url("issues", tenant) + f"?state={state}").content.decode()
        return {i.pk for i in (open_, retrying, ignored) if f'data-issue="{i.pk}"' in html}

    assert shown("open") == {open_.pk, retrying.pk}
    assert shown("retrying") == {retrying.pk}
    assert shown("ignored") == {ignored.pk}
    assert shown("all") == {open_.pk, retrying.pk, ignored.pk}
    assert shown("nonsense") == {open_.pk, retrying.pk}


def test_other_tenants_issues_are_not_listed_or_found(
        owner_client: Client, tenant: Tenant, other_tenant: Tenant, owner: Any,
        make_issue: IssueFn, no_dispatch: list[int]) -> None:
    foreign = make_issue(other_tenant, None, reason="their secret problem")
    assert "their secret problem" not in owner_client.get(url("issues", tenant)).content.decode()
    for name in ("issue",):
        assert owner_client.get(url(name, tenant, pk=foreign.pk)).status_code == 404
    for name in ("issue_retry", "issue_ignore"):
        assert owner_client.post(url(name, tenant, pk=foreign.pk)).status_code == 404
    foreign.refresh_from_db()
    assert foreign.state == IssueState.OPEN and not JobRun.objects.exists()


def test_outsiders_get_404(outsider_client: Client, tenant: Tenant, sub: Subscriber,
                           make_issue: IssueFn) -> None:
    issue = make_issue(tenant, sub)
    assert outsider_client.get(url("issues", tenant)).status_code == 404
    assert outsider_client.get(url("issue", tenant, pk=issue.pk)).status_code == 404
    for name in ("issue_retry", "issue_ignore"):
        assert outsider_client.post(url(name, tenant, pk=issue.pk)).status_code == 404
    assert outsider_client.post(url("issue_retry_all", tenant)).status_code == 404
    issue.refresh_from_db()
    assert issue.state == IssueState.OPEN


def test_members_may_read_but_not_act(member_client: Client, tenant: Tenant, sub: Subscriber,
                                      make_issue: IssueFn) -> None:
    issue = make_issue(tenant, sub)
    html = member_client.get(url("issue", tenant, pk=issue.pk)).content.decode()
    assert "longer than the CRM allows" in html and "retry-issue" not in html
    for name in ("issue_retry", "issue_ignore"):
        assert member_client.post(url(name, tenant, pk=issue.pk)).status_code == 403
    assert member_client.post(url("issue_retry_all", tenant)).status_code == 403
    issue.refresh_from_db()
    assert issue.state == IssueState.OPEN and not JobRun.objects.exists()


def test_retry_one_queues_a_sync_of_its_subscriber(
        owner_client: Client, tenant: Tenant, sub: Subscriber, make_issue: IssueFn,
        no_dispatch: list[int]) -> None:
    issue = make_issue(tenant, sub)
    html = owner_client.get(url("issue", tenant, pk=issue.pk)).content.decode()
    assert "retry-issue" in html and "ignore-issue" in html
    response = owner_client.post(url("issue_retry", tenant, pk=issue.pk), follow=True)
    issue.refresh_from_db()
    assert issue.state == IssueState.RETRYING and issue.attempts == 0
    run = JobRun.objects.get(tenant=tenant)
    assert run.params["mode"] == "subscriber" and run.params["subscriber_id"] == sub.pk
    assert "will be tried again" in response.content.decode()


def test_retry_of_a_crm_record_issue_queues_an_incremental_sync(
        owner_client: Client, tenant: Tenant, ready: OrgSettings, make_issue: IssueFn,
        no_dispatch: list[int]) -> None:
    issue = make_issue(tenant, None, step="pull", entity_type="contact",
                       crm_id="6f1d2c1e-0000-4000-8000-000000000001")
    owner_client.post(url("issue_retry", tenant, pk=issue.pk))
    assert JobRun.objects.get(tenant=tenant).params["mode"] == "incremental"


def test_retry_while_a_sync_runs_marks_it_for_the_next_run(
        owner_client: Client, tenant: Tenant, sub: Subscriber, make_issue: IssueFn,
        make_run: RunFn, no_dispatch: list[int]) -> None:
    active = make_run(tenant)
    issue = make_issue(tenant, sub)
    response = owner_client.post(url("issue_retry", tenant, pk=issue.pk), follow=True)
    html = response.content.decode()
    assert "tried again by the next sync" in html and f"#{active.pk}" in html
    issue.refresh_from_db()
    assert issue.state == IssueState.RETRYING and JobRun.objects.count() == 1


def test_retry_all_queues_one_incremental_sync(
        owner_client: Client, tenant: Tenant, sub: Subscriber, make_issue: IssueFn,
        no_dispatch: list[int]) -> None:
    first = make_issue(tenant, sub)
    second = make_issue(tenant, None, step="pull", crm_id="6f1d2c1e-0000-4000-8000-00000000000a")
    ignored = make_issue(tenant, None, state=IssueState.IGNORED)
    assert "retry-all" in owner_client.get(url("issues", tenant)).content.decode()
    owner_client.post(url("issue_retry_all", tenant))
    states = dict(SyncIssue.objects.values_list("pk", "state"))
    assert states == {first.pk: "retrying", second.pk: "retrying", ignored.pk: "ignored"}
    assert [r.params["mode"] for r in JobRun.objects.all()] == ["incremental"]


def test_retry_all_without_issues_says_so(owner_client: Client, tenant: Tenant,
                                          ready: OrgSettings) -> None:
    response = owner_client.post(url("issue_retry_all", tenant), follow=True)
    assert "no open issues" in response.content.decode()
    assert not JobRun.objects.exists()


def test_ignore_takes_it_off_the_open_list(owner_client: Client, tenant: Tenant,
                                           sub: Subscriber, make_issue: IssueFn) -> None:
    issue = make_issue(tenant, sub)
    SyncStatus.objects.create(tenant=tenant, open_issues=1)
    owner_client.post(url("issue_ignore", tenant, pk=issue.pk))
    issue.refresh_from_db()
    assert issue.state == IssueState.IGNORED
    assert SyncStatus.objects.get(tenant=tenant).open_issues == 0
    html = owner_client.get(url("issues", tenant)).content.decode()
    assert f'data-issue="{issue.pk}"' not in html


def test_tenant_nav_links_the_issues(member_client: Client, tenant: Tenant) -> None:
    html = member_client.get(url("list", tenant)).content.decode()
    assert url("issues", tenant) in html


def test_an_issue_names_its_crm_record_and_opens_it_in_dynamics(
        member_client: Client, tenant: Tenant, ready: OrgSettings, make_issue: IssueFn) -> None:
    from syncjobs.models.lists import CrmList

    list_id = "7d3c9a40-3a8f-4b2e-9c61-0f4b2a7c5e11"
    CrmList.objects.create(tenant=tenant, list_id=list_id, name="Messe Wien 2026",
                           member_type="contact")
    issue = make_issue(tenant, step="lists", entity_type="list", crm_id=list_id)
    page = member_client.get(url("issue", tenant, pk=issue.pk)).content.decode()
    assert "Marketing list “Messe Wien 2026”" in page
    dynamics = (f"{ready.crm_url.rstrip('/')}/main.aspx?etn=list&amp;id={list_id}"
                "&amp;pagetype=entityrecord")
    assert f'href="{dynamics}"' in page
    assert f">{list_id}<" not in page and f"list {list_id}" not in page  # no bare GUID
