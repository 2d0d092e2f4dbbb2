"""Per-field provenance (#20): which side last set a mapped field, in which run and by which
S11 rule, recorded on the link by the sync itself; and an issue's attempt history kept
across retries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from audience.groups import add_members
from audience.models import SubscriberField, SubscriberGroup
from audience.subscribers import create_subscriber, update_subscriber
from dynamics import DataverseClient
from syncjobs.engine.issues import retry_issue
from syncjobs.models import AttemptOutcome, IssueState, JobStatus, RecordLink, SyncIssue
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, MapFn, SyncFn
from tests.syncjobs.engine.test_fields import linked_contact, text_field

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


@pytest.fixture
def job(tenant: Tenant, map_field: MapFn, names: None) -> SubscriberField:
    field = text_field(tenant, "job")
    map_field("contact", "jobtitle", "job")
    return field


def test_a_crm_side_change_is_recorded_as_the_crms_with_run_and_rule(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, job: SubscriberField, crm_org: str) -> None:
    _sub, link = linked_contact(crm_client, group, sync, "crm-side@example.org",
                               {"firstname": "Anna", "jobtitle": "Clerk"})
    first_run = link.field_sources["job"][1]
    # Linking took the CRM's values over an empty mailworx side.
    assert link.field_sources["job"] == ["crm", first_run, "new_empty"]
    crm_admin.patch(crm_org, "contacts", str(link.crm_id), {"jobtitle": "Manager"})
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    link.refresh_from_db()
    assert link.field_sources["job"] == ["crm", run.pk, "one_side"]
    # Untouched fields keep what was recorded before.
    assert link.field_sources["first_name"] == ["crm", first_run, "new_empty"]


def test_a_mailworx_side_change_is_recorded_when_push_sends_it(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        job: SubscriberField) -> None:
    sub, link = linked_contact(crm_client, group, sync, "mwx-side@example.org",
                               {"jobtitle": "Clerk"})
    update_subscriber(sub, {"job": "Boss"})
    run = sync()
    assert run.counters["push"]["updated"] == 1
    link.refresh_from_db()
    assert link.field_sources["job"] == ["mailworx", run.pk, "one_side"]


def test_a_conflict_records_the_newer_side_and_the_rule_that_chose_it(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, job: SubscriberField, crm_org: str) -> None:
    sub, link = linked_contact(crm_client, group, sync, "both@example.org",
                               {"firstname": "Anna", "lastname": "Alt"})
    crm_admin.patch(crm_org, "contacts", str(link.crm_id),
                    {"firstname": "Anne-CRM", "lastname": "Neu-CRM"})
    now = timezone.now()
    update_subscriber(sub, {"first_name": "Anna-MWX"}, now=now - dt.timedelta(hours=1))
    update_subscriber(sub, {"last_name": "Neu-MWX"}, now=now + dt.timedelta(hours=1))
    run = sync()
    link.refresh_from_db()
    assert link.field_sources["first_name"] == ["crm", run.pk, "newer"]
    # Pull decided it for mailworx; push sent it in the same run and kept the rule.
    assert link.field_sources["last_name"] == ["mailworx", run.pk, "newer"]


def test_a_record_created_from_the_subscriber_names_the_create(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn) -> None:
    sub = create_subscriber(tenant, {"email": "created@example.org", "first_name": "Cleo"})
    add_members(group, [sub.pk])
    run = sync()
    link = RecordLink.objects.get(subscriber=sub)
    assert link.field_sources["first_name"] == ["mailworx", run.pk, "created"]


def test_a_value_the_crm_refused_stays_pending_until_it_is_written(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_client: DataverseClient) -> None:
    # Linked to an existing record without a first name: mailworx's (too long) one wins,
    # and the CRM refuses it.
    crm_client.create("contacts", {"emailaddress1": "refused@example.org", "lastname": "R"})
    sub = create_subscriber(tenant, {"email": "refused@example.org", "first_name": "X" * 80})
    add_members(group, [sub.pk])
    first = sync()
    link = RecordLink.objects.get(subscriber=sub)
    assert link.field_sources["first_name"] == ["mailworx", first.pk, "new_empty", "pending"]
    assert "first_name" not in link.synced_values
    update_subscriber(sub, {"first_name": "Fine"})
    retry_issue(SyncIssue.objects.get(subscriber=sub))
    second = sync()
    link.refresh_from_db()
    # Written in the later run; the rule that decided it is kept.
    assert link.field_sources["first_name"] == ["mailworx", second.pk, "new_empty"]
    assert link.synced_values["first_name"] == "Fine"


def test_an_issue_keeps_its_attempts_across_two_retries(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn) -> None:
    bad = create_subscriber(tenant, {"email": "history@issues.example", "first_name": "X" * 80})
    add_members(group, [bad.pk])
    first = sync()
    issue = SyncIssue.objects.get(subscriber=bad)
    retry_issue(issue, by="owner@acme.example")
    second = sync()  # still too long: fails again
    issue.refresh_from_db()
    assert issue.state == IssueState.OPEN and issue.attempts == 1  # the counter restarted
    update_subscriber(bad, {"first_name": "Fixed"})
    retry_issue(issue, by="owner@acme.example")
    third = sync()
    issue.refresh_from_db()
    assert issue.state == IssueState.RESOLVED
    history = list(issue.history.order_by("at", "pk").values_list("outcome", "run_id", "by"))
    assert history == [
        (AttemptOutcome.FAILED, first.pk, ""),
        (AttemptOutcome.RETRY_REQUESTED, None, "owner@acme.example"),
        (AttemptOutcome.FAILED, second.pk, ""),
        (AttemptOutcome.RETRY_REQUESTED, None, "owner@acme.example"),
        (AttemptOutcome.RESOLVED, third.pk, ""),
    ]
    assert all(a.reason for a in issue.history.filter(outcome=AttemptOutcome.FAILED))
