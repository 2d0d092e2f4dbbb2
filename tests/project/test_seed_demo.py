"""`seed_demo` with the demo CRM: the first tenant comes really set up — settings saved,
mailworx prepared, the integration check passed, attributes pulled, a business unit with a
CRM team as owner and mappings, syncing started; the second waits for its admin."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.core.management import call_command

from dynamics_emulator import credentials
from dynamics_emulator.server import EmulatorServer
from orgsettings.models import OrgSettings
from orgsettings.progress import State, setup_steps
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def test_the_connected_demo_tenant_is_set_up_and_started(
        crm: EmulatorServer, tmp_path: Path, no_dispatch: list[int]) -> None:
    secret = tmp_path / "secret"
    secret.write_text(credentials.CLIENT_SECRET)
    assert crm.ca_file is not None
    args = ["--crm-url", crm.org_url("contoso"), "--authority", crm.base_url,
            "--directory-tenant-id", credentials.TENANT_ID, "--client-id",
            credentials.CLIENT_ID, "--client-secret-file", str(secret),
            "--ca-file", str(crm.ca_file)]
    call_command("seed_demo", *args)
    demo = Tenant.objects.get(slug="demo")
    org = OrgSettings.objects.get(tenant=demo)
    assert org.integration_ready and org.sync_started_at is not None
    assert all(step.state is State.DONE for step in setup_steps(demo)), setup_steps(demo)
    unit = demo.business_units.get()
    assert unit.fixed_language == "de" and unit.field_mappings.count() >= 4
    second = Tenant.objects.get(slug="demo-shop")
    assert not OrgSettings.objects.filter(tenant=second).exists()
    started = org.sync_started_at
    call_command("seed_demo", *args)  # a restarted demo changes nothing that is done
    assert OrgSettings.objects.get(tenant=demo).sync_started_at == started
