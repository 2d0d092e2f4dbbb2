"""adopt: CRM records that come from the CRM (list members, activity recipients) become
linked subscribers — S1, S2, S13 — against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from audience.models import Subscriber, SubscriberStatus
from audience.subscribers import create_subscriber, current_values
from businessunits.models import BusinessUnit
from dynamics import DataverseClient
from syncjobs.engine.adopt import adopt_records, list_member_pages, member_columns
from syncjobs.engine.context import Sync
from syncjobs.models import JobKind, JobRun, JobStatus, LinkOrigin, LinkState, RecordLink
from syncjobs.runner import JobContext
from tenants.models import Tenant
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS

pytestmark = [pytest.mark.django_db, ON_BOTH_PROTOCOLS]


@pytest.fixture
def engine(tenant: Tenant, unit: BusinessUnit, names: None,
           crm_client: DataverseClient) -> Iterator[Sync]:
    run = JobRun.objects.create(tenant=tenant, kind=JobKind.SYNC, status=JobStatus.RUNNING,
                                attempts=1, params={"mode": "lists"})
    yield Sync(JobContext(run), crm_client)


def read(sync: Sync, entity: str, crm_id: str) -> dict[str, Any]:
    return sync.client.get(f"{entity}s", crm_id, member_columns(sync, entity, None))


def test_s1_new_record_becomes_a_linked_subscriber_with_crm_values(engine: Sync) -> None:
    crm_id = engine.client.create("contacts", {"firstname": "Lea", "lastname": "Liste",
                                               "emailaddress1": "Lea.Liste@example.org"})
    out = adopt_records(engine, "lists", "contact", [read(engine, "contact", crm_id)],
                        unit_id=None)
    sub = Subscriber.objects.get(pk=out[crm_id])
    assert sub.email == "Lea.Liste@example.org" and sub.status == SubscriberStatus.ACTIVE
    link = RecordLink.objects.get(subscriber=sub)
    assert (link.origin, link.state, str(link.crm_id)) == (LinkOrigin.CRM_LIST,
                                                          LinkState.ACTIVE, crm_id)
    values = current_values([sub.pk])[sub.pk]
    assert (values["first_name"], values["last_name"]) == ("Lea", "Liste")
    assert engine.ctx.counters["lists"]["subscribers_created"] == 1


def test_s1_unlinked_subscriber_with_the_address_is_linked_not_duplicated(
        engine: Sync, tenant: Tenant) -> None:
    existing = create_subscriber(tenant, {"email": "known@example.org", "first_name": "Old"})
    crm_id = engine.client.create("contacts", {"firstname": "New", "lastname": "Known",
                                               "emailaddress1": "KNOWN@example.org"})
    row = read(engine, "contact", crm_id)
    assert adopt_records(engine, "lists", "contact", [row], unit_id=None) == {
        crm_id: existing.pk}
    # Adopting again (another list, a resumed run) keeps the one subscriber.
    assert adopt_records(engine, "lists", "contact", [row], unit_id=None) == {
        crm_id: existing.pk}
    assert Subscriber.objects.filter(tenant=tenant, email_normalised="known@example.org"
                                     ).count() == 1
    # A list-origin record brings its CRM values (C13).
    assert current_values([existing.pk])[existing.pk]["first_name"] == "New"


def test_s2_qualified_leads_and_records_without_address_are_skipped(
        engine: Sync, tenant: Tenant) -> None:
    lead = engine.client.create("leads", {"lastname": "Q", "subject": "q",
                                          "emailaddress1": "qualified@example.org"})
    engine.client.set_state("leads", lead, 1, 3)  # Qualified
    blank = engine.client.create("leads", {"lastname": "B", "subject": "b"})
    rows = [read(engine, "lead", lead), read(engine, "lead", blank)]
    assert adopt_records(engine, "lists", "lead", rows, unit_id=None) == {}
    assert not Subscriber.objects.filter(tenant=tenant).exists()
    skipped = engine.ctx.counters["lists"]["skipped"]
    assert sum(skipped.values()) == 2 and any("S2" in reason for reason in skipped)


def test_s13_record_forbidding_bulk_email_arrives_unsubscribed(engine: Sync) -> None:
    crm_id = engine.client.create("contacts", {"lastname": "Optout", "donotbulkemail": True,
                                               "emailaddress1": "optout@example.org"})
    out = adopt_records(engine, "lists", "contact", [read(engine, "contact", crm_id)],
                        unit_id=None)
    assert Subscriber.objects.get(pk=out[crm_id]).status == SubscriberStatus.UNSUBSCRIBED


def test_list_members_are_read_through_the_list(engine: Sync, crm_admin: Any) -> None:
    members = [engine.client.create("contacts", {"lastname": f"M{i}",
                                                 "emailaddress1": f"m{i}@list.example"})
               for i in range(3)]
    list_id = engine.client.create("lists", {"listname": "Members", "type": False,
                                             "createdfromcode": 2})
    engine.client.call_action("AddListMembersList", {
        "List": {"listid": list_id}, "Members": [{"contactid": m} for m in members]})
    pages = list(list_member_pages(engine, list_id, "contact", None))
    assert sorted(r["contactid"] for page in pages for r in page) == sorted(members)
    assert all("emailaddress1" in r for page in pages for r in page)
