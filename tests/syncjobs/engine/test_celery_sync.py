"""A real Celery worker process runs a sync end to end through the task."""

from __future__ import annotations

import subprocess
import time

import pytest

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics import DataverseClient
from syncjobs.engine.start import start_sync
from syncjobs.models import JobRun, JobStatus, LinkState, RecordLink
from tenants.models import Tenant
from tests.syncjobs.engine.conftest import records_by_email
from tests.worker_fixtures import celery_worker_process  # noqa: F401


@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_sync_through_the_task(
        tenant: Tenant, group: SubscriberGroup, names: None, crm_client: DataverseClient,
        celery_worker_process: subprocess.Popen[bytes]) -> None:  # noqa: F811
    sub = create_subscriber(tenant, {"email": "celery@example.org", "first_name": "Cel"})
    add_members(group, [sub.pk])
    run = start_sync(tenant, "incremental")  # autocommit: dispatched at once
    deadline = time.monotonic() + 90
    while JobRun.objects.get(pk=run.pk).status in JobStatus.active():
        assert celery_worker_process.poll() is None, "the worker died"
        assert time.monotonic() < deadline, "the worker never finished the sync"
        time.sleep(0.2)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    link = RecordLink.objects.get(subscriber=sub, state=LinkState.ACTIVE)
    contacts = records_by_email(crm_client, "celery@example.org")["contact"]
    assert [c["contactid"] for c in contacts] == [str(link.crm_id)]
    assert run.counters["http"]["round_trips"] > 0
