"""Records you can follow (#20) in the pages: a subscriber's page lists its CRM records
(table, name, state, a link that opens each in Dynamics), why each mapped field has its
value and the runs that touched it; an issue's page shows its attempt history and leads to
the subscriber's edit form. Owner / member / outsider."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audience.models import Subscriber
from orgsettings.models import OrgSettings
from syncjobs.engine.issues import record_issue, resolve_issues, retry_issue
from syncjobs.models import JobRun, LinkState, RecordLink, SyncIssue
from syncjobs.record_names import record_url
from tenants.models import Tenant
from tests.syncjobs.ops_fixtures import *  # noqa: F403
from tests.syncjobs.ops_fixtures import RunFn

pytestmark = pytest.mark.django_db

CRM_ID = uuid.UUID("6f1d2c1e-0000-4000-8000-0000000000aa")


def page(client: Client, tenant: Tenant, sub: Subscriber) -> Any:
    return client.get(reverse("audience_data:subscriber",
                              kwargs={"tenant": tenant.slug, "pk": sub.pk}))


@pytest.fixture
def linked(tenant: Tenant, sub: Subscriber, make_run: RunFn) -> tuple[RecordLink, JobRun]:
    run = make_run(tenant, status="succeeded", params={"mode": "incremental"})
    link = RecordLink.objects.create(
        tenant=tenant, subscriber=sub, entity_type="contact", crm_id=CRM_ID,
        synced_values={"first_name": "Anna", "last_name": "Schmidt", "job": "Boss"},
        field_sources={"first_name": ["crm", run.pk, "one_side"],
                       "last_name": ["mailworx", run.pk, "newer"]})
    return link, run


def test_the_subscriber_page_shows_its_crm_record_with_a_dynamics_link(
        member_client: Client, tenant: Tenant, sub: Subscriber,
        linked: tuple[RecordLink, JobRun]) -> None:
    html = page(member_client, tenant, sub).content.decode()
    assert 'data-entity="contact"' in html and "Contact" in html
    assert "Anna Schmidt" in html  # the record's name as last synced
    assert "Linked" in html
    href = ("https://contoso.crm4.dynamics.com/main.aspx?etn=contact&amp;"
            f"id={CRM_ID}&amp;pagetype=entityrecord")
    assert f'href="{href}"' in html


def test_why_did_this_change_names_side_run_and_rule(
        member_client: Client, tenant: Tenant, sub: Subscriber,
        linked: tuple[RecordLink, JobRun]) -> None:
    _link, run = linked
    html = page(member_client, tenant, sub).content.decode()
    assert 'data-field="first_name" data-side="crm" data-rule="one_side"' in html
    assert "Changed on this side only since the last sync." in html
    assert 'data-field="last_name" data-side="mailworx" data-rule="newer"' in html
    assert "this side&#x27;s change was the newer one" in html
    run_url = reverse("syncjobs:detail", kwargs={"tenant": tenant.slug, "pk": run.pk})
    assert f'href="{run_url}">#{run.pk}</a>' in html
    # The sync history lists the run that set the fields.
    assert f'<tr data-run="{run.pk}">' in html


def test_the_sync_history_lists_runs_of_the_subscribers_issues(
        member_client: Client, tenant: Tenant, sub: Subscriber, make_run: RunFn) -> None:
    failed = make_run(tenant, status="succeeded")
    healed = make_run(tenant, status="succeeded")
    record_issue(tenant, step="push", reason="refused", run_id=failed.pk, subscriber_id=sub.pk)
    resolve_issues(tenant, "push", [sub.pk], run_id=healed.pk)
    html = page(member_client, tenant, sub).content.decode()
    assert f'<tr data-run="{failed.pk}">' in html and f'<tr data-run="{healed.pk}">' in html
    assert "Not linked to a CRM record." in html


def test_the_page_asks_no_query_per_field_or_run(
        member_client: Client, tenant: Tenant, sub: Subscriber,
        linked: tuple[RecordLink, JobRun], make_run: RunFn,
        django_assert_max_num_queries: Any) -> None:
    link, _run = linked
    runs = [make_run(tenant, status="succeeded") for _ in range(5)]
    link.field_sources = {f"f{i}": ["crm", r.pk, "one_side"] for i, r in enumerate(runs)}
    link.save()
    with django_assert_max_num_queries(40):
        assert page(member_client, tenant, sub).status_code == 200


@pytest.mark.parametrize(("crm_url", "deployment", "base"), [
    ("https://contoso.crm4.dynamics.com/", "online", "https://contoso.crm4.dynamics.com"),
    ("https://crm.example.com/Contoso", "on_premise", "https://crm.example.com/Contoso"),
    ("http://crmserver/contoso/", "on_premise", "http://crmserver/contoso"),
])
def test_the_dynamics_link_for_online_and_on_premise(
        tenant: Tenant, ready: OrgSettings, crm_url: str, deployment: str, base: str) -> None:
    OrgSettings.objects.filter(pk=ready.pk).update(crm_url=crm_url, deployment=deployment)
    assert record_url(tenant.pk, "lead", str(CRM_ID)) == (
        f"{base}/main.aspx?etn=lead&id={CRM_ID}&pagetype=entityrecord")


def test_a_pending_create_has_no_dynamics_link_yet(
        member_client: Client, tenant: Tenant, sub: Subscriber) -> None:
    RecordLink.objects.create(tenant=tenant, subscriber=sub, entity_type="contact",
                              crm_id=CRM_ID, state=LinkState.PENDING)
    html = page(member_client, tenant, sub).content.decode()
    assert "Being created in the CRM" in html and "main.aspx" not in html


def test_outsiders_see_no_records(outsider_client: Client, tenant: Tenant, sub: Subscriber,
                                  linked: tuple[RecordLink, JobRun]) -> None:
    assert page(outsider_client, tenant, sub).status_code == 404


def test_the_issue_page_shows_its_attempts_across_retries_and_the_edit_link(
        owner_client: Client, member_client: Client, tenant: Tenant, sub: Subscriber,
        owner: Any, make_run: RunFn) -> None:
    first, second = make_run(tenant, status="succeeded"), make_run(tenant, status="succeeded")
    issue = record_issue(tenant, step="push", reason="too long", run_id=first.pk,
                         subscriber_id=sub.pk, entity_type="contact", crm_id=CRM_ID)
    retry_issue(issue, by=owner.username)
    record_issue(tenant, step="push", reason="still too long", run_id=second.pk,
                 subscriber_id=sub.pk, entity_type="contact", crm_id=CRM_ID)
    url = reverse("syncjobs:issue", kwargs={"tenant": tenant.slug, "pk": issue.pk})
    html = owner_client.get(url).content.decode()
    rows = html.split('class="issue-history"')[1]
    assert rows.count('data-outcome="failed"') == 2 and 'data-outcome="retry"' in rows
    assert "still too long" in rows and "too long" in rows and f"by {owner.username}" in rows
    assert f"#{first.pk}</a>" in rows and f"#{second.pk}</a>" in rows
    edit = reverse("audience_data:subscriber_edit", kwargs={"tenant": tenant.slug, "pk": sub.pk})
    assert edit in html
    assert f"/main.aspx?etn=contact&amp;id={CRM_ID}" in html  # the same link as the page's
    assert edit not in member_client.get(url).content.decode()  # members cannot edit
    assert SyncIssue.objects.get(pk=issue.pk).attempts == 1


def test_the_records_read_in_the_admins_language(
        member_client: Client, tenant: Tenant, sub: Subscriber,
        linked: tuple[RecordLink, JobRun]) -> None:
    html = member_client.get(reverse("audience_data:subscriber", kwargs={
        "tenant": tenant.slug, "pk": sub.pk}), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "CRM-Datensätze" in html and "Synchronisationsverlauf" in html
    assert "Seit der letzten Synchronisation nur auf dieser Seite geändert." in html
    assert "Auf beiden Seiten geändert: Die Änderung auf dieser Seite war die neuere." in html
