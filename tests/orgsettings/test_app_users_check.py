"""The integration check signs in as each additional application user (orgsettings/
check_app_users.py): a user that cannot be used is named, fails the check and is not used."""

from __future__ import annotations

import pytest

from dynamics_emulator import credentials
from dynamics_emulator.server import EmulatorServer
from orgsettings.app_users import add_app_user, usable_app_users
from orgsettings.connection import connection_for
from orgsettings.models import AdditionalAppUser, OrgSettings
from orgsettings.progress import integration_ready
from syncjobs.models import JobStatus
from tenants.models import Tenant
from tests.crm_fixtures import configure_tenant_for_emulator
from tests.orgsettings.test_integration_check import run_check, steps

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("no_dispatch")]


def test_each_additional_user_signs_in_and_one_that_cannot_fails_the_check(
    tenant: Tenant, crm: EmulatorServer
) -> None:
    configure_tenant_for_emulator(tenant, crm)
    good, _ = add_app_user(
        tenant, credentials.SECOND_CLIENT_ID, credentials.SECOND_CLIENT_SECRET, user=None
    )
    revoked, _ = add_app_user(tenant, credentials.THIRD_CLIENT_ID, "revoked-secret", user=None)
    org = OrgSettings.objects.get(tenant=tenant)
    assert usable_app_users(org) == []  # not before a check signed in as them

    run = run_check(tenant)
    assert run.status == JobStatus.FAILED
    result = steps(run)
    assert result[f"app_user_{good.pk}"]["status"] == "ok"
    assert credentials.SECOND_CLIENT_ID in result[f"app_user_{good.pk}"]["message"]
    bad = result[f"app_user_{revoked.pk}"]
    assert bad["status"] == "failed"
    assert credentials.THIRD_CLIENT_ID in bad["message"]
    assert "rejected the client secret" in bad["message"]
    assert "until a check signs in as it" in bad["hint"]
    assert "revoked-secret" not in str(run.result)
    assert "Additional application user" in run.error
    # The one that signed in is used; the other is skipped.
    assert [u.client_id for u in usable_app_users(org)] == [credentials.SECOND_CLIENT_ID]
    assert [u.client_id for u in connection_for(org).additional_users] == [
        credentials.SECOND_CLIENT_ID
    ]
    assert not integration_ready(tenant)  # the admin sees it: the check failed

    AdditionalAppUser.objects.filter(pk=revoked.pk).delete()
    run = run_check(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert integration_ready(tenant)


def test_a_user_whose_binding_changed_is_not_signed_in(tenant: Tenant, crm: EmulatorServer) -> None:
    configure_tenant_for_emulator(tenant, crm)
    user, _ = add_app_user(
        tenant, credentials.SECOND_CLIENT_ID, credentials.SECOND_CLIENT_SECRET, user=None
    )
    AdditionalAppUser.objects.filter(pk=user.pk).update(
        secret_binding={"crm_url": "https://elsewhere.example"}
    )
    crm.emulator.counters.clear()
    result = steps(run_check(tenant))
    step = result[f"app_user_{user.pk}"]
    assert step["status"] == "failed"
    assert "Enter the secret again" in step["message"]
    whoami = sum(n for key, n in crm.emulator.counters.items() if "WhoAmI" in key)
    assert whoami == 1  # the main user's only: the stale secret was never sent
