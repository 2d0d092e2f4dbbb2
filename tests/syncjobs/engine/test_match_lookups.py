"""match's look-ups: several batches are looked up side by side (reads are server time a
run otherwise waits for one request at a time), and each batch is still decided on the
answer for exactly the addresses it asked about."""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

import pytest

from audience.groups import add_members
from audience.models import Subscriber, SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics import DataverseClient
from dynamics.bulk import InLookup
from dynamics.crm_api import CrmApi
from mailworx_crm.email_address import normalise_email
from syncjobs.engine.steps import match
from syncjobs.models import JobStatus, LinkState, RecordLink
from tests.syncjobs.engine.conftest import ON_BOTH_PROTOCOLS, SyncFn, records_by_email

pytestmark = pytest.mark.django_db

DOMAIN = "@lookup-window.example"


class _Overlap:
    """Counts how many look-ups run at the same moment (each held a little while)."""

    def __init__(self, original: Any) -> None:
        self.original = original
        self.lock = threading.Lock()
        self.running = self.peak = self.calls = 0

    def __call__(self, client: DataverseClient, lookups: Sequence[InLookup],
                 max_values: int | None = None) -> list[list[dict[str, Any]]]:
        if [lookup.entity_set for lookup in lookups] != ["contacts", "accounts", "leads"]:
            return self.original(client, lookups, max_values)  # not match's (consent rows)
        with self.lock:
            self.running += 1
            self.calls += 1
            self.peak = max(self.peak, self.running)
        try:
            time.sleep(0.3)  # long enough for a sibling look-up to start meanwhile
            return self.original(client, lookups, max_values)
        finally:
            with self.lock:
                self.running -= 1


@pytest.mark.webapi_only  # the dop hint that allows parallel reads is a Web API header
def test_match_looks_up_several_batches_at_once_and_links_each_to_its_own_record(
        group: SubscriberGroup, sync: SyncFn, crm_client: CrmApi,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(match, "MATCH_BATCH", 10)
    overlap = _Overlap(DataverseClient.lookup_in_many)
    monkeypatch.setattr(DataverseClient, "lookup_in_many",
                        lambda self, lookups, max_values=None: overlap(self, lookups, max_values))
    existing = {f"known{i}{DOMAIN}": crm_client.create(
        "contacts", {"lastname": f"Known {i}", "emailaddress1": f"known{i}{DOMAIN}"})
        for i in range(25)}
    subs = [create_subscriber(group.tenant, {"email": email}) for email in existing]
    subs += [create_subscriber(group.tenant, {"email": f"new{i}{DOMAIN}"}) for i in range(15)]
    add_members(group, [s.pk for s in subs])

    run = sync()

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert overlap.calls == 4  # 40 subscribers in batches of 10: one look-up each
    assert overlap.peak >= 2, "the batches' look-ups ran one after the other"
    links = {link.subscriber.email: str(link.crm_id) for link in RecordLink.objects.filter(
        tenant=group.tenant, state=LinkState.ACTIVE).select_related("subscriber")}
    assert {email: links[email] for email in existing} == existing  # each to its own record
    assert run.counters["match"]["linked"] == 25 and run.counters["match"]["created"] == 15
    for i in range(15):  # and the new ones were created once
        assert len(records_by_email(crm_client, f"new{i}{DOMAIN}")["contact"]) == 1


@ON_BOTH_PROTOCOLS
def test_an_address_changed_after_its_look_up_waits_for_the_next_run_and_makes_no_duplicate(
        crm_org: str, group: SubscriberGroup, sync: SyncFn, crm_client: CrmApi,
        monkeypatch: pytest.MonkeyPatch) -> None:
    moved_to = f"moved{DOMAIN}"
    contact_id = crm_client.create("contacts", {"lastname": "Moved", "emailaddress1": moved_to})
    sub = create_subscriber(group.tenant, {"email": f"before{DOMAIN}"})
    add_members(group, [sub.pk])
    original = match._emails

    def address_changes_after_the_look_up_is_planned(ids: list[int]) -> list[str]:
        emails = original(ids)
        # The admin edits the address while the run is between look-up and decision.
        Subscriber.objects.filter(pk=sub.pk).update(email=moved_to,
                                                    email_normalised=normalise_email(moved_to))
        return emails

    monkeypatch.setattr(match, "_emails", address_changes_after_the_look_up_is_planned)
    first = sync()
    assert first.status == JobStatus.SUCCEEDED, first.error
    # Not decided on the old address's "no record": nothing created, nothing linked.
    assert not RecordLink.objects.filter(subscriber=sub).exists()
    assert not records_by_email(crm_client, f"before{DOMAIN}").get("contact")
    assert len(records_by_email(crm_client, moved_to)["contact"]) == 1

    monkeypatch.setattr(match, "_emails", original)
    second = sync()
    assert second.status == JobStatus.SUCCEEDED, second.error
    link = RecordLink.objects.get(subscriber=sub, state=LinkState.ACTIVE)
    assert str(link.crm_id) == contact_id  # the record that has the new address, no duplicate
    assert len(records_by_email(crm_client, moved_to)["contact"]) == 1
