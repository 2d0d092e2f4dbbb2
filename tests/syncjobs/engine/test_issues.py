"""N3: a record that cannot sync is listed with a readable reason, the others continue,
retries are bounded and a person can retry. N2: an unchanged tenant costs few requests."""

from __future__ import annotations

import pytest

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber, update_subscriber
from dynamics import DataverseClient
from syncjobs.engine.issues import retry_issue
from syncjobs.models import IssueState, JobStatus, LinkState, RecordLink, SyncIssue, SyncStatus
from tenants.models import Tenant
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn, records_by_email

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def test_n3_one_bad_record_is_explained_the_others_sync_and_retries_are_bounded(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_client: DataverseClient) -> None:
    good = [create_subscriber(tenant, {"email": f"ok{i}@issues.example"}) for i in range(3)]
    bad = create_subscriber(tenant, {"email": "bad@issues.example", "first_name": "X" * 80})
    add_members(group, [s.pk for s in [*good, bad]])
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counters["push"]["created"] == 3 and run.counters["push"]["failed"] == 1
    for sub in good:
        assert RecordLink.objects.get(subscriber=sub).state == LinkState.ACTIVE
    issue = SyncIssue.objects.get(subscriber=bad)
    assert issue.step == "push" and issue.code and issue.reason
    assert "Traceback" not in issue.reason and issue.hint
    assert SyncStatus.objects.get(tenant=tenant).open_issues == 1
    sync()
    sync()
    issue.refresh_from_db()
    assert issue.attempts == 3 and issue.state == IssueState.OPEN
    skipped = sync()  # used up: skipped until a person retries
    assert skipped.counters["push"].get("failed", 0) == 0
    issue.refresh_from_db()
    assert issue.attempts == 3
    update_subscriber(bad, {"first_name": "Fixed"})
    retry_issue(issue)
    fixed = sync()
    assert fixed.counters["push"]["created"] == 1
    issue.refresh_from_db()
    assert issue.state == IssueState.RESOLVED
    assert len(records_by_email(crm_client, "bad@issues.example")["contact"]) == 1


@pytest.mark.webapi_only  # Web API request counts: change tracking's delta and Journeys
def test_n2_a_run_without_changes_costs_a_request_per_tracked_table(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn) -> None:
    subs = [create_subscriber(tenant, {"email": f"n2-{i}@budget.example"}) for i in range(12)]
    add_members(group, [s.pk for s in subs])
    assert sync().status == JobStatus.SUCCEEDED
    sync()  # the first pull reads the table once to start change tracking
    quiet = sync()
    # One delta request for contacts, one read of the consent rows changed in Customer
    # Insights – Journeys (contoso has it), one read of the marketing lists (S1
    # discovery), one look for distributed campaign activities (S3, S12); the group's list
    # (S6) did not change, so its members are not read.
    assert quiet.counters["http"]["round_trips"] == 4
    assert "members_read" not in quiet.counters["lists"]
    assert quiet.counters["push"].get("updated", 0) == 0
