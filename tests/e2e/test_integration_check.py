"""Browser: run "check integration" against the emulator through a real Celery worker and
watch the steps turn green (C9)."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from audience.services import create_tenant
from dynamics_emulator.server import EmulatorServer
from orgsettings.checks import STEPS
from orgsettings.integration_access import prepare_mailworx
from tenants.models import Membership, Role
from tests.crm_fixtures import configure_tenant_for_emulator
from tests.worker_fixtures import celery_worker_process  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long browser test password 8"


def test_check_integration_turns_green(
    live_server: Any, page: Any, crm: EmulatorServer,
    celery_worker_process: subprocess.Popen[bytes],  # noqa: F811
) -> None:
    tenant = create_tenant(name="Check Tenant", slug="check", default_language="de")
    user = get_user_model().objects.create_user(
        username="ops@check.example", email="ops@check.example", password=PASSWORD)
    Membership.objects.create(user=user, tenant=tenant, role=Role.ADMINISTRATOR)
    configure_tenant_for_emulator(tenant, crm)
    prepare_mailworx(tenant, user=user)

    page.goto(f"{live_server.url}/accounts/login/?next=/t/check/setup/")
    page.fill("#id_username", "ops@check.example")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.click("#step-check >> text=Check integration")
    page.click("#start-check")
    # The partial polls while the job runs and stops when it has ended.
    page.wait_for_selector(".job-progress[data-status=succeeded]", timeout=60_000)
    statuses = page.eval_on_selector_all(".check-step", "els => els.map(e => e.dataset.status)")
    assert statuses == ["ok"] * len(STEPS)  # every step of the check, none skipped
    assert page.locator(".check-step[data-step=schema]").inner_text().count("✔") == 1
    page.goto(f"{live_server.url}/t/check/setup/")
    assert page.locator("#step-check .state").inner_text().strip().lower() == "done"
