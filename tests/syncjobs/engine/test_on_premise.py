"""An on-premise 8.2 organisation (fabrikam): no bulk messages ($batch instead), no change
tracking (modifiedon watermark), and the owner written as DOMAIN\\user (S5)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audience.groups import add_members, create_group, save_sync_setting
from audience.services import ensure_standard_fields
from audience.subscribers import create_subscriber, current_values
from businessunits.services import create_unit
from dynamics_emulator.server import EmulatorServer
from fieldmapping.catalogue import load_catalogue
from fieldmapping.metadata import attribute_data
from fieldmapping.models import CrmAttribute
from fieldmapping.services import MappingInput, save_mapping
from orgsettings.connection import client_for
from orgsettings.models import OrgSettings
from syncjobs.models import JobStatus, LinkState, RecordLink
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin, configure_tenant_for_emulator
from tests.syncjobs.engine.conftest import SyncFn, records_by_email

pytestmark = pytest.mark.django_db


def test_on_premise_owner_batch_creates_and_watermark_pull(
        tenant: Tenant, crm: EmulatorServer, crm_admin: EmulatorAdmin, sync: SyncFn) -> None:
    settings = configure_tenant_for_emulator(tenant, crm, org="fabrikam")
    OrgSettings.objects.filter(pk=settings.pk).update(check_passed_at=timezone.now(),
                                                      sync_started_at=timezone.now())
    fields = {f.key: f for f in ensure_standard_fields(tenant)}
    with client_for(tenant) as client:
        load_catalogue(tenant, {"entities": {"contact": {"attributes": [
            attribute_data(a) for a in client.entity_attributes("contact")]}}})
        unit = create_unit(tenant, name="On-prem", owner_id=
                           "00000000-0000-0000-0000-000000000002", owner_name="x")
        save_mapping(unit, "contact", MappingInput(
            CrmAttribute.objects.get(tenant=tenant, entity="contact", logical_name="firstname"),
            fields["first_name"]))
        group = create_group(tenant, "On-prem newsletter")
        save_sync_setting(group, future_owner="FABRIKAM\\mwxsync")
        sub = create_subscriber(tenant, {"email": "onprem@example.org", "first_name": "Olga"})
        add_members(group, [sub.pk])
        run = sync()
        assert run.status == JobStatus.SUCCEEDED, run.error
        link = RecordLink.objects.get(subscriber=sub, state=LinkState.ACTIVE)
        created = client.get("contacts", str(link.crm_id), select=["_ownerid_value", "firstname"])
        owner = next(iter(client.query("systemusers", select=["systemuserid"],
                                       filter="domainname eq 'FABRIKAM\\mwxsync'")))
        assert created["_ownerid_value"] == owner["systemuserid"]
        assert created["firstname"] == "Olga"
        sync()  # starts the watermark
        crm_admin.patch("fabrikam", "contacts", str(link.crm_id), {"firstname": "Olga-CRM"})
        pulled = sync()
        assert pulled.status == JobStatus.SUCCEEDED, pulled.error
        assert current_values([sub.pk])[sub.pk]["first_name"] == "Olga-CRM"
        assert len(records_by_email(client, "onprem@example.org")["contact"]) == 1
