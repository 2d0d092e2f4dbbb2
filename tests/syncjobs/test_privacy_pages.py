"""Subject rights through the UI (GDPR Art. 15, 17): erasure with its confirmation, the
scrubbing of the engine's copies, the access export, the privacy page and its settings."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.test import Client

from audience.campaigns import create_campaign
from audience.consent import record_change, suppression_of
from audience.groups import add_members, create_group
from audience.models import (
    ConsentEvent,
    ConsentSource,
    ConsentState,
    GroupMembership,
    Reaction,
    Subscriber,
    SubscriberValue,
    SuppressionReason,
)
from audience.reactions import record_reactions
from audience.services import ensure_standard_fields
from audience.subscribers import create_subscriber
from mailworx_crm.texts import stored_text
from orgsettings.models import OrgSettings
from syncjobs.models import (
    ErasurePropagation,
    JobKind,
    JobLogLine,
    JobRun,
    RecordLink,
    SyncIssue,
)
from tenants.models import Tenant
from tests.mapping_fixtures import save_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def person(tenant: Tenant) -> Subscriber:
    """A subscriber with values, a group, a reaction, history, a CRM link, an issue and
    run log lines naming the address — and a second person who must stay untouched."""
    ensure_standard_fields(tenant)
    save_settings(tenant)
    sub = create_subscriber(
        tenant,
        {"email": "Erna.Muster@Example.org", "first_name": "Ernestine", "last_name": "Muster"},
        source=ConsentSource.FORM,
        consent=ConsentState.OPTED_IN,
    )
    other = create_subscriber(tenant, {"email": "other@example.org", "first_name": "Otto"})
    group = create_group(tenant, "Newsletter")
    add_members(group, [sub.pk, other.pk])
    campaign = create_campaign(tenant, "Spring", recipients=2)
    record_reactions(
        tenant,
        [
            {
                "source_event_id": f"e-{s.pk}",
                "kind": "click",
                "subscriber_id": s.pk,
                "campaign_id": campaign.pk,
                "occurred_at": "2026-11-01T10:00:00Z",
                "url": "https://example.com/offer",
            }
            for s in (sub, other)
        ],
    )
    RecordLink.objects.create(
        tenant=tenant, subscriber=sub, entity_type="contact", crm_id=uuid.uuid4()
    )
    run = JobRun.objects.create(
        tenant=tenant,
        kind=JobKind.SYNC,
        status="succeeded",
        result={"sample": [{"email": "erna.muster@example.org"}, {"email": "other@example.org"}]},
    )
    JobLogLine.objects.create(
        run=run,
        message=stored_text(
            "Subscriber %(email)s (%(name)s) could not sync.",
            email="erna.muster@example.org",
            name="Ernestine",
        ),
        data={"email": "ERNA.MUSTER@example.org"},
    )
    JobLogLine.objects.create(run=run, message="Subscriber other@example.org synced.")
    SyncIssue.objects.create(tenant=tenant, subscriber=sub, step="push", reason="refused")
    SyncIssue.objects.create(
        tenant=tenant,
        step="lists",
        entity_type="contact",
        crm_id=uuid.uuid4(),
        reason="The address erna.muster@example.org is invalid.",
    )
    SyncIssue.objects.create(tenant=tenant, subscriber=other, step="push", reason="refused")
    return sub


def erase_url(sub: Subscriber) -> str:
    return f"/t/{sub.tenant.slug}/subscribers/{sub.pk}/erase/"


def test_erasure_page_names_what_happens_and_needs_the_address_typed(
    owner_client: Client, person: Subscriber, no_dispatch: list[int]
) -> None:
    page = owner_client.get(erase_url(person))
    assert page.status_code == 200
    text = page.content.decode()
    assert "cannot be undone" in text and "suppression list" in text
    assert "1 linked CRM record will be told" in text and "do not allow bulk email" in text
    detail = owner_client.get(f"/t/acme/subscribers/{person.pk}/").content.decode()
    assert erase_url(person) in detail
    wrong = owner_client.post(
        erase_url(person), {"confirm_email": "someone@example.org"}, follow=True
    )
    assert "to confirm the erasure" in wrong.content.decode()
    assert Subscriber.objects.filter(pk=person.pk).exists()


def test_erasure_removes_the_person_everywhere_and_keeps_only_the_hash(
    owner_client: Client,
    person: Subscriber,
    tenant: Tenant,
    django_capture_on_commit_callbacks: Any,
    no_dispatch: list[int],
) -> None:
    pk = person.pk
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(
            erase_url(person), {"confirm_email": " erna.muster@example.org "}
        )
    assert response.status_code == 302 and response["Location"] == "/t/acme/privacy/"
    assert not Subscriber.objects.filter(pk=pk).exists()
    for model in (SubscriberValue, GroupMembership, Reaction, RecordLink):
        assert not model.objects.filter(subscriber_id=pk).exists()  # type: ignore[attr-defined]
    assert not ConsentEvent.objects.filter(subscriber_id=pk).exists()
    entry = suppression_of(tenant, "erna.muster@example.org")
    assert entry is not None and entry.reason == SuppressionReason.ERASED
    # The engine's copies: issues about the person gone, the address and values scrubbed.
    assert list(SyncIssue.objects.values_list("subscriber__email", flat=True)) == [
        "other@example.org"
    ]
    dump = json.dumps(list(JobLogLine.objects.values("message", "data"))) + json.dumps(
        list(JobRun.objects.values_list("result", flat=True))
    )
    assert "erna" not in dump.lower() and "Ernestine" not in dump
    assert "[erased]" in dump and "other@example.org" in dump
    # The other person is untouched; the CRM propagation is logged and queued.
    other = Subscriber.objects.get(email="other@example.org")
    assert other.reactions.count() == 1 and other.values.count() == 2
    prop = ErasurePropagation.objects.get()
    assert (prop.state, prop.action, prop.actor) == (
        "pending",
        "flag_and_note",
        "owner@acme.example",
    )
    assert JobRun.objects.get(pk=no_dispatch[-1]).kind == JobKind.ERASURE_PROPAGATION
    page = owner_client.get("/t/acme/privacy/").content.decode()
    assert str(prop.crm_id) in page and "Waiting to be sent to the CRM" in page
    # The address cannot come back through the API either.
    again = owner_client.get("/t/acme/privacy/?email=erna.muster@example.org")
    assert "No subscriber has this address." in again.content.decode()


def test_erasure_covers_duplicates_and_merged_tombstones(
    owner_client: Client, person: Subscriber, tenant: Tenant
) -> None:
    twin = create_subscriber(tenant, {"email": "erna.muster@example.org"})
    tomb = create_subscriber(tenant, {"email": "erna.old@example.org"})
    Subscriber.objects.filter(pk=tomb.pk).update(merged_into=twin)
    owner_client.post(erase_url(person), {"confirm_email": "erna.muster@example.org"})
    assert not Subscriber.objects.filter(pk__in=[person.pk, twin.pk, tomb.pk]).exists()
    assert suppression_of(tenant, "erna.old@example.org") is not None


def test_access_export_holds_everything_about_the_person_and_nothing_else(
    member_client: Client, person: Subscriber
) -> None:
    record_change(person, ConsentState.OPTED_OUT, source=ConsentSource.ADMIN)
    response = member_client.get(f"/t/acme/subscribers/{person.pk}/personal-data.json")
    assert response.status_code == 200
    assert response["Content-Disposition"].startswith("attachment;")
    data = json.loads(response.content)
    assert data["address"] == "erna.muster@example.org"
    assert data["suppression"]["reason"] == "opted_out"
    [sub] = data["subscribers"]
    assert sub["values"]["first_name"]["value"] == "Ernestine"
    assert [e["state"] for e in sub["consent_history"]] == ["opted_out", "opted_in"]
    assert [g["name"] for g in sub["groups"]] == ["Newsletter"]
    assert sub["reactions"][0]["url"] == "https://example.com/offer"
    assert sub["crm_links"][0]["entity"] == "contact"
    assert sub["sync_issues"][0]["reason"] == "refused"
    assert "other@example.org" not in response.content.decode()
    assert "Otto" not in response.content.decode()
    by_address = member_client.get("/t/acme/privacy/export.json?email=ERNA.MUSTER@example.org")
    assert json.loads(by_address.content)["subscribers"][0]["id"] == person.pk
    nobody = json.loads(
        member_client.get("/t/acme/privacy/export.json?email=nobody@example.org").content
    )
    assert nobody["subscribers"] == [] and nobody["suppression"] is None
    missing = member_client.get("/t/acme/privacy/export.json?email=", follow=True)
    assert "Enter the email address" in missing.content.decode()


def test_privacy_pages_refuse_outsiders_and_erasure_refuses_members(
    member_client: Client, outsider_client: Client, person: Subscriber
) -> None:
    urls = [
        erase_url(person),
        "/t/acme/privacy/",
        "/t/acme/privacy/export.json?email=a@b.c",
        f"/t/acme/subscribers/{person.pk}/personal-data.json",
    ]
    for url in urls:
        assert outsider_client.get(url).status_code == 404
    assert (
        outsider_client.post(erase_url(person), {"confirm_email": person.email}).status_code == 404
    )
    assert member_client.get(erase_url(person)).status_code == 403
    assert member_client.post(erase_url(person), {"confirm_email": person.email}).status_code == 403
    assert member_client.get("/t/acme/privacy/").status_code == 200
    detail = member_client.get(f"/t/acme/subscribers/{person.pk}/").content.decode()
    assert erase_url(person) not in detail
    assert Subscriber.objects.filter(pk=person.pk).exists()


def test_privacy_settings_are_on_the_settings_page(
    owner_client: Client, tenant: Tenant, person: Subscriber
) -> None:
    page = owner_client.get("/t/acme/settings/").content.decode()
    for name in (
        "erasure_in_crm",
        "crm_deletion",
        "log_retention_days",
        "consent_history_retention_days",
    ):
        assert f'name="{name}"' in page
    org = OrgSettings.objects.get(tenant=tenant)
    assert (
        org.erasure_in_crm,
        org.crm_deletion,
        org.log_retention_days,
        org.consent_history_retention_days,
    ) == ("flag_and_note", "unsubscribe", 90, 0)


def test_privacy_settings_save_from_the_form_and_are_bounded(
    owner_client: Client, tenant: Tenant
) -> None:
    from tests.orgsettings.conftest import settings_post

    saved = owner_client.post(
        "/t/acme/settings/",
        settings_post(
            erasure_in_crm="owner_task",
            crm_deletion="erase",
            log_retention_days="30",
            consent_history_retention_days="365",
        ),
    )
    assert saved.status_code == 302
    org = OrgSettings.objects.get(tenant=tenant)
    assert (
        org.erasure_in_crm,
        org.crm_deletion,
        org.log_retention_days,
        org.consent_history_retention_days,
    ) == ("owner_task", "erase", 30, 365)
    kept = owner_client.post("/t/acme/settings/", settings_post())
    assert kept.status_code == 302
    org.refresh_from_db()
    assert (org.erasure_in_crm, org.log_retention_days) == ("owner_task", 30)
    bad = owner_client.post("/t/acme/settings/", settings_post(log_retention_days="0"))
    assert bad.status_code == 200 and "log_retention_days" in bad.content.decode()
    org.refresh_from_db()
    assert org.log_retention_days == 30
