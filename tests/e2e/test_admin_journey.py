"""Browser: the whole journey of a new administrator, in real Chromium against the Dynamics
emulator with a real Celery worker — once in German, once in English.

Log in; enter the organisation settings (Online: the emulator's URL, sign-in authority,
app credentials and CA); prepare mailworx; run the integration check; pull the CRM
attributes; add a business unit whose reaction owner comes from the owner picker; map the
names, an option set (salutation) and the language; let a group sync with the CRM; do a
dry run; start the sync and watch its progress bar reach the end. Each step leaves a
screenshot in ``var/screenshots/<lang>/NN-step.png`` (ignored by git) for a person to look
through.

Each step is one small function, so a step that changes (or is added, such as the explicit
"Start syncing" of the onboarding work: ``start_syncing``) changes in one place.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model

from audience.groups import add_members, create_group
from audience.models import SubscriberField, SubscriberFieldOption
from audience.services import create_field, create_tenant, ensure_standard_fields
from audience.subscribers import create_subscriber
from dynamics_emulator import credentials
from dynamics_emulator.server import EmulatorServer
from fieldmapping.models import CrmAttribute
from syncjobs.models import JobKind, JobRun, JobStatus
from tenants.models import Membership, Role, Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import crm_dump, quiet_seed_campaigns, unmark_seed_lists
from tests.worker_fixtures import celery_worker_process  # noqa: F401

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "var" / "screenshots"
PASSWORD = "a long browser journey password 9"
JOB_TIMEOUT_MS = 60_000

READERS = [  # (first name, last name, salutation, language) of the group's members
    ("Anna", "Huber", "Ms", "de"), ("Bernd", "Gruber", "Mr", "de"),
    ("Clara", "Smith", "Dr", "en"), ("David", "Jones", "Mr", "en"),
]


@dataclass
class Journey:
    page: Any
    base: str
    tenant: Tenant
    lang: str
    crm: EmulatorServer
    worker: subprocess.Popen[bytes]
    shots: list[str] = field(default_factory=list)

    @property
    def t(self) -> str:
        return f"{self.base}/t/{self.tenant.slug}"

    def shot(self, name: str) -> None:
        folder = SCREENSHOTS / self.lang
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{len(self.shots) + 1:02d}-{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        self.shots.append(path.name)
        # Every page of the journey speaks the journey's language.
        assert self.page.get_attribute("html", "lang") == self.lang, path.name

    def wait_for_job(self, scope: str) -> None:
        """Wait until the run shown in ``scope`` (its progress partial polls) has ended;
        it must have succeeded, with its bar at the end."""
        done = self.page.locator(f"{scope} .job-progress:not([data-status=queued])"
                                 ":not([data-status=running])")
        done.first.wait_for(timeout=JOB_TIMEOUT_MS)
        assert self.worker.poll() is None, "the worker died"
        status = done.first.get_attribute("data-status")
        assert status == "succeeded", self.page.inner_text(scope)
        assert done.first.locator("progress.bar").get_attribute("value") == "100"

    def nav(self, link: str) -> None:
        """Follow a link of the tenant navigation, by its URL (the text is translated)."""
        self.page.click(f"nav.tenant-nav a[href='/t/{self.tenant.slug}/{link}']")


# -- the steps ---------------------------------------------------------------------------

def log_in(j: Journey) -> None:
    j.page.goto(f"{j.base}/accounts/login/")
    j.shot("login")
    j.page.fill("#id_username", "admin@journey.example")
    j.page.fill("#id_password", PASSWORD)
    j.page.click("main button[type=submit]")
    # One tenant: straight to its setup checklist, where nothing can be prepared yet.
    j.page.wait_for_url(f"{j.t}/setup/")
    assert j.page.locator("#step-prepare button").is_disabled()
    assert j.page.locator("nav.tenant-nav a[aria-current=page]").get_attribute("href") \
        == f"/t/{j.tenant.slug}/setup/"
    j.shot("setup-checklist")


def configure_settings(j: Journey) -> None:
    j.nav("settings/")
    j.page.check("input[name=deployment][value=online]")
    j.page.fill("#id_crm_url", j.crm.org_url("contoso"))
    j.page.fill("#id_authority_url", j.crm.base_url)
    j.page.fill("#id_directory_tenant_id", credentials.TENANT_ID)
    j.page.fill("#id_client_id", credentials.CLIENT_ID)
    j.page.fill("#id_client_secret", credentials.CLIENT_SECRET)
    assert j.crm.ca_file is not None
    j.page.fill("#id_ca_bundle", j.crm.ca_file.read_text())
    j.page.check("input[name=reaction_mode][value=absolute]")
    j.shot("organisation-settings")
    j.page.click("main form button[type=submit]:not([name])")
    j.page.wait_for_load_state()
    assert j.page.locator(".errorlist").count() == 0, j.page.inner_text("main")
    j.shot("settings-saved")


def prepare(j: Journey) -> None:
    j.nav("setup/")
    j.page.click("#step-prepare button[type=submit]")
    # The CRM side's credentials, shown once.
    j.page.wait_for_selector("#cred-user")
    j.shot("prepared-credentials")


def check_integration(j: Journey) -> None:
    j.page.goto(f"{j.t}/setup/")
    j.page.click("#step-check a.button")
    j.page.click("#start-check")
    j.wait_for_job("main")
    statuses = j.page.eval_on_selector_all(".check-step", "els => els.map(e => e.dataset.status)")
    assert statuses and set(statuses) == {"ok"}, statuses
    j.shot("integration-check")


def pull_attributes(j: Journey) -> None:
    j.nav("business-units/")
    j.page.click("#start-attribute_pull button")
    j.wait_for_job("#latest-attribute_pull")
    assert CrmAttribute.objects.filter(tenant=j.tenant, entity="contact").count() > 20
    j.shot("attributes-pulled")


def create_business_unit(j: Journey) -> None:
    j.page.click(f"main a[href='/t/{j.tenant.slug}/business-units/new/']")
    # No CRM users and teams are known yet: refresh them, then pick one.
    j.page.click("button[form=start-owner_refresh]")
    j.wait_for_job("#latest-owner_refresh")
    # No reload: the picker's notice polls and turns into the search once users are cached.
    j.page.wait_for_selector("#owner-search", timeout=JOB_TIMEOUT_MS)
    j.page.fill("#id_name", "Vertrieb" if j.lang == "de" else "Sales")
    with j.page.expect_response(lambda r: "crm-owners/search/" in r.url and "q=anna" in r.url):
        j.page.fill("#owner-search", "anna")
    j.page.wait_for_selector("#owner-results:not(.htmx-swapping):not(.htmx-settling)",
                             state="attached")
    j.page.click(".owner-option:has-text('Anna Berger')")
    j.page.wait_for_selector("#owner-picker .owner-chosen:focus")
    j.shot("business-unit-owner-chosen")
    j.page.click("main form.stacked > button[type=submit]")
    j.page.wait_for_url(re.compile(r"/business-units/\d+/$"))
    j.shot("business-unit-saved")


def add_mapping(j: Journey, attribute: str, field_key: str,
                options: dict[int, str] | None = None) -> None:
    """Map the contact's ``attribute`` to the subscriber field ``field_key``; ``options``
    (CRM value → option value) for an option set whose labels do not match by themselves."""
    j.page.click("#entity-contact a.button")
    crm = CrmAttribute.objects.get(tenant=j.tenant, entity="contact", logical_name=attribute)
    target = SubscriberField.objects.get(tenant=j.tenant, key=field_key)
    for select, value in (("#id_subscriber_field", target.pk), ("#id_crm_attribute", crm.pk)):
        # The option must be there in the element htmx swapped in last: a change on the
        # element being replaced sends nothing.
        j.page.wait_for_selector(f"{select} option[value='{value}']", state="attached")
        j.page.wait_for_selector("#mapping-choices:not(.htmx-swapping):not(.htmx-settling)",
                                 state="attached")
        with j.page.expect_response(lambda r: "/dynamic/" in r.url):
            j.page.select_option(select, str(value))
    j.page.wait_for_selector("#mapping-choices:not(.htmx-swapping):not(.htmx-settling)",
                             state="attached")
    for crm_value, option in (options or {}).items():
        pk = SubscriberFieldOption.objects.get(field=target, value=option).pk
        j.page.select_option(f"#mapping-dynamic select[name=opt_{crm_value}]", str(pk))
    if target.field_type == "single_select":
        j.shot(f"mapping-{field_key}")
    j.page.click("main form button[type=submit]:not([name])")
    j.page.wait_for_url(re.compile(r"/business-units/\d+/$"))


def map_fields(j: Journey) -> None:
    add_mapping(j, "firstname", "first_name")
    add_mapping(j, "lastname", "last_name")
    # An option set whose labels match the field's options: pre-selected.
    add_mapping(j, "mwx_salutation", "salutation")
    # The emulator's contacts have no language column; its only two-value option set
    # stands in for one, mapped value by value.
    add_mapping(j, "gendercode", "language", options={1: "de", 2: "en"})
    rows = j.page.locator("#entity-contact tbody tr")
    assert rows.count() == 4
    # With the language mapped, no page warns that it is missing.
    assert j.page.locator("main > .alert.warning").count() == 0
    j.shot("mappings")


def sync_group(j: Journey) -> None:
    j.nav("groups/")
    j.page.click("main a:has-text('Newsletter')")
    j.page.check("#id_enabled")
    # A group that creates CRM records names their owner (a user of the demo CRM).
    j.page.fill("#id_future_owner", "anna.berger@contoso.example")
    j.page.select_option("#id_entity_type", "contact")
    j.page.select_option("#id_mode", "both")
    j.shot("group-sync-setting")
    j.page.click("main form.stacked button[type=submit]")
    j.page.wait_for_selector("ul.messages")
    j.shot("group-sync-saved")


def dry_run(j: Journey) -> None:
    j.nav("jobs/")
    j.page.click("#sync-dry-run")
    j.wait_for_job("main")
    run = JobRun.objects.filter(tenant=j.tenant, kind=JobKind.SYNC).latest("pk")
    assert run.params.get("dry_run"), run.params
    j.shot("dry-run")


def start_syncing(j: Journey) -> None:
    """Until the admin starts syncing, nothing but dry runs runs; the start asks first and
    queues the first sync, whose page the admin lands on."""
    j.page.goto(f"{j.t}/setup/")
    j.shot("setup-before-start")
    j.page.click("#start-syncing-step")
    j.page.wait_for_selector("#start-syncing:not([disabled])")
    j.shot("start-syncing")
    j.page.once("dialog", lambda dialog: dialog.accept())
    j.page.click("#start-syncing")
    j.page.wait_for_selector("main .job-progress progress.bar")
    j.shot("sync-running")


def first_sync(j: Journey) -> None:
    """The first sync (queued by the start) runs to its end; its bar reaches 100."""
    j.wait_for_job("main")
    j.shot("sync-finished")


STEPS: list[Callable[[Journey], None]] = [
    log_in, configure_settings, prepare, check_integration, pull_attributes,
    create_business_unit, map_fields, sync_group, dry_run, start_syncing, first_sync,
]


# -- the test ----------------------------------------------------------------------------

def new_tenant_with_readers(lang: str) -> Tenant:
    """A mailworx tenant as the admin finds it: subscribers in a group, and a salutation
    field whose options carry the CRM's labels; no CRM connection yet."""
    tenant = create_tenant(name="Journey GmbH", slug="journey", default_language=lang)
    user = get_user_model().objects.create_user(
        username="admin@journey.example", email="admin@journey.example", password=PASSWORD)
    Membership.objects.create(user=user, tenant=tenant, role=Role.ADMINISTRATOR)
    ensure_standard_fields(tenant)
    salutation = create_field(tenant, key="salutation", label_en="Salutation",
                              label_de="Anrede", field_type="single_select")
    for position, (value, en, de) in enumerate((("mr", "Mr", "Herr"), ("ms", "Ms", "Frau"),
                                                ("dr", "Dr", "Dr."),
                                                ("diverse", "Diverse", "Divers"))):
        salutation.options.create(value=value, label_en=en, label_de=de, position=position)
    group = create_group(tenant, "Newsletter")
    readers = [create_subscriber(tenant, {
        "email": f"{first.lower()}@journey.example", "first_name": first, "last_name": last,
        "salutation": salutation_value.lower(), "language": language})
        for first, last, salutation_value, language in READERS]
    add_members(group, [s.pk for s in readers])
    return tenant


@pytest.mark.parametrize("locale", ["de-AT", "en-US"])
def test_a_new_admin_connects_the_crm_and_syncs(
        live_server: Any, browser: Any, crm: EmulatorServer, locale: str,
        celery_worker_process: subprocess.Popen[bytes],  # noqa: F811
) -> None:
    started = time.monotonic()
    lang = locale[:2]
    unmark_seed_lists(crm)  # the CRM's own marked lists would make the first sync long
    quiet_seed_campaigns(EmulatorAdmin(crm))
    tenant = new_tenant_with_readers(lang)
    folder = SCREENSHOTS / lang
    for old in folder.glob("*.png") if folder.exists() else []:
        old.unlink()

    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(20_000)
    journey = Journey(page, live_server.url, tenant, lang, crm, celery_worker_process)
    try:
        for step in STEPS:
            step(journey)
    finally:
        context.close()

    # The CRM has the group's readers as contacts, with the mapped option sets.
    contacts = {row["emailaddress1"]: row for row in crm_dump(
        EmulatorAdmin(crm), "contacts", "endswith(emailaddress1,'@journey.example')")}
    assert set(contacts) == {f"{first.lower()}@journey.example" for first, *_ in READERS}
    clara = contacts["clara@journey.example"]
    assert (clara["firstname"], clara["lastname"]) == ("Clara", "Smith")
    assert clara["mwx_salutation"] == 100000002  # Dr
    assert clara["gendercode"] == 2  # the language "en", through the option mapping
    runs = JobRun.objects.filter(tenant=tenant, kind=JobKind.SYNC).order_by("pk")
    assert [(bool(r.params.get("dry_run")), r.status) for r in runs] == [
        (True, JobStatus.SUCCEEDED), (False, JobStatus.SUCCEEDED)]
    assert len(journey.shots) >= 15
    assert time.monotonic() - started < 150, "the journey should stay under ~2 minutes"
