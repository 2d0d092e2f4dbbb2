"""Browser: "Sync now" for a tenant wired to the emulator, through a real Celery worker.
The progress bar runs to the end; the one subscriber the CRM refuses (a first name longer
than the CRM's column) is listed with its reason; once corrected it is retried and the
issue resolves (S12, N3)."""

from __future__ import annotations

import subprocess
import time
from typing import Any

import pytest

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber, update_subscriber
from syncjobs.models import IssueState, JobRun, JobStatus, SyncIssue
from tenants.models import Tenant
from tests.conftest import PASSWORD
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


def wait_for_run(run_id: int, worker: subprocess.Popen[bytes]) -> JobRun:
    deadline = time.monotonic() + 90
    while (run := JobRun.objects.get(pk=run_id)).status in JobStatus.active():
        assert worker.poll() is None, "the worker died"
        assert time.monotonic() < deadline, "the worker never finished the run"
        time.sleep(0.2)
    return run


def test_sync_now_progress_issue_and_retry(
        live_server: Any, page: Any, tenant: Tenant, owner: Any, group: SubscriberGroup,  # noqa: F811
        names: None, celery_worker_process: subprocess.Popen[bytes],  # noqa: F811
) -> None:
    good = [create_subscriber(tenant, {"email": f"ok{i}@sync-now.example",
                                       "first_name": f"Ok{i}"}) for i in range(3)]
    bad = create_subscriber(tenant, {"email": "too-long@sync-now.example",
                                     "first_name": "X" * 80})
    add_members(group, [s.pk for s in [*good, bad]])

    page.goto(f"{live_server.url}/accounts/login/?next=/t/acme/jobs/")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.click("#sync-now-incremental")
    # The run's page: the partial polls while the run is active and stops at its end.
    page.wait_for_selector(".job-progress[data-status=succeeded]", timeout=90_000)
    assert page.get_attribute(".job-progress progress.bar", "value") == "100"
    assert "1 record could not sync" in page.inner_text(".sync-result")
    assert "mailworx → CRM" in page.inner_text(".step-counters")

    page.click("nav.tenant-nav >> text=Sync issues")
    row = page.locator("tr[data-state=open]", has_text="too-long@sync-now.example")
    assert row.count() == 1
    row.locator("td.reason a").click()
    reason = page.inner_text(".issue .reason")
    assert reason and "Traceback" not in reason
    assert page.inner_text(".issue-state") == "Open"

    # The admin corrects the record in mailworx, then retries it.
    update_subscriber(bad, {"first_name": "Fixed"})
    page.click(".issue .retry-issue")
    assert "will be tried again" in page.inner_text("ul.messages")
    retry = JobRun.objects.filter(params__mode="subscriber").get()
    assert retry.params["subscriber_id"] == bad.pk
    assert wait_for_run(retry.pk, celery_worker_process).status == JobStatus.SUCCEEDED
    page.reload()
    assert page.inner_text(".issue-state") == "Resolved"
    assert SyncIssue.objects.get(subscriber=bad).state == IssueState.RESOLVED
