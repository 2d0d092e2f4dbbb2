"""Browser: Chromium enforces the Content-Security-Policy and reports no violation on any
page, and what used to be inline script still works under it — htmx (the job progress
polling, the owner picker), the confirmation before a destructive form, the selects that
submit their form, the tenant switcher and the copy buttons (docs/security.md)."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.utils import timezone

from businessunits.models import CrmPrincipal
from orgsettings.models import OrgSettings
from syncjobs.models import JobRun, JobStatus
from tenants.models import Membership, Role, Tenant
from tests.conftest import PASSWORD
from tests.orgsettings.conftest import saved_settings  # noqa: F401  (fixture)
from tests.security.test_input_sweep import Scene, routes

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"


class Violations:
    """CSP violations and script errors on a page: Chromium's console messages ("Refused
    to …") and the ``securitypolicyviolation`` events, which an init script (injected by
    the browser, not subject to the page's policy) writes to the console."""

    def __init__(self, page: Any) -> None:
        self.seen: list[str] = []
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', function (e) {"
            " console.error('CSP violation: ' + e.effectiveDirective + ' ' + e.blockedURI); });")
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.seen.append(f"{page.url}: {error}"))
        self.page = page

    def _console(self, message: Any) -> None:
        text = message.text
        if ("Content Security Policy" in text or text.startswith("Refused to")
                or text.startswith("CSP violation")):
            self.seen.append(f"{self.page.url}: {text}")


def log_in(page: Any, base: str, user: AbstractUser, next_path: str) -> None:
    page.goto(f"{base}/accounts/login/?next={next_path}")
    page.fill("#id_username", user.username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(f"{base}{next_path}")


def test_no_page_violates_the_policy(
        live_server: Any, page: Any, tenant: Tenant, other_tenant: Tenant,
        owner: AbstractUser, member: AbstractUser, no_dispatch: list[int]) -> None:
    scene = Scene(tenant, other_tenant, member)
    violations = Violations(page)
    base = live_server.url
    for path in ("/accounts/login/", "/accounts/password_reset/"):
        page.goto(base + path)
    log_in(page, base, owner, "/t/acme/subscribers/")
    # Every route of the URLconf that answers GET with a page (not a redirect, not a 405).
    probe = Client()
    probe.force_login(owner)
    visited = 0
    for route, _name in routes():
        path = scene.path(route, tenant.slug)
        response = probe.get(path)
        if (route == "accounts/logout/" or response.status_code != 200
                or not response["Content-Type"].startswith("text/html")):
            continue
        page.goto(base + path)
        visited += 1
    page.goto(f"{base}/api/v1/account/token/")
    assert visited > 35
    assert violations.seen == [], "\n".join(violations.seen)

    # The API documentation: Redoc from our static files renders the schema, and its
    # search (a worker) finds operations. The one thing refused there is Redoc's footer
    # logo from Redocly's server (img-src allows no other origin; Redoc then hides it).
    page.goto(f"{base}/api/v1/docs/")
    page.wait_for_selector("text=mailworx CRM Online Connector API")
    page.fill("input[placeholder='Search...']", "bulk")
    page.wait_for_selector("[data-role='search:results'] li:has-text('bulk_upsert')")
    refused = [v for v in violations.seen if REDOC_LOGO not in v]
    assert refused == [], "\n".join(refused)


def test_htmx_and_the_page_scripts_work_under_the_policy(
        live_server: Any, browser: Any, tenant: Tenant, other_tenant: Tenant,
        owner: AbstractUser, member: AbstractUser, saved_settings: OrgSettings,  # noqa: F811
        no_dispatch: list[int]) -> None:
    base = live_server.url
    context = browser.new_context(locale="en-US")
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=base)
    page = context.new_page()
    page.set_default_timeout(15_000)
    violations = Violations(page)
    scene = Scene(tenant, other_tenant, member)
    Membership.objects.create(user=owner, tenant=other_tenant, role=Role.USER)
    for name, email in (("Anna Berger", "anna.berger@contoso.example"),
                        ("John Smith", "john.smith@contoso.example")):
        CrmPrincipal.objects.create(tenant=tenant, crm_id=uuid.uuid4(), name=name, email=email,
                                    principal_type="systemuser", refreshed_at=timezone.now())
    run = JobRun.objects.get(pk=scene.ids[tenant.slug]["jobs"])

    # htmx polling: the run's page follows its progress and stops polling at its end.
    log_in(page, base, owner, f"/t/acme/jobs/{run.pk}/")
    assert page.get_attribute(".job-progress progress.bar", "value") == "0"
    JobRun.objects.filter(pk=run.pk).update(status=JobStatus.RUNNING, progress_done=1,
                                            progress_total=4, heartbeat_at=timezone.now())
    page.wait_for_selector(".job-progress[data-status=running] progress.bar[value='25']")
    JobRun.objects.filter(pk=run.pk).update(status=JobStatus.SUCCEEDED, progress_done=4,
                                            finished_at=timezone.now())
    page.wait_for_selector(".job-progress[data-status=succeeded] progress.bar[value='100']")
    assert page.get_attribute(".job-progress", "hx-get") is None  # polling has stopped

    # htmx search and choice: the owner picker on a business unit's form.
    page.goto(f"{base}/t/acme/business-units/{scene.ids[tenant.slug]['business-units']}/edit/")
    page.fill("#owner-search", "anna")
    page.click(".owner-option:has-text('Anna Berger')")
    page.wait_for_selector("#owner-picker .owner-chosen:has-text('Chosen: Anna Berger')")
    assert page.locator(".owner-option").count() == 0  # the picker was swapped

    # A destructive form asks first; "Cancel" keeps the member, "OK" removes them.
    page.goto(f"{base}/t/acme/members/")
    membership = Membership.objects.get(tenant=tenant, user=member)
    remove = page.locator(f"#membership-{membership.pk} button:has-text('Remove')")
    asked: list[str] = []

    def answer(accept: bool) -> Callable[[Any], None]:
        def handle(dialog: Any) -> None:
            asked.append(dialog.message)
            dialog.accept() if accept else dialog.dismiss()
        return handle

    page.once("dialog", answer(False))
    remove.click()
    page.wait_for_timeout(300)
    assert asked == ["Remove this member?"]
    assert Membership.objects.filter(pk=membership.pk).exists()

    # A select that submits its form: the member's role.
    with page.expect_navigation():
        page.select_option(f"#membership-{membership.pk} select[name=role]", "administrator")
    assert Membership.objects.get(pk=membership.pk).role == Role.ADMINISTRATOR
    page.once("dialog", answer(True))
    with page.expect_navigation():
        remove.click()
    assert not Membership.objects.filter(pk=membership.pk).exists()

    # The tenant switcher goes to the chosen tenant.
    page.select_option("#tenant-switch", label=other_tenant.name)
    page.wait_for_url(re.compile(rf"/t/{other_tenant.slug}/"))

    # The credentials page's copy buttons.
    page.goto(f"{base}/t/acme/setup/")
    page.click("#step-prepare button:has-text('Prepare mailworx')")
    page.click("button[data-copy=cred-user]")
    page.wait_for_selector("button[data-copy=cred-user]:has-text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == page.inner_text("#cred-user")
    context.close()
    assert violations.seen == []
