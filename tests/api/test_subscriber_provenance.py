"""Records you can follow (#20) in the API: each CRM link of a subscriber names the record
(as last synced) and says why each mapped field has its value (side, run, S11 rule)."""

from __future__ import annotations

import uuid

import pytest
from rest_framework.test import APIClient

from audience.subscribers import create_subscriber
from syncjobs.models import JobKind, JobRun, RecordLink
from tenants.models import Tenant
from tests.mapping_fixtures import save_settings

pytestmark = pytest.mark.django_db

URL = "/api/v1/tenants/acme/subscribers/"


def test_links_name_the_record_and_the_fields_provenance(
        tenant: Tenant, member_api: APIClient, outsider_api: APIClient) -> None:
    save_settings(tenant)
    sub = create_subscriber(tenant, {"email": "anna@example.com"})
    run = JobRun.objects.create(tenant=tenant, kind=JobKind.SYNC, status="succeeded")
    RecordLink.objects.create(
        tenant=tenant, subscriber=sub, entity_type="account", crm_id=uuid.uuid4(),
        synced_values={"company": "Acme GmbH", "first_name": "Anna"},
        field_sources={"company": ["crm", run.pk, "newer"], "bad": "not a source",
                       "first_name": ["mailworx", run.pk, "one_side", "pending"]})
    [shown] = member_api.get(f"{URL}{sub.pk}/").json()["crm_links"]
    assert shown["name"] == "Acme GmbH"  # an account is named by its company
    assert shown["field_sources"] == {
        "company": {"side": "crm", "run": run.pk, "rule": "newer", "pending": False},
        "first_name": {"side": "mailworx", "run": run.pk, "rule": "one_side", "pending": True}}
    assert outsider_api.get(f"{URL}{sub.pk}/").status_code == 404
