"""A worker waiting out a throttled CRM request holds no database lock: the product's web
pages keep writing meanwhile (SQLite takes its write lock when a transaction begins, so a
wait inside one would block every web write past the busy timeout)."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics import DataverseClient
from orgsettings.models import OrgSettings
from syncjobs.engine.start import start_sync
from syncjobs.models import JobRun, JobStatus, RecordLink
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.worker_fixtures import WITH_TEST_BODIES, worker_env

ROOT = Path(__file__).resolve().parents[3]
WAIT = 8  # the CRM's Retry-After, seconds


def injected_429s(admin: EmulatorAdmin) -> int:
    faults = admin.session.get(f"{admin.base}/faults", timeout=10).json()
    return int(faults["injected"].get("fail_next 429", 0))


@pytest.mark.django_db(transaction=True)
def test_a_web_write_succeeds_while_a_worker_waits_on_a_429(
        tenant: Tenant, group: SubscriberGroup, org: OrgSettings, names: None,
        crm_client: DataverseClient, crm_admin: EmulatorAdmin, owner_client: Client,
        no_dispatch: list[int]) -> None:
    # A deactivated contact with the option on: the match step reactivates it (a CRM
    # write), and the CRM throttles exactly that request.
    OrgSettings.objects.filter(pk=org.pk).update(reactivate_deactivated=True)
    contact = next(iter(crm_client.query("contacts", filter="statecode eq 1", top=1)))
    add_members(group, [create_subscriber(tenant, {"email": contact["emailaddress1"]}).pk])
    crm_admin.session.post(f"{crm_admin.base}/faults", json={"enabled": True, "fail_next": [
        {"method": "PATCH", "path": r"contacts\(", "count": 1, "status": 429,
         "retry_after": WAIT}]}, timeout=10).raise_for_status()
    run = start_sync(tenant, "incremental")
    worker = subprocess.Popen([*WITH_TEST_BODIES, "manage.py", "run_job", str(run.pk)],
                              cwd=ROOT, env=worker_env())
    try:
        deadline = time.monotonic() + 60
        while injected_429s(crm_admin) == 0:
            assert time.monotonic() < deadline, "the worker never reached the reactivation"
            assert worker.poll() is None, "the worker exited early"
            time.sleep(0.05)
        started = time.monotonic()
        response = owner_client.post(
            reverse("audience_data:groups", kwargs={"tenant": tenant.slug}),
            {"name": "Written while the worker waits", "description": ""})
        elapsed = time.monotonic() - started
        assert response.status_code in (200, 302)
        assert SubscriberGroup.objects.filter(name="Written while the worker waits").exists()
        assert elapsed < 1.0, f"the web write waited {elapsed:.1f} s for the worker"
        assert worker.wait(timeout=60) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counters["http"]["wait_seconds"] >= WAIT
    assert RecordLink.objects.filter(crm_id=contact["contactid"]).exists()
    assert JobRun.objects.filter(pk=run.pk, attempts=1).exists()
