"""Browser (#20, records you can follow): after a sync in which the CRM refuses one record,
the admin opens the sync issues, follows the issue to the subscriber, sees the linked CRM
record with a link that opens it in Dynamics, corrects the value in the subscriber's edit
form, retries, and sees the issue resolved — with each attempt in its history and the
field's provenance on the subscriber's page."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber, current_values
from dynamics import DataverseClient
from orgsettings.models import OrgSettings
from syncjobs.models import IssueState, JobRun, JobStatus, SyncIssue
from tenants.models import Tenant
from tests.conftest import PASSWORD
from tests.e2e.test_sync_now import wait_for_run
from tests.syncjobs.engine.conftest import (  # noqa: F401  (fixtures)
    crm_client,
    crm_org,
    fields,
    group,
    map_field,
    names,
    org,
    unit,
)
from tests.worker_fixtures import celery_worker_process  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

EMAIL = "too-long@follow.example"


def test_follow_an_issue_to_the_subscriber_correct_it_and_retry(
        live_server: Any, page: Any, tenant: Tenant, owner: Any, group: SubscriberGroup,  # noqa: F811
        names: None, org: OrgSettings, crm_client: DataverseClient,  # noqa: F811
        celery_worker_process: subprocess.Popen[bytes],  # noqa: F811
) -> None:
    # The CRM has the person already (no first name); mailworx's first name is longer than
    # the CRM's column, so linking works and writing the name is refused.
    crm_id = crm_client.create("contacts", {"emailaddress1": EMAIL, "lastname": "Follow"})
    ok = create_subscriber(tenant, {"email": "ok@follow.example", "first_name": "Ok"})
    bad = create_subscriber(tenant, {"email": EMAIL, "first_name": "X" * 80})
    add_members(group, [ok.pk, bad.pk])

    page.goto(f"{live_server.url}/accounts/login/?next=/t/acme/jobs/")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.click("#sync-now-incremental")
    page.wait_for_selector(".job-progress[data-status=succeeded]", timeout=90_000)
    assert "1 record could not sync" in page.inner_text(".sync-result")

    # The health page → its failing records → the issue → the subscriber.
    page.click("nav.tenant-nav >> text=Sync health")
    assert page.inner_text("#records-failing") == "1"
    assert page.locator("#health-issues table.issue-groups tbody tr").count() == 1
    page.click("#records-failing a")
    page.locator("tr[data-state=open]", has_text=EMAIL).locator("td.reason a").click()
    assert page.inner_text(".issue-state") == "Open"
    issue_url = page.url
    expected = (f"{org.crm_url.rstrip('/')}/main.aspx?etn=contact&id={crm_id}"
                f"&pagetype=entityrecord")
    assert page.get_attribute(".issue .crm-record a", "href") == expected
    page.click(".issue a.issue-subscriber")

    # The subscriber's page: its CRM record, opened in Dynamics by the same link.
    record = page.locator(".crm-link[data-entity=contact]")
    assert record.locator(".crm-state").inner_text() == "Linked"
    assert record.locator("a.open-in-dynamics").get_attribute("href") == expected
    # Why: mailworx's first name won, but the CRM has not taken it (yet).
    refused = record.locator(".field-sources tr[data-field=first_name]")
    assert refused.get_attribute("data-side") == "mailworx"
    assert refused.get_attribute("data-pending") == "true"
    assert "not yet in the CRM" in refused.inner_text()

    # Correct the value in the edit form; a bad value first is explained, nothing saved.
    page.click("a.edit-subscriber")
    page.fill("#id_email", "not-an-address")
    page.fill("#id_first_name", "Fixed")
    page.click("button.save-subscriber")
    assert "“not-an-address” is not a valid email address." in page.inner_text(
        "form.subscriber-edit")
    assert current_values([bad.pk])[bad.pk]["first_name"] == "X" * 80
    page.fill("#id_email", EMAIL)
    page.fill("#id_first_name", "Fixed")
    page.click("button.save-subscriber")
    assert "The subscriber was saved" in page.inner_text("ul.messages")

    # Back to the issue: retry, and the issue resolves.
    page.goto(issue_url)
    page.click(".issue .retry-issue")
    assert "will be tried again" in page.inner_text("ul.messages")
    retry = JobRun.objects.filter(params__mode="subscriber").get()
    assert wait_for_run(retry.pk, celery_worker_process).status == JobStatus.SUCCEEDED
    page.reload()
    assert page.inner_text(".issue-state") == "Resolved"
    outcomes = page.locator(".issue-history tbody tr").evaluate_all(
        "rows => rows.map(r => r.dataset.outcome)")
    assert outcomes == ["resolved", "retry", "failed"]  # newest first
    assert SyncIssue.objects.get(subscriber=bad).state == IssueState.RESOLVED
    assert crm_client.get("contacts", str(crm_id), select=["firstname"])["firstname"] == "Fixed"

    # The issues list no longer counts it; the subscriber's page says why the name changed.
    page.click("nav.tenant-nav >> text=Sync issues")
    assert page.locator("tr[data-state=open]", has_text=EMAIL).count() == 0
    # The health page has caught up: nothing failing, no open issue group.
    page.click("nav.tenant-nav >> text=Sync health")
    assert page.inner_text("#records-failing") == "0"
    assert page.locator("#no-open-issues").count() == 1
    page.goto(f"{live_server.url}/t/acme/subscribers/{bad.pk}/")
    row = page.locator(".field-sources tr[data-field=first_name]")
    assert row.get_attribute("data-side") == "mailworx"
    assert row.get_attribute("data-pending") is None
    assert f"#{retry.pk}" in row.inner_text()
    assert page.locator(f".sync-history tr[data-run='{retry.pk}']").count() == 1
