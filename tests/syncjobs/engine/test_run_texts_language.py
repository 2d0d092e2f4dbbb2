"""A run's step title and skip reasons are stored as msgids: a German reader sees them in
German although the run was written in English (C16)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics import DataverseClient
from syncjobs.models import JobStatus, RecordLink
from tenants.models import Tenant
from tests.syncjobs.engine.conftest import SyncFn

pytestmark = pytest.mark.django_db


def test_step_titles_and_skip_reasons_are_read_in_the_readers_language(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        owner_client: Client, crm_client: DataverseClient) -> None:
    sub = create_subscriber(tenant, {"email": "sprache@example.org", "last_name": "Huber"})
    add_members(group, [sub.pk])
    assert sync().status == JobStatus.SUCCEEDED
    link = RecordLink.objects.get(subscriber=sub)
    crm_client.update("contacts", str(link.crm_id), {"statecode": 1, "statuscode": 2})
    again = sync()  # the pull skips the record: "deactivated in the CRM"
    assert again.status == JobStatus.SUCCEEDED
    assert again.progress_label.msgid == "Step: %(step)s"  # stored, not a sentence
    url = reverse("syncjobs:detail", kwargs={"tenant": tenant.slug, "pk": again.pk})
    german = owner_client.get(url, HTTP_ACCEPT_LANGUAGE="de").content.decode()
    english = owner_client.get(url, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Schritt: " in german and "Step: " not in german
    reasons = {r for step in again.counters.values() if isinstance(step, dict)
               for r in (step.get("skipped") or {})}
    assert reasons, again.counters
    for reason in reasons:  # English msgids in the counters, German on the German page
        assert reason in english and reason not in german, reason
