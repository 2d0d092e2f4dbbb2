"""Browser smoke test: log in, save the organisation settings, and watch the "Prepare
mailworx" step become available (C7)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model

from audience.services import create_tenant
from tenants.models import Membership, Role

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "a long browser test password 7"


def test_login_save_settings_and_prepare_becomes_available(live_server: Any, page: Any) -> None:
    tenant = create_tenant(name="Browser Tenant", slug="browser", default_language="de")
    user = get_user_model().objects.create_user(
        username="admin@browser.example", email="admin@browser.example", password=PASSWORD)
    Membership.objects.create(user=user, tenant=tenant, role=Role.ADMINISTRATOR)

    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", "admin@browser.example")
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    # One tenant: straight to its setup progress.
    page.wait_for_url(f"{live_server.url}/t/browser/setup/")
    prepare = page.locator("#step-prepare button", has_text="Prepare mailworx")
    assert prepare.is_disabled()

    page.click("text=Edit settings")
    page.fill("#id_crm_url", "https://contoso.crm4.dynamics.com")
    page.check("input[name=deployment][value=online]")
    page.fill("#id_directory_tenant_id", "8c5b5c0e-0000-4000-8000-00000000d1d1")
    page.fill("#id_client_id", "3f2a1b00-0000-4000-8000-0000000c11e1")
    page.fill("#id_client_secret", "browser-test-secret")
    page.check("input[name=reaction_mode][value=relative]")
    page.click("button:has-text('Save settings')")

    page.goto(f"{live_server.url}/t/browser/setup/")
    assert page.locator("#step-settings .state").inner_text().strip() != ""
    prepare = page.locator("#step-prepare button", has_text="Prepare mailworx")
    assert prepare.is_enabled()
    prepare.click()
    # The credentials page shows the password once.
    assert page.locator("text=activation key").first.is_visible() or \
        page.locator("text=Activation key").first.is_visible()
