"""The change-tracking start at the end of an initial run (``pull.prime_change_tracking``).

It reads back the records the run just created: rows that only echo the values pushed are
not applied again (their links learn the version), anything else is applied as usual.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from audience.groups import add_members, create_group, save_sync_setting
from audience.models import Subscriber, SubscriberGroup
from audience.subscribers import create_subscriber, current_values
from dynamics import ChangeSet, DataverseClient
from orgsettings.models import OrgSettings
from syncjobs.models import JobStatus, LinkState, RecordLink
from tenants.models import Tenant
from tests.syncjobs.engine.conftest import SyncFn

pytestmark = pytest.mark.django_db


def subscribe(group: SubscriberGroup, email: str, **values: Any) -> Subscriber:
    sub = create_subscriber(group.tenant, {"email": email, **values})
    add_members(group, [sub.pk])
    return sub


def test_own_values_are_not_applied_again_but_a_crm_fallback_comes_over(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn, names: None) -> None:
    OrgSettings.objects.filter(tenant=tenant).update(bidirectional_sync=True)
    named = subscribe(group, "own.values@prime.example", first_name="Olga", last_name="Own")
    # No last name: the new contact gets the address's local part, which S11 brings over.
    bare = subscribe(group, "bare.name@prime.example")
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert run.counters["push"]["created"] == 2
    assert run.counters["pull"]["skipped"]["our own values read back"] == 1
    assert run.counters["pull"]["records"] == 1
    links = {link.subscriber_id: link for link in RecordLink.objects.filter(
        subscriber__in=[named, bare], state=LinkState.ACTIVE)}
    assert all(link.crm_versionnumber is not None and link.crm_modifiedon is not None
               and link.crm_active for link in links.values())
    assert links[named.pk].synced_values == {"first_name": "Olga", "last_name": "Own"}
    assert not links[named.pk].needs_push
    values = current_values([named.pk, bare.pk])
    assert (values[named.pk]["first_name"], values[named.pk]["last_name"]) == ("Olga", "Own")
    assert values[bare.pk]["last_name"] == "bare.name"
    # The next run finds nothing to pull or push.
    again = sync()
    assert again.status == JobStatus.SUCCEEDED, again.error
    assert "records" not in again.counters.get("pull", {})
    assert "updated" not in again.counters.get("push", {})


def test_the_tables_change_tracking_starts_travel_side_by_side(
        tenant: Tenant, group: SubscriberGroup, sync: SyncFn, names: None,
        monkeypatch: pytest.MonkeyPatch) -> None:
    companies = create_group(tenant, "Companies")
    save_sync_setting(companies, entity_type="account", mode="both")
    subscribe(group, "person@side-by-side.example", first_name="Pia", last_name="Person")
    subscribe(companies, "office@side-by-side.example", last_name="Office")
    spans: dict[str, list[float]] = {}
    original = DataverseClient.change_pages

    def held(self: DataverseClient, entity_set: str, select: Sequence[str],
             delta_link: str | None = None, page_size: int | None = None
             ) -> Iterator[ChangeSet]:
        spans[entity_set] = [time.monotonic()]
        time.sleep(0.4)  # a slow first page: another table's read may start meanwhile
        yield from original(self, entity_set, select, delta_link, page_size)
        spans[entity_set].append(time.monotonic())

    monkeypatch.setattr(DataverseClient, "change_pages", held)
    run = sync()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert {"contacts", "accounts"} <= set(spans)
    (c_start, c_end), (a_start, a_end) = spans["contacts"], spans["accounts"]
    assert c_start < a_end and a_start < c_end, "one table's read waited for the other's"
    # Both tables are tracked from here: the next run reads only what changed.
    again = sync()
    assert again.status == JobStatus.SUCCEEDED, again.error
    assert again.counters["pull"]["tracked_rows"] == 0
