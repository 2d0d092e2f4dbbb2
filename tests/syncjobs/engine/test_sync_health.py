"""Sync health (issue #20) after a real sync against the emulator: one record the CRM
refuses, three it takes. The run ends "Succeeded with issues" and its log names the
refused record; the health page's figures and chart points are the run's own."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber
from syncjobs.health_charts import records_changed
from syncjobs.models import JobLogLine, JobStatus, SyncIssue
from syncjobs.models.jobs import SUCCEEDED_WITH_ISSUES
from tenants.models import Tenant
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


def test_a_sync_that_left_an_issue_is_amber_named_and_counted(
    owner_client: Client, tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn
) -> None:
    good = [create_subscriber(tenant, {"email": f"ok{i}@health.example"}) for i in range(3)]
    bad = create_subscriber(tenant, {"email": "bad@health.example", "first_name": "X" * 80})
    add_members(group, [s.pk for s in [*good, bad]])
    create_subscriber(tenant, {"email": "alone@health.example"})  # in no synced group
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.result["issues_left"] == 1 and run.outcome == SUCCEEDED_WITH_ISSUES
    named = JobLogLine.objects.filter(
        run=run, level=JobLogLine.Level.WARNING, message__contains="bad@health.example"
    )
    assert named.count() == 1
    issue = SyncIssue.objects.get(subscriber=bad)
    assert named.get().data == {"issues": [issue.pk]}

    detail = owner_client.get(run.get_absolute_url()).content.decode()
    assert (
        "Succeeded with issues" in detail
        and "1 record could not sync in this run: bad@health.example." in detail
    )
    assert 'id="cancel-run"' not in detail

    html = owner_client.get(
        reverse("syncjobs:health", kwargs={"tenant": tenant.slug})
    ).content.decode()
    assert re.search(r'id="records-in-sync">3<', html)
    assert re.search(r'id="records-failing"><a [^>]*>1<', html)
    assert re.search(
        r'data-reason="not_in_synced_group"><th scope="row">[^<]+</th><td class="count">1<', html
    )
    rows = re.findall(r'<tr data-group="\w+">(.*?)</tr>', html, re.S)
    assert len(rows) == 1 and '<td class="count">1' in rows[0] and "mailworx → CRM" in rows[0]
    trips = run.counters["http"]["round_trips"]
    assert f"{trips} of 6000 requests in the current 5-minute window" in html
    svg = re.search(r'<svg [^>]*id="chart-sync-records".*?</svg>', html, re.S)
    assert svg is not None
    changed = re.search(r'data-series="changed">.*?data-value="(\d+)"', svg.group(0), re.S)
    failed = re.search(r'data-series="failed">.*?data-value="(\d+)"', svg.group(0), re.S)
    assert changed and failed
    assert int(changed.group(1)) == records_changed(run) >= 3 and failed.group(1) == "1"
