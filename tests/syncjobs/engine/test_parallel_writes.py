"""Parallel bulk writes (dynamics/parallel.py) under injected 429s and dropped connections:
every record is created once, none is lost, and list memberships follow their records."""

from __future__ import annotations

from typing import Any

import pytest

from audience.groups import add_members
from audience.models import SubscriberGroup
from audience.subscribers import create_subscriber
from syncjobs.models import JobStatus, LinkState, RecordLink
from syncjobs.models.lists import ListLink, ListMemberSnapshot
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import SyncFn, crm_dump

pytestmark = pytest.mark.django_db

COUNT = 300  # spread over the dop hint's five parallel requests (60 records each)
DOMAIN = "@parallel.example"


def _faults(admin: EmulatorAdmin, body: dict[str, Any]) -> None:
    admin.session.post(f"{admin.base}/faults", json=body, timeout=10).raise_for_status()


def test_parallel_writes_with_429s_and_drops_make_each_record_once_and_lose_none(
        tenant: Tenant, group: SubscriberGroup, names: None, sync: SyncFn,
        crm_admin: EmulatorAdmin) -> None:
    subs = [create_subscriber(tenant, {"email": f"p{i}{DOMAIN}", "first_name": f"P{i}"})
            for i in range(COUNT)]
    add_members(group, [s.pk for s in subs])
    # Bulk writes (CreateMultiple, UpdateMultiple, $batch with the list-member adds) meet
    # 429s and dropped connections; the seed makes the sequence repeatable.
    _faults(crm_admin, {"enabled": True, "seed": 7, "rules": [
        {"method": "POST", "path": "Multiple|\\$batch", "p429": 0.25, "pdrop": 0.15,
         "retry_after": 0}]})
    runs = [sync() for _ in range(3)]  # a run whose retries ran out leaves work for the next
    injected = crm_admin.session.get(f"{crm_admin.base}/faults", timeout=10).json()["injected"]
    _faults(crm_admin, {"enabled": False})
    runs.append(sync())
    assert runs[-1].status == JobStatus.SUCCEEDED, runs[-1].error
    assert sum(injected.values()) >= 3, injected  # the faults did meet the parallel writes
    assert any(run.counters.get("http", {}).get("throttled") for run in runs)

    contacts = crm_dump(crm_admin, "contacts", f"contains(emailaddress1,'{DOMAIN}')")
    by_email: dict[str, list[str]] = {}
    for row in contacts:
        by_email.setdefault(row["emailaddress1"], []).append(row["contactid"])
    assert sorted(by_email) == sorted(s.email for s in subs)  # none lost
    assert all(len(ids) == 1 for ids in by_email.values())  # none twice
    links = {link.subscriber_id: str(link.crm_id) for link in RecordLink.objects.filter(
        tenant=tenant, state=LinkState.ACTIVE)}
    assert {s.pk: by_email[s.email][0] for s in subs} == links
    assert not RecordLink.objects.filter(tenant=tenant, state=LinkState.PENDING).exists()
    # Every record is a member of the group's contact list, in the CRM and in the snapshot.
    list_link = ListLink.objects.get(tenant=tenant, member_type="contact")
    members = crm_dump(crm_admin, "listmembers", f"_listid_value eq {list_link.list_id}")
    assert sorted(str(m["_entityid_value"]) for m in members) == sorted(links.values())
    snapshot = ListMemberSnapshot.objects.filter(link=list_link).count()
    assert snapshot == COUNT
