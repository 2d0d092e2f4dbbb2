"""The consent step reads the consent rows of several chunks side by side (a first run
reads them for every linked subscriber), and still settles each address on its own rows."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

import pytest

from audience.consent import Who, record_change
from audience.groups import add_members
from audience.models import ConsentSource, ConsentState, SubscriberGroup
from audience.subscribers import create_subscriber
from dynamics import DataverseClient
from dynamics.journeys import ConsentRow, ConsentStatus
from syncjobs.engine.steps import journeys
from syncjobs.models import JobStatus
from tests.crm_fixtures import EmulatorAdmin
from tests.syncjobs.engine.conftest import SyncFn
from tests.syncjobs.engine.test_journeys_consent import consent_rows

pytestmark = pytest.mark.django_db

COUNT = 20
DOMAIN = "@consent-window.example"


def test_consent_rows_of_several_chunks_are_read_at_once_and_each_address_settled(
        group: SubscriberGroup, sync: SyncFn, crm_client: DataverseClient,
        crm_admin: EmulatorAdmin, names: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(journeys, "CHUNK", 5)
    lock = threading.Lock()
    seen = {"running": 0, "peak": 0, "calls": 0}
    original = DataverseClient.consent_rows

    def held(self: DataverseClient, purpose_id: str,
             addresses: Iterable[str]) -> dict[str, list[ConsentRow]]:
        with lock:
            seen["running"] += 1
            seen["calls"] += 1
            seen["peak"] = max(seen["peak"], seen["running"])
        try:
            time.sleep(0.3)  # long enough for a sibling read to start meanwhile
            return original(self, purpose_id, addresses)
        finally:
            with lock:
                seen["running"] -= 1

    monkeypatch.setattr(DataverseClient, "consent_rows", held)
    opted_in, opted_out = [], []
    for i in range(COUNT):
        email = f"c{i:02d}{DOMAIN}"
        crm_client.create("contacts", {"emailaddress1": email, "lastname": f"C{i}"})
        sub = create_subscriber(group.tenant, {"email": email})
        state = ConsentState.OPTED_OUT if i % 4 == 0 else ConsentState.OPTED_IN
        record_change(sub, state, source=ConsentSource.FORM, who=Who(actor="test"))
        add_members(group, [sub.pk])
        (opted_out if i % 4 == 0 else opted_in).append(email)

    run = sync()

    assert run.status == JobStatus.SUCCEEDED, run.error
    assert seen["calls"] == COUNT // 5  # one read per chunk of five linked addresses
    assert seen["peak"] >= 2, "the chunks' consent rows were read one after the other"
    # Each address got its own statement in Journeys.
    values: dict[str, Any] = {}
    for email in opted_in + opted_out:
        [row] = consent_rows(crm_admin, email)
        values[email] = row["msdynmkt_value"]
    assert {e for e, v in values.items() if v == ConsentStatus.OPTED_IN} == set(opted_in)
    assert {e for e, v in values.items() if v == ConsentStatus.OPTED_OUT} == set(opted_out)
