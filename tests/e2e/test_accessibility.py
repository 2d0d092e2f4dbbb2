"""Browser: axe-core finds no serious or critical accessibility violation on the main pages,
in English and in German.

axe-core is vendored under ``tests/e2e/vendor/axe-core/`` (``npm pack axe-core@4``, MPL-2.0,
its licence beside it), so the browser stage needs no network. It is injected with
Playwright's ``add_script_tag(path=…)``, which inserts the file's text as an *inline*
``<script>``: the product's Content-Security-Policy (``script-src 'self'``) rightly refuses
that, so this test — and only this one — opens its browser context with ``bypass_csp=True``.
The policy itself is enforced and tested in ``test_csp.py``; the product sends no inline
script or style that the bypass could let through unnoticed there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from django.utils import timezone

from audience.campaigns import create_campaign
from audience.groups import add_members, create_group, save_sync_setting
from audience.models import SubscriberField
from audience.services import create_field, ensure_standard_fields
from audience.subscribers import create_subscriber
from businessunits.models import BusinessUnit, CrmPrincipal
from fieldmapping.catalogue import load_catalogue
from fieldmapping.models import AttributeType, CrmAttribute
from fieldmapping.services import MappingInput, prefill_options, save_mapping
from syncjobs import runner
from syncjobs.alerts.incidents import open_incident
from syncjobs.models import JobRun, JobStatus, RecordLink, SyncIssue
from syncjobs.models.alerts import IncidentKind
from syncjobs.models.lists import CrmList
from tenants.models import Tenant
from tests.conftest import PASSWORD
from tests.mapping_fixtures import demo_catalogue, make_unit
from tests.orgsettings.conftest import saved_settings  # noqa: F401  (fixture)
from tests.syncjobs.ops_fixtures import make_ready

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
FAILING_IMPACTS = ("serious", "critical")
# Minor by axe's measure, but fixed once and kept fixed: an action column without a name.
ALSO_FAILING = ("empty-table-header",)

# What axe does not check (or no longer does): ids used twice, progress bars without a
# name, the "Skip to content" link as the first thing a keyboard reaches.
STRUCTURE = """() => {
  const problems = [];
  const count = {};
  for (const el of document.querySelectorAll('[id]')) count[el.id] = (count[el.id] || 0) + 1;
  for (const [id, n] of Object.entries(count)) {
    if (n > 1) problems.push(`the id "${id}" is used ${n} times`);
  }
  const text = (id) => (document.getElementById(id) || {}).textContent || '';
  for (const bar of document.querySelectorAll('progress, [role=progressbar]')) {
    const by = (bar.getAttribute('aria-labelledby') || '').split(/\\s+/).filter(Boolean);
    const name = [bar.getAttribute('aria-label') || '', ...by.map(text),
                  ...Array.from(bar.labels || [], (l) => l.textContent)].join(' ');
    if (!name.trim()) problems.push('a progress bar without a name: ' + bar.outerHTML);
  }
  for (const th of document.querySelectorAll('th')) {
    if (!th.textContent.trim() && !th.getAttribute('aria-label')) {
      problems.push('an empty table header: ' + th.closest('tr').outerHTML.slice(0, 120));
    }
  }
  const first = document.querySelector(
    'a[href], button, input:not([type=hidden]), select, textarea');
  if (!first || !first.matches('a.skip-link[href="#content"]')) {
    problems.push('the first link is not "Skip to content": ' + (first ? first.outerHTML : 'none'));
  } else if (!document.querySelector('main#content')) {
    problems.push('"Skip to content" leads nowhere: no main#content');
  }
  return problems;
}"""


@dataclass
class Scene:
    """One of each thing the main pages show, so no page is an empty list."""

    unit: BusinessUnit
    mapping: int
    subscriber: int
    group: int
    campaign: int
    run: int
    issue: int


def build_scene(tenant: Tenant) -> Scene:
    fields = {f.key: f for f in ensure_standard_fields(tenant)}
    load_catalogue(tenant, demo_catalogue())
    unit = make_unit(tenant, name="Sales", is_default=True)
    first = CrmAttribute.objects.get(tenant=tenant, entity="contact", logical_name="firstname")
    save_mapping(unit, "contact", MappingInput(first, fields["first_name"]))
    # An option set, mapped value by value onto a select field with the same options.
    picklist = CrmAttribute.objects.filter(
        tenant=tenant, entity="contact", attribute_type=AttributeType.PICKLIST).first()
    assert picklist is not None
    topic = create_field(tenant, key="topic", label_en="Topic", label_de="Thema",
                         field_type="single_select")
    for crm_option in picklist.options.all():
        topic.options.create(value=str(crm_option.value), label_en=crm_option.label_en,
                             label_de=crm_option.label_de)
    topic = SubscriberField.objects.get(pk=topic.pk)
    mapping = save_mapping(unit, "contact", MappingInput(
        picklist, topic, option_map=prefill_options(picklist, topic)))
    subscribers = [create_subscriber(tenant, {"email": f"reader{i}@acme.example",
                                              "first_name": f"Reader {i}"}) for i in range(3)]
    group = create_group(tenant, "Newsletter", "Monthly news")
    save_sync_setting(group, entity_type="contact", mode="both")
    add_members(group, [s.pk for s in subscribers])
    campaign = create_campaign(tenant, "Spring offers", recipients=3)
    CrmList.objects.create(tenant=tenant, list_id=uuid.uuid4(), name="Fair visitors",
                           member_type="contact", member_count=12, last_seen=timezone.now())
    CrmPrincipal.objects.create(tenant=tenant, crm_id=uuid.uuid4(), name="Anna Berger",
                                email="anna.berger@contoso.example",
                                principal_type="systemuser", refreshed_at=timezone.now())
    run = runner.enqueue(tenant, "sync", params={"mode": "incremental"})
    JobRun.objects.filter(pk=run.pk).update(
        status=JobStatus.RUNNING, progress_done=2, progress_total=5, started_at=timezone.now(),
        heartbeat_at=timezone.now())
    issue = SyncIssue.objects.create(tenant=tenant, step="push", subscriber=subscribers[0],
                                     entity_type="contact", reason="The CRM refused the name.")
    make_ready(tenant)  # syncing started: the tenant's home is its sync health page
    open_incident(tenant, IncidentKind.SYNC_BEHIND, "behind")  # the alert list is not empty
    # The subscriber's page shows its CRM record, field provenance and sync history.
    RecordLink.objects.create(tenant=tenant, subscriber=subscribers[0], entity_type="contact",
                              crm_id=uuid.uuid4(), synced_values={"first_name": "Reader 0"},
                              field_sources={"first_name": ["mailworx", run.pk, "one_side"]})
    return Scene(unit=unit, mapping=mapping.pk, subscriber=subscribers[0].pk, group=group.pk,
                 campaign=campaign.pk, run=run.pk, issue=issue.pk)


def main_pages(slug: str, scene: Scene) -> list[str]:
    t = f"/t/{slug}"
    return [
        "/", f"{t}/setup/", f"{t}/settings/", f"{t}/setup/check/",
        f"{t}/business-units/", f"{t}/business-units/{scene.unit.pk}/",
        f"{t}/business-units/{scene.unit.pk}/edit/", f"{t}/business-units/new/",
        f"{t}/crm-owners/",
        f"{t}/business-units/{scene.unit.pk}/mappings/contact/new/",
        f"{t}/mappings/{scene.mapping}/", f"{t}/fields/",
        f"{t}/subscribers/", f"{t}/subscribers/{scene.subscriber}/",
        f"{t}/subscribers/{scene.subscriber}/edit/",
        f"{t}/groups/", f"{t}/groups/{scene.group}/",
        f"{t}/campaigns/", f"{t}/campaigns/{scene.campaign}/", f"{t}/crm-lists/",
        f"{t}/health/", f"{t}/alerts/", f"{t}/jobs/", f"{t}/jobs/{scene.run}/",
        f"{t}/sync/issues/", f"{t}/sync/issues/{scene.issue}/",
        f"{t}/history/", f"{t}/members/", "/api/v1/account/token/",
    ]


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations on the page as it is now (WCAG 2.x A/AA and best practice)."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("axe.run(document, {resultTypes: ['violations']})")
    return list(result["violations"])


def structure_problems(page: Any, url: str) -> list[str]:
    return [f"{url}: {problem}" for problem in page.evaluate(STRUCTURE)]


def readable(url: str, violations: list[dict[str, Any]]) -> list[str]:
    lines = []
    for v in violations:
        if v["impact"] not in FAILING_IMPACTS and v["id"] not in ALSO_FAILING:
            continue
        lines.append(f"{url}: [{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"][:5]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"    {' '.join(node['target'])}: {node['html'][:160]}  — {summary}")
    return lines


def test_axe_violations_are_reported_readably() -> None:
    """The helper turns axe's result into lines a person can act on, and ignores the
    minor and moderate findings (which this suite does not fail on)."""
    violations = [
        {"id": "label", "impact": "critical", "help": "Form elements must have labels",
         "helpUrl": "https://dequeuniversity.com/rules/axe/4.10/label",
         "nodes": [{"target": ["#q"], "html": "<input id=\"q\">",
                    "failureSummary": "Fix any of the following:\n  no label"}]},
        {"id": "region", "impact": "moderate", "help": "All content in landmarks",
         "helpUrl": "x", "nodes": []},
    ]
    lines = readable("/t/acme/", violations)
    assert lines[0].startswith("/t/acme/: [critical] label: Form elements must have labels")
    assert "#q" in lines[1] and "no label" in lines[1]
    assert len(lines) == 2
    minor = [{**violations[1], "id": "empty-table-header", "impact": "minor"}]
    assert readable("/t/acme/fields/", minor) == [
        "/t/acme/fields/: [minor] empty-table-header: All content in landmarks (x)"]


@pytest.mark.parametrize("locale", ["en-US", "de-AT"])
def test_main_pages_have_no_serious_accessibility_violation(
        live_server: Any, browser: Any, tenant: Tenant, owner: AbstractUser,
        member: AbstractUser, saved_settings: Any, no_dispatch: list[int],  # noqa: F811
        locale: str) -> None:
    scene = build_scene(tenant)
    base = live_server.url
    context = browser.new_context(locale=locale, bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    found: list[str] = []
    try:
        page.goto(f"{base}/accounts/login/")
        found += readable("/accounts/login/", axe_violations(page))
        found += structure_problems(page, "/accounts/login/")
        page.fill("#id_username", owner.username)
        page.fill("#id_password", PASSWORD)
        page.click("main button[type=submit]")
        page.wait_for_url(f"{base}/t/{tenant.slug}/**")
        expected_lang = locale[:2]
        for path in main_pages(tenant.slug, scene):
            response = page.goto(base + path)
            assert response is not None and response.status == 200, path
            assert page.get_attribute("html", "lang") == expected_lang, path
            found += readable(path, axe_violations(page))
            found += structure_problems(page, path)
        # The owner picker after a search: its results are part of the page then.
        page.goto(f"{base}/t/{tenant.slug}/business-units/{scene.unit.pk}/edit/")
        page.fill("#owner-search", "anna")
        page.wait_for_selector(".owner-option")
        found += readable("owner picker with results", axe_violations(page))
        found += structure_problems(page, "owner picker with results")
    finally:
        context.close()
    assert found == [], "accessibility problems (axe-core and structure):\n" + "\n".join(found)


def test_skip_link_and_the_owner_picker_keep_the_keyboard_user_in_place(
        live_server: Any, page: Any, tenant: Tenant, owner: AbstractUser,
        saved_settings: Any, no_dispatch: list[int]) -> None:  # noqa: F811
    scene = build_scene(tenant)
    base = live_server.url
    edit = f"/t/{tenant.slug}/business-units/{scene.unit.pk}/edit/"
    page.goto(f"{base}/accounts/login/?next={edit}")
    page.fill("#id_username", owner.username)
    page.fill("#id_password", PASSWORD)
    page.click("main button[type=submit]")
    page.wait_for_url(base + edit)

    # The first Tab reaches "Skip to content", visible now; Enter moves on to the page.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    assert page.locator("a.skip-link").is_visible()
    assert page.locator("a.skip-link").bounding_box()["y"] >= 0
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "content"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.closest('main') !== null")

    # The navigation marks this page's section; it is a labelled group of lists.
    current = page.locator("nav.tenant-nav a[aria-current]")
    assert current.count() == 1 and current.inner_text() == "Business units"
    assert current.get_attribute("aria-current") == "true"
    assert page.locator("nav.tenant-nav ul[aria-labelledby=nav-group-setup]").count() == 1

    # Choosing an owner replaces the picker (htmx); the focus stays in it, on the choice.
    page.focus("#owner-search")
    # Wait for the answer to "anna" itself: the answer to the focus (all principals) may
    # show Anna too, and is replaced when this one lands — with the focused button in it.
    with page.expect_response(lambda r: "crm-owners/search/" in r.url and "q=anna" in r.url):
        page.keyboard.type("anna")
    page.wait_for_selector(".owner-option:has-text('Anna Berger')")
    # htmx wires the swapped-in buttons up while it settles: press keys only after that.
    page.wait_for_selector("#owner-search:not(.htmx-request)", state="attached")
    page.wait_for_selector("#owner-results:not(.htmx-swapping):not(.htmx-settling)",
                           state="attached")
    page.keyboard.press("Tab")  # past the search field's help text: the first result
    assert page.evaluate("document.activeElement.textContent") == "Anna Berger"
    with page.expect_response(lambda r: "crm-owners/choose/" in r.url):
        page.keyboard.press("Enter")
    page.wait_for_selector("#owner-picker .owner-chosen:has-text('Anna Berger')")
    page.wait_for_selector("#owner-picker .owner-chosen:focus")
