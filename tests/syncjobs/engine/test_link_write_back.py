"""``mwx_subscriberid`` on every linked CRM record — also on records the product linked
rather than created — written in the push step's bulk updates, once, and never mistaken
for a CRM-side change when change tracking reads it back."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from audience.groups import add_members
from audience.models import Subscriber, SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics import DataverseClient
from syncjobs.engine.merge import merge_subscribers
from syncjobs.models import JobStatus, LinkState, RecordLink
from tenants.models import Tenant
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn, records_by_email

pytestmark = ON_BOTH_PROTOCOLS


def existing_contacts(client: DataverseClient, n: int) -> list[dict[str, Any]]:
    rows = client.query("contacts", filter="statecode eq 0 and mwx_subscriberid eq null",
                        top=n)
    return [r for r in rows if r.get("emailaddress1")][:n]


def subscribe_all(group: SubscriberGroup, emails: list[str]) -> list[Subscriber]:
    subs = [create_subscriber(group.tenant, {"email": e}) for e in emails]
    add_members(group, [s.pk for s in subs])
    return subs


def test_a_linked_record_gets_its_subscriber_id_once(
        group: SubscriberGroup, names: None, sync: SyncFn,
        crm_client: DataverseClient) -> None:
    contact = existing_contacts(crm_client, 1)[0]
    sub = subscribe_all(group, [contact["emailaddress1"]])[0]
    first = sync()
    assert first.status == JobStatus.SUCCEEDED, first.error
    assert first.counters["match"]["linked"] == 1
    assert first.counters["push"]["subscriber_ids_written"] == 1
    assert crm_client.get("contacts", contact["contactid"])["mwx_subscriberid"] == str(sub.pk)
    link = RecordLink.objects.get(subscriber=sub)
    assert link.subscriber_id_written and not link.needs_push
    # The next run reads the write back through change tracking as our own write, and
    # writes nothing again.
    second = sync()
    assert "subscriber_ids_written" not in second.counters.get("push", {})
    assert "updated" not in second.counters.get("push", {})
    assert "records" not in second.counters.get("pull", {})


def test_an_id_changed_in_the_crm_is_written_again(
        group: SubscriberGroup, names: None, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: Any, crm_org: str) -> None:
    contact = existing_contacts(crm_client, 1)[0]
    sub = subscribe_all(group, [contact["emailaddress1"]])[0]
    assert sync().status == JobStatus.SUCCEEDED
    sync()  # change tracking started
    crm_admin.patch(crm_org, "contacts", contact["contactid"], {"mwx_subscriberid": "x"})
    run = sync()
    assert run.counters["push"]["subscriber_ids_written"] == 1
    assert crm_client.get("contacts", contact["contactid"])["mwx_subscriberid"] == str(sub.pk)


def test_after_an_s9_merge_the_record_names_the_survivor(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_client: DataverseClient) -> None:
    contact = existing_contacts(crm_client, 1)[0]
    source = subscribe_all(group, [contact["emailaddress1"]])[0]
    assert sync().status == JobStatus.SUCCEEDED
    survivor = create_subscriber(tenant, {"email": "survivor@example.org"})
    merge_subscribers(source, survivor)
    run = sync()
    assert run.counters["push"]["subscriber_ids_written"] == 1
    assert crm_client.get("contacts", contact["contactid"])["mwx_subscriberid"] == str(
        survivor.pk)


def test_n1_an_interrupted_push_writes_each_id_once_and_creates_nothing_twice(
        group: SubscriberGroup, names: None, sync: SyncFn, crm_client: DataverseClient,
        interrupt: Callable[[str, int], None]) -> None:
    contacts = existing_contacts(crm_client, 3)
    subs = subscribe_all(group, [c["emailaddress1"] for c in contacts])
    subs += subscribe_all(group, ["fresh@write-back.example"])
    interrupt("push", 2)  # after the create batch, before the updates
    failed = sync()
    assert failed.status == JobStatus.FAILED
    written = failed.counters.get("push", {}).get("subscriber_ids_written", 0)
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert written + run.counters["push"]["subscriber_ids_written"] == 3
    for sub in subs:
        link = RecordLink.objects.get(subscriber=sub, state=LinkState.ACTIVE)
        assert link.subscriber_id_written
        rows = records_by_email(crm_client, sub.email_normalised)["contact"]
        assert len(rows) == 1 and rows[0]["mwx_subscriberid"] == str(sub.pk)
    assert "subscriber_ids_written" not in sync().counters.get("push", {})
