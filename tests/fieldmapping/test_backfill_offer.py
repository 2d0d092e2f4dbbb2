"""S14 on the pages: after a mapping change, say that linked records need a backfill and
offer it with one click (the business unit's page and the Jobs page)."""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audience.models import SubscriberField
from audience.subscribers import create_subscriber
from businessunits.models import BusinessUnit
from fieldmapping.models import CrmAttribute
from orgsettings.models import OrgSettings
from syncjobs.models import JobRun, RecordLink
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_a_mapping_saved_after_records_were_linked_offers_a_backfill(
        tenant: Tenant, unit: BusinessUnit, catalogue: None,
        standard_fields: dict[str, SubscriberField], owner_client: Client,
        no_dispatch: list[int]) -> None:
    OrgSettings.objects.filter(tenant=tenant).update(check_passed_at=timezone.now(),
                                                     sync_started_at=timezone.now())
    sub = create_subscriber(tenant, {"email": "linked@example.org"})
    RecordLink.objects.create(tenant=tenant, subscriber=sub, entity_type="contact",
                              crm_id=uuid.uuid4())
    detail = reverse("businessunits:detail", kwargs={"tenant": tenant.slug, "pk": unit.pk})
    assert 'id="backfill-now"' not in owner_client.get(detail).content.decode()
    attr = CrmAttribute.objects.get(tenant=tenant, entity="contact", logical_name="firstname")
    response = owner_client.post(
        reverse("fieldmapping:create", kwargs={"tenant": tenant.slug, "unit_pk": unit.pk,
                                               "entity": "contact"}),
        {"crm_attribute": attr.pk, "subscriber_field": standard_fields["first_name"].pk,
         "direction": "both"}, follow=True)
    html = response.content.decode()
    assert "1 record was linked before this change" in html
    assert 'id="backfill-now"' in html
    jobs = owner_client.get(reverse("syncjobs:list", kwargs={"tenant": tenant.slug}))
    assert 'id="backfill-needed"' in jobs.content.decode()
    owner_client.post(reverse("syncjobs:sync_start", kwargs={"tenant": tenant.slug}),
                      {"mode": "backfill", "next": detail})
    assert JobRun.objects.get(tenant=tenant).params["mode"] == "backfill"
