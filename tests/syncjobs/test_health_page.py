"""Sync health (issue #20) through its pages: the figures, the issues by reason with retry
and ignore per reason, the request budget, the charts; the amber "Succeeded with issues"
wherever a run's state shows; no Cancel on a finished run; the tenant's home.
Owner / member / outsider. (A real sync against the emulator:
tests/syncjobs/engine/test_sync_health.py.)"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse
from django.utils import formats, timezone

from audience.campaigns import create_campaign
from audience.models import Reaction, Subscriber
from audience.subscribers import create_subscriber
from mailworx_crm.texts import as_column, stored_text
from orgsettings.models import OrgSettings
from syncjobs.alerts.incidents import open_incident
from syncjobs.issue_groups import group_key
from syncjobs.models import IssueState, JobKind, JobRun, JobStatus, SyncIssue
from syncjobs.models.alerts import IncidentKind
from tenants.models import Tenant
from tests.api.conftest import token_client
from tests.syncjobs.ops_fixtures import *  # noqa: F403
from tests.syncjobs.ops_fixtures import IssueFn, RunFn, make_ready

pytestmark = pytest.mark.django_db

TOO_LONG = "The CRM refused the record: a value is longer than the CRM allows."


def url(name: str, tenant: Tenant, **kw: Any) -> str:
    return reverse(f"syncjobs:{name}", kwargs={"tenant": tenant.slug, **kw})


def refused(field: str) -> str:
    """A reason with a record-specific parameter: same msgid, different text."""
    return as_column(stored_text("The CRM refused the value of %(field)s.", field=field))


def excluded(html: str, reason: str) -> str:
    """The count the "Not synced, by reason" table shows for ``reason``."""
    found = re.search(
        rf'data-reason="{reason}"><th scope="row">[^<]+</th><td class="count">(\d+)<', html
    )
    assert found is not None, reason
    return found.group(1)


def ended(make_run: RunFn, tenant: Tenant, **kw: Any) -> JobRun:
    """A sync that succeeded and ended just now."""
    run = make_run(tenant, status=JobStatus.SUCCEEDED, **kw)
    JobRun.objects.filter(pk=run.pk).update(finished_at=timezone.now())
    run.refresh_from_db()
    return run


# -- access ---------------------------------------------------------------------------------


def test_outsiders_get_404(
    outsider_client: Client,
    tenant: Tenant,
    ready: OrgSettings,
    sub: Subscriber,
    make_issue: IssueFn,
) -> None:
    issue = make_issue(tenant, sub)
    key = group_key(issue.step, issue.code, issue.reason)
    assert outsider_client.get(url("health", tenant)).status_code == 404
    assert outsider_client.post(url("issue_group_retry", tenant, key=key)).status_code == 404
    assert outsider_client.post(url("issue_group_ignore", tenant, key=key)).status_code == 404
    assert SyncIssue.objects.get(pk=issue.pk).state == IssueState.OPEN


def test_members_read_the_figures_but_may_not_act(
    member_client: Client, tenant: Tenant, sub: Subscriber, make_issue: IssueFn
) -> None:
    issue = make_issue(tenant, sub)
    key = group_key(issue.step, issue.code, issue.reason)
    html = member_client.get(url("health", tenant)).content.decode()
    assert f'data-group="{key}"' in html and "retry-group" not in html
    assert member_client.post(url("issue_group_retry", tenant, key=key)).status_code == 403
    assert member_client.post(url("issue_group_ignore", tenant, key=key)).status_code == 403
    assert member_client.get(url("issue_group_ignore", tenant, key=key)).status_code == 405
    assert SyncIssue.objects.get(pk=issue.pk).state == IssueState.OPEN


# -- the tenant's home ------------------------------------------------------------------------


def test_home_is_the_checklist_until_syncing_started_then_sync_health(
    owner_client: Client, tenant: Tenant
) -> None:
    home = reverse("tenants:dashboard", kwargs={"tenant": tenant.slug})
    progress = reverse("orgsettings:progress", kwargs={"tenant": tenant.slug})
    assert owner_client.get(home, follow=True).redirect_chain[-1] == (progress, 302)
    make_ready(tenant)
    response = owner_client.get(home, follow=True)
    assert response.redirect_chain == [(url("health", tenant), 302)]
    assert response.status_code == 200 and 'id="health-runs"' in response.content.decode()


def test_open_alerts_come_first_on_the_health_page(owner_client: Client, tenant: Tenant) -> None:
    make_ready(tenant)
    assert 'id="incidents"' not in owner_client.get(url("health", tenant)).content.decode()
    open_incident(tenant, IncidentKind.SYNC_BEHIND, "behind")
    html = owner_client.get(url("health", tenant)).content.decode()
    assert 'id="incidents"' in html and 'data-kind="sync_behind"' in html
    assert html.index('id="incidents"') < html.index('id="health-runs"')


# -- figures --------------------------------------------------------------------------------


def test_records_in_sync_failing_and_held_back(
    owner_client: Client, tenant: Tenant, sub: Subscriber, make_issue: IssueFn, make_run: RunFn
) -> None:
    from syncjobs.models import LinkState, RecordLink

    linked = [create_subscriber(tenant, {"email": f"in{i}@sync.example"}) for i in range(3)]
    for i, s in enumerate([*linked, sub]):
        RecordLink.objects.create(
            tenant=tenant,
            subscriber=s,
            entity_type="contact",
            crm_id=f"6f1d2c1e-0000-4000-8000-00000000000{i}",
            state=LinkState.ACTIVE,
        )
    lead = create_subscriber(tenant, {"email": "lead@sync.example"})
    RecordLink.objects.create(
        tenant=tenant,
        subscriber=lead,
        entity_type="lead",
        crm_id="6f1d2c1e-0000-4000-8000-0000000000aa",
        state=LinkState.ACTIVE,
        crm_active=False,
    )
    create_subscriber(tenant, {"email": "nogroup@sync.example"})  # in no group
    make_issue(tenant, sub)  # sub is linked, but failing
    ended(
        make_run,
        tenant,
        counters={
            "lists": {
                "skipped": {
                    "qualified lead (never synced, S2)": 4,
                    "CRM record without an email address": 2,
                }
            }
        },
    )
    html = owner_client.get(url("health", tenant)).content.decode()
    assert re.search(r'id="records-in-sync">3<', html)
    assert re.search(r'id="records-failing"><a [^>]*>1<', html)
    assert excluded(html, "not_in_synced_group") == "1"
    assert excluded(html, "qualified_lead") == "1"
    assert 'qualified lead (never synced, S2)</th><td class="count">4<' in html
    assert 'CRM record without an email address</th><td class="count">2<' in html


def test_last_and_next_run_per_kind(
    owner_client: Client, tenant: Tenant, ready: OrgSettings, make_run: RunFn
) -> None:
    sync = ended(make_run, tenant)
    export = make_run(tenant, kind=JobKind.REACTION_EXPORT, params={})  # running
    html = owner_client.get(url("health", tenant)).content.decode()
    rows = dict(re.findall(r'<tr data-kind="(\w+)">(.*?)</tr>', html, re.S))
    due = timezone.localtime(sync.created_at + dt.timedelta(minutes=ready.sync_interval_minutes))
    assert f"#{sync.pk}" in rows["sync"]
    assert formats.date_format(due, "SHORT_DATETIME_FORMAT") in rows["sync"]
    assert f"#{export.pk}" in rows["reaction_export"] and "Running now" in rows["reaction_export"]
    assert "#" not in rows["reconcile"] and "Due now" in rows["reconcile"]  # none yet
    OrgSettings.objects.filter(pk=ready.pk).update(sync_paused=True)
    html = owner_client.get(url("health", tenant)).content.decode()
    assert html.count("Not scheduled") == 2  # sync, reconcile (the export is running)


def test_the_request_budget_of_the_current_window(
    owner_client: Client, tenant: Tenant, ready: OrgSettings, make_run: RunFn
) -> None:
    http = {
        "round_trips": 1200,
        "operations": 1300,
        "throttled": 3,
        "retries": 3,
        "wait_seconds": 1.5,
    }
    make_run(tenant, counters={"http": http})  # running now
    old = ended(
        make_run,
        tenant,
        kind=JobKind.REACTION_EXPORT,
        params={},
        counters={"http": {**http, "round_trips": 500, "throttled": 7}},
    )
    JobRun.objects.filter(pk=old.pk).update(finished_at=timezone.now() - dt.timedelta(hours=30))
    html = owner_client.get(url("health", tenant)).content.decode()
    assert "1200 of 6000 requests in the current 5-minute window" in html
    assert "(20 %)" in html
    assert "Throttled requests: 3 in this window, 3 in the last 24 hours." in html
    JobRun.objects.filter(pk=old.pk).update(finished_at=timezone.now() - dt.timedelta(hours=1))
    html = owner_client.get(url("health", tenant)).content.decode()
    assert "Throttled requests: 3 in this window, 10 in the last 24 hours." in html


# -- issues by reason -----------------------------------------------------------------------


def test_issues_are_grouped_by_reason(
    owner_client: Client, tenant: Tenant, sub: Subscriber, make_issue: IssueFn
) -> None:
    other = create_subscriber(tenant, {"email": "bert@example.com"})
    make_issue(tenant, sub, reason=refused("first name"))
    make_issue(tenant, other, reason=refused("last name"))
    make_issue(
        tenant,
        None,
        step="pull",
        code="",
        reason=TOO_LONG,
        entity_type="contact",
        crm_id="6f1d2c1e-0000-4000-8000-000000000001",
    )
    make_issue(tenant, None, reason="ignored earlier", state=IssueState.IGNORED)
    html = owner_client.get(url("health", tenant)).content.decode()
    groups = re.findall(r'<tr data-group="(\w+)">(.*?)</tr>', html, re.S)
    assert len(groups) == 2  # two reasons open; the ignored one is not listed
    first = groups[0][1]  # the larger group first
    assert "The CRM refused the value of" in first and '<td class="count">2' in first


def test_retry_a_reason_retries_its_issues_only_and_queues_one_sync(
    owner_client: Client, tenant: Tenant, sub: Subscriber, make_issue: IssueFn
) -> None:
    other = create_subscriber(tenant, {"email": "bert@example.com"})
    a = make_issue(tenant, sub, reason=refused("first name"))
    b = make_issue(tenant, other, reason=refused("last name"))
    c = make_issue(tenant, None, step="pull", reason=TOO_LONG)
    response = owner_client.post(
        url("issue_group_retry", tenant, key=group_key(a.step, a.code, a.reason)),
        {"next": url("health", tenant)},
        follow=True,
    )
    assert response.redirect_chain[0] == (url("health", tenant), 302)
    assert "2 records will be tried again" in response.content.decode()
    states = dict(SyncIssue.objects.values_list("pk", "state"))
    assert states == {a.pk: IssueState.RETRYING, b.pk: IssueState.RETRYING, c.pk: IssueState.OPEN}
    assert SyncIssue.objects.get(pk=a.pk).attempts == 0
    run = JobRun.objects.get(tenant=tenant, kind=JobKind.SYNC)
    assert run.params["mode"] == "incremental" and run.status == JobStatus.QUEUED


def test_ignore_a_reason_takes_its_issues_off_the_open_list(
    owner_client: Client, tenant: Tenant, sub: Subscriber, make_issue: IssueFn
) -> None:
    other = create_subscriber(tenant, {"email": "bert@example.com"})
    a = make_issue(tenant, sub, reason=refused("first name"))
    b = make_issue(tenant, other, reason=refused("last name"), state=IssueState.RETRYING)
    c = make_issue(tenant, None, step="pull", reason=TOO_LONG)
    key = group_key(a.step, a.code, a.reason)
    response = owner_client.post(url("issue_group_ignore", tenant, key=key), follow=True)
    assert "2 issues are ignored" in response.content.decode()
    states = dict(SyncIssue.objects.values_list("pk", "state"))
    assert states == {a.pk: IssueState.IGNORED, b.pk: IssueState.IGNORED, c.pk: IssueState.OPEN}
    assert f'data-group="{key}"' not in response.content.decode()
    again = owner_client.post(url("issue_group_ignore", tenant, key=key), follow=True)
    assert "No open issue has this reason any more." in again.content.decode()
    assert not JobRun.objects.filter(tenant=tenant).exists()


# -- the run's shown state ------------------------------------------------------------------


def test_a_run_that_left_issues_is_amber_everywhere(
    owner_client: Client, owner: AbstractUser, tenant: Tenant, ready: OrgSettings, make_run: RunFn
) -> None:
    clean = ended(make_run, tenant, result={"issues_left": 0})
    left = ended(make_run, tenant, result={"issues_left": 2}, params={"mode": "full"})
    jobs = owner_client.get(url("list", tenant)).content.decode()
    rows = dict(re.findall(r'<tr data-run="(\d+)">(.*?)</tr>', jobs, re.S))
    assert "status-succeeded_with_issues" in rows[str(left.pk)]
    assert "Succeeded with issues" in rows[str(left.pk)]
    assert 'status-succeeded"' in rows[str(clean.pk)]
    assert "with issues" not in rows[str(clean.pk)]
    detail = owner_client.get(url("detail", tenant, pk=left.pk)).content.decode()
    assert 'data-outcome="succeeded_with_issues"' in detail and "Succeeded with issues" in detail
    detail = owner_client.get(url("detail", tenant, pk=clean.pk)).content.decode()
    assert 'data-outcome="succeeded"' in detail and "with issues" not in detail
    health = owner_client.get(url("health", tenant)).content.decode()
    assert "status-succeeded_with_issues" in health  # the latest sync, in the runs table
    api = token_client(owner)
    base = f"/api/v1/tenants/{tenant.slug}/runs/"
    assert api.get(f"{base}{left.pk}/").json()["outcome"] == "succeeded_with_issues"
    clean_data = api.get(f"{base}{clean.pk}/").json()
    assert clean_data["outcome"] == "succeeded" and clean_data["issues_left"] == 0


def test_runs_ended_before_the_count_existed_use_their_failure_counters(
    owner_client: Client, tenant: Tenant, make_run: RunFn
) -> None:
    run = ended(make_run, tenant, counters={"push": {"created": 2, "failed": 1}})
    html = owner_client.get(url("detail", tenant, pk=run.pk)).content.decode()
    assert 'data-outcome="succeeded_with_issues"' in html


def test_a_finished_run_offers_no_cancel(
    owner_client: Client, tenant: Tenant, make_run: RunFn
) -> None:
    running = make_run(tenant)
    assert (
        'id="cancel-run"' in owner_client.get(url("detail", tenant, pk=running.pk)).content.decode()
    )
    poll = owner_client.get(url("progress", tenant, pk=running.pk) + "?cancel=1")
    assert 'id="cancel-run"' in poll.content.decode()
    JobRun.objects.filter(pk=running.pk).update(
        status=JobStatus.SUCCEEDED, finished_at=timezone.now()
    )
    # The poll that sees the end replaces the partial: the button goes with it.
    poll = owner_client.get(url("progress", tenant, pk=running.pk) + "?cancel=1")
    assert 'id="cancel-run"' not in poll.content.decode() and "hx-get" not in poll.content.decode()
    detail = owner_client.get(url("detail", tenant, pk=running.pk)).content.decode()
    assert 'id="cancel-run"' not in detail


# -- charts ---------------------------------------------------------------------------------


def series_values(html: str, chart: str, series: str) -> list[str]:
    svg = re.search(rf'<svg [^>]*id="{chart}".*?</svg>', html, re.S)
    assert svg is not None, chart
    group = re.search(
        rf'<g class="series [^"]*" data-series="{series}">(.*?)</g>', svg.group(0), re.S
    )
    assert group is not None, series
    return re.findall(r'data-value="([\d.]+)"', group.group(1))


def test_the_sync_charts_show_a_point_per_run(
    owner_client: Client, tenant: Tenant, ready: OrgSettings, make_run: RunFn
) -> None:
    figures = [(4, 0, 12), (7, 1, 30), (0, 3, 2)]  # (created, issues left, seconds)
    for created, left, seconds in figures:
        run = ended(
            make_run,
            tenant,
            counters={"push": {"created": created, "unchanged": 9}},
            result={"issues_left": left},
        )
        assert run.started_at is not None
        JobRun.objects.filter(pk=run.pk).update(
            finished_at=run.started_at + dt.timedelta(seconds=seconds)
        )
    make_run(
        tenant, params={"mode": "incremental", "dry_run": True}, status=JobStatus.SUCCEEDED
    )  # a dry run is not charted
    html = owner_client.get(url("health", tenant)).content.decode()
    assert series_values(html, "chart-sync-records", "changed") == ["4", "7", "0"]
    assert series_values(html, "chart-sync-records", "failed") == ["0", "1", "3"]
    assert series_values(html, "chart-sync-duration", "duration") == ["12", "30", "2"]
    assert '<title id="chart-sync-records-title">Records per sync</title>' in html
    assert 'role="img"' in html and "<script" not in html.split("<main", 1)[1]
    assert " style=" not in html
    assert "Show the figures as a table" in html


def test_the_reactions_chart_counts_per_campaign_and_day(
    owner_client: Client, tenant: Tenant, ready: OrgSettings, sub: Subscriber
) -> None:
    spring = create_campaign(tenant, "Spring", recipients=1)
    summer = create_campaign(tenant, "Summer", recipients=1)
    now = timezone.now()
    for i, (campaign, days_ago) in enumerate(
        [(spring, 0), (spring, 0), (spring, 1), (summer, 0), (summer, 20)]
    ):
        Reaction.objects.create(
            tenant=tenant,
            subscriber=sub,
            campaign=campaign,
            kind="open",
            occurred_at=now - dt.timedelta(days=days_ago),
            source_event_id=f"e{i}",
        )
    html = owner_client.get(url("health", tenant)).content.decode()
    spring_values = series_values(html, "chart-reactions", f"campaign-{spring.pk}")
    summer_values = series_values(html, "chart-reactions", f"campaign-{summer.pk}")
    assert len(spring_values) == 14 and spring_values[-2:] == ["1", "2"]
    assert summer_values[-1] == "1" and sum(map(int, summer_values)) == 1  # 20 days: not shown
    assert "Spring" in html and "Summer" in html


def test_without_runs_or_reactions_the_page_says_so(
    owner_client: Client, tenant: Tenant, ready: OrgSettings
) -> None:
    html = owner_client.get(url("health", tenant)).content.decode()
    assert "No sync has ended yet." in html and 'id="no-reactions"' in html
    assert 'id="no-open-issues"' in html


def test_the_page_speaks_german(
    owner_client: Client,
    tenant: Tenant,
    ready: OrgSettings,
    sub: Subscriber,
    make_issue: IssueFn,
    make_run: RunFn,
) -> None:
    make_issue(tenant, sub)
    run = ended(make_run, tenant, result={"issues_left": 1}, counters={"push": {"created": 1234}})
    html = owner_client.get(url("health", tenant), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Zustand der Synchronisation" in html and "Offene Probleme nach Grund" in html
    assert "Erfolgreich mit Problemen" in html and "Datensätze pro Synchronisation" in html
    assert f"Geänderte Datensätze, #{run.pk}: 1.234" in html  # German figures
    detail = owner_client.get(url("detail", tenant, pk=run.pk), HTTP_ACCEPT_LANGUAGE="de")
    assert "Erfolgreich mit Problemen" in detail.content.decode()


def test_the_page_costs_the_same_queries_however_much_there_is(
    owner_client: Client,
    tenant: Tenant,
    ready: OrgSettings,
    sub: Subscriber,
    make_issue: IssueFn,
    make_run: RunFn,
) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert owner_client.get(url("health", tenant)).status_code == 200
        return len(ctx.captured_queries)

    ended(make_run, tenant, result={"issues_left": 1})
    make_issue(tenant, sub)
    campaign = create_campaign(tenant, "Spring", recipients=1)
    Reaction.objects.create(
        tenant=tenant,
        subscriber=sub,
        campaign=campaign,
        kind="open",
        occurred_at=timezone.now(),
        source_event_id="first",
    )
    few = queries()
    for i in range(12):
        ended(make_run, tenant, result={"issues_left": i % 3}, counters={"push": {"created": i}})
        other = create_subscriber(tenant, {"email": f"many{i}@example.com"})
        make_issue(tenant, other, reason=refused(f"field {i % 4}"))
        Reaction.objects.create(
            tenant=tenant,
            subscriber=other,
            campaign=campaign,
            kind="click",
            occurred_at=timezone.now(),
            source_event_id=f"m{i}",
        )
    assert queries() == few


def test_sync_now_from_the_health_page_comes_back_to_it(
    owner_client: Client, member_client: Client, tenant: Tenant, ready: OrgSettings
) -> None:
    assert 'id="health-sync-now"' not in member_client.get(url("health", tenant)).content.decode()
    html = owner_client.get(url("health", tenant)).content.decode()
    assert 'id="health-sync-now"' in html
    response = owner_client.post(
        url("sync_start", tenant), {"mode": "incremental", "next": url("health", tenant)}
    )
    assert response.status_code == 302 and response["Location"] == url("health", tenant)
    assert JobRun.objects.filter(tenant=tenant, kind=JobKind.SYNC, status=JobStatus.QUEUED).exists()
    for page in ("list", "issues"):
        assert url("health", tenant) in owner_client.get(url(page, tenant)).content.decode()


# -- the API --------------------------------------------------------------------------------


def test_the_api_gives_the_same_figures(
    owner: AbstractUser,
    outsider: AbstractUser,
    tenant: Tenant,
    ready: OrgSettings,
    sub: Subscriber,
    make_issue: IssueFn,
    make_run: RunFn,
) -> None:
    issue = make_issue(tenant, sub)
    run = ended(
        make_run,
        tenant,
        result={"issues_left": 1},
        counters={"http": {"round_trips": 42, "throttled": 2}},
    )
    path = f"/api/v1/tenants/{tenant.slug}/sync-health/"
    assert token_client(outsider).get(path).status_code == 404
    data = token_client(owner).get(path).json()
    assert data["state"] == "waiting"  # factory runs write no SyncStatus: as before a sync
    runs = {r["kind"]: r for r in data["runs"]}
    assert runs["sync"]["last_run"]["id"] == run.pk
    assert runs["sync"]["last_run"]["outcome"] == "succeeded_with_issues"
    assert runs["reconcile"]["due_now"] is True and runs["reaction_export"]["last_run"] is None
    assert data["records"]["failing"] == 1
    not_synced = {c["reason"]: c["count"] for c in data["records"]["not_synced"]}
    assert not_synced["not_linked"] == 1  # sub is in the synced group, not linked
    [group] = data["issue_groups"]
    assert group["key"] == group_key(issue.step, issue.code, issue.reason)
    assert group["count"] == 1 and group["code"] == "0x80044331"
    assert data["request_budget"]["used"] == 42 and data["request_budget"]["throttled"] == 2
    assert data["request_budget"]["limit"] == 6000
