"""Consent on every path, end to end against the emulator (N6, docs/consent.md): a person
who opted out stays out whatever carries the address as subscribed — a full sync with a
duplicate CRM contact in a marked list, a CSV import, the API's bulk upsert and single
create, a campaign activity's recipients — and a CRM-side re-opt-in leads to "awaiting
confirmation", not to mail."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from audience.consent import history, is_suppressed, suppress
from audience.models import (
    Campaign,
    ConsentSource,
    ConsentState,
    Subscriber,
    SubscriberGroup,
    SubscriberStatus,
    SuppressionReason,
)
from businessunits.models import BusinessUnit
from dynamics import DataverseClient
from orgsettings.models import OrgSettings
from syncjobs.models import JobStatus
from tenants.models import Tenant
from tests.api.conftest import token_client
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn
from tests.syncjobs.engine.list_helpers import make_list, record
from tests.syncjobs.engine.test_campaigns import Crm
from tests.syncjobs.engine.test_fields import linked_contact

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]
OUT = "out@consent.example"


def api_base(group: SubscriberGroup) -> str:
    return f"/api/v1/tenants/{group.tenant.slug}/subscribers/"


def only_one_and_opted_out() -> Subscriber:
    subs = list(Subscriber.objects.filter(email_normalised=OUT))
    assert len(subs) == 1, subs
    assert subs[0].consent == ConsentState.OPTED_OUT
    return subs[0]


def test_an_opted_out_subscriber_stays_out_whatever_carries_the_address_as_subscribed(
    dv: DataverseClient,
    group: SubscriberGroup,
    sync: SyncFn,
    owner: AbstractUser,
    owner_client: Client,
) -> None:
    sub, _link = linked_contact(dv, group, sync, OUT, {})
    owner_client.post(
        reverse(
            "audience_data:subscriber_unsubscribe",
            kwargs={"tenant": group.tenant.slug, "pk": sub.pk},
        )
    )
    sub.refresh_from_db()
    assert sub.consent == ConsentState.OPTED_OUT and is_suppressed(group.tenant, OUT)
    assert history(sub).first().user == owner  # type: ignore[union-attr]
    assert sync().counters["push"]["unsubscribes_written"] == 1

    # A sales rep's duplicate contact that allows bulk email, in a list marked for sync.
    duplicate = record(dv, "Out@Consent.example", firstname="Dup")
    make_list(dv, "Trade fair leads", [duplicate, record(dv, "fresh@consent.example")])
    full = sync("full")
    assert full.status == JobStatus.SUCCEEDED, full.error
    only_one_and_opted_out()
    assert Subscriber.objects.filter(email_normalised="fresh@consent.example").exists()
    assert full.counters["lists"]["suppressed"] == 1
    page = owner_client.get(full.get_absolute_url()).content.decode()
    assert "1 suppressed address not re-added" in page

    # A CSV import that says the address opted in.
    url = reverse(
        "audience_data:group_import", kwargs={"tenant": group.tenant.slug, "pk": group.pk}
    )
    csv = (
        "email,first_name,consent,consent_date\n"
        f"{OUT},Again,opted_in,2026-01-02\nnew@consent.example,New,opted_in,2025-05-01\n"
    )
    preview = owner_client.post(url, {"file": SimpleUploadedFile("a.csv", csv.encode())})
    import_id = preview.context["pending"].pk
    owner_client.post(url, {"import_id": str(import_id)})
    only_one_and_opted_out()
    new = Subscriber.objects.get(email_normalised="new@consent.example")
    first = history(new).get()
    assert (new.consent, first.source, first.detail["original_date"][:10]) == (
        ConsentState.OPTED_IN,
        ConsentSource.IMPORT,
        "2025-05-01",
    )

    # The API's bulk upsert and single create.
    api = token_client(owner)
    bulk = api.post(
        api_base(group) + "bulk-upsert/",
        {"items": [{"email": OUT, "consent": "opted_in"}]},
        format="json",
    )
    assert bulk.status_code == 200, bulk.content
    assert "Permission not changed" in bulk.json()["results"][0]["message"]
    single = api.post(api_base(group), {"values": {"email": "OUT@consent.example"}}, format="json")
    assert single.status_code == 400 and "opted out" in str(single.json())

    # And after another full sync, the person is still out.
    assert sync("full").status == JobStatus.SUCCEEDED
    only_one_and_opted_out()


def test_a_crm_side_re_opt_in_leads_to_awaiting_confirmation_not_to_mail(
    dv: DataverseClient,
    group: SubscriberGroup,
    sync: SyncFn,
    crm_admin: EmulatorAdmin,
    owner: AbstractUser,
    crm_org: str,
) -> None:
    sub, link = linked_contact(dv, group, sync, "back@consent.example", {"donotbulkemail": True})
    sub.refresh_from_db()
    assert sub.consent == ConsentState.OPTED_OUT
    crm_admin.patch(crm_org, "contacts", str(link.crm_id), {"donotbulkemail": False})
    run = sync()
    assert run.counters["pull"]["awaiting_confirmation"] == 1
    sub.refresh_from_db()
    assert sub.consent == ConsentState.AWAITING_CONFIRMATION
    assert sub.status == SubscriberStatus.PENDING
    entry = history(sub).first()
    assert entry is not None and entry.source == ConsentSource.CRM
    assert entry.detail["record_id"] == str(link.crm_id) and entry.detail["crm_user"]

    # The mailing side finds whom to send its double-opt-in message to ...
    api = token_client(owner)
    waiting = api.get(api_base(group), {"consent": "awaiting_confirmation"}).json()
    assert [s["email"] for s in waiting["results"]] == ["back@consent.example"]
    assert api.get(api_base(group), {"status": "pending"}).json()["count"] == 1
    assert api.get(api_base(group), {"status": "active"}).json()["count"] == 0
    # ... and reports the confirmation, which re-subscribes.
    confirmed = api.patch(
        f"{api_base(group)}{sub.pk}/",
        {
            "consent": "double_opt_in",
            "confirmed_at": timezone.now().isoformat(),
            "consent_source": "DOI mail of 2026-12-05",
        },
        format="json",
    )
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["status"] == "active"
    states = [
        e["state"] for e in api.get(f"{api_base(group)}{sub.pk}/consent-history/").json()["results"]
    ]
    assert states[:3] == ["double_opt_in", "awaiting_confirmation", "opted_out"]
    # A later sync does not opt the confirmed subscriber out again.
    assert sync().status == JobStatus.SUCCEEDED
    sub.refresh_from_db()
    assert sub.consent == ConsentState.DOUBLE_OPT_IN


def test_with_crm_resubscription_allowed_the_crm_re_subscribes_and_the_choice_is_audited(
    dv: DataverseClient,
    group: SubscriberGroup,
    sync: SyncFn,
    crm_admin: EmulatorAdmin,
    owner: AbstractUser,
    owner_client: Client,
    crm_org: str,
) -> None:
    sub, link = linked_contact(dv, group, sync, "allowed@consent.example", {"donotbulkemail": True})
    api = token_client(owner)
    url = f"/api/v1/tenants/{group.tenant.slug}/org-settings/"
    changed = api.put(url, {"crm_resubscribe": True}, format="json")
    assert changed.status_code == 200, changed.content
    assert OrgSettings.objects.get(tenant=group.tenant).crm_resubscribe is True
    audit = owner_client.get(
        reverse("orgsettings:history", kwargs={"tenant": group.tenant.slug})
    ).content.decode()
    assert "re-subscribe when the CRM allows bulk email again" in audit
    crm_admin.patch(crm_org, "contacts", str(link.crm_id), {"donotbulkemail": False})
    run = sync()
    assert run.counters["pull"]["resubscribed"] == 1
    sub.refresh_from_db()
    assert sub.consent == ConsentState.OPTED_IN
    assert not is_suppressed(group.tenant, "allowed@consent.example")


def test_a_campaign_activity_does_not_bring_back_an_erased_address(
    tenant: Tenant,
    sync: SyncFn,
    crm_client: DataverseClient,
    unit: BusinessUnit,
    names: None,
    crm_admin: EmulatorAdmin,
    crm_org: str,
) -> None:
    crm_user = Crm(crm_client, crm_admin, crm_org)
    suppress(tenant, "erased@campaign.example", SuppressionReason.ERASED)
    members = [
        crm_user.contact("erased@campaign.example"),
        crm_user.contact("kept@campaign.example"),
    ]
    activity = crm_user.activity("Winter mailing", [crm_user.static_list("contact", members)])
    run = sync("campaigns")
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counters["campaigns"]["suppressed"] == 1
    campaign = Campaign.objects.get(tenant=tenant, crm_campaign_activity_id=activity.id)
    assert campaign.recipients == 1
    assert not Subscriber.objects.filter(email_normalised="erased@campaign.example").exists()
