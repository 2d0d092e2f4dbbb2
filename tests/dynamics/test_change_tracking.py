"""Change tracking against the emulator, over real HTTPS."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dynamics import (
    DataverseClient,
    RequestLog,
    RequestRecord,
    errors,
)
from tests.dynamics.conftest import online_connection


def _new_contact(last: str, **extra: Any) -> tuple[str, dict[str, Any]]:
    cid = str(uuid.uuid4())
    return cid, {"contactid": cid, "lastname": last, **extra}


def _exists(crm: DataverseClient, entity_set: str, rid: str) -> bool:
    try:
        crm.get(entity_set, rid, select=["createdon"])
    except errors.NotFound:
        return False
    return True


# -- change tracking ------------------------------------------------------------------------

def _tracking(admin: Any, body: dict[str, Any]) -> None:
    admin.post("tracking", body).raise_for_status()


def test_track_changes_initial_then_delta(crm: DataverseClient, admin: Any) -> None:
    initial = crm.track_changes("contacts", ["fullname", "emailaddress1"], page_size=100)
    everyone = list(crm.query("contacts", select=["contactid"]))
    assert len(initial.rows) == len(everyone) and not initial.removed_ids
    assert initial.delta_link and "$deltatoken=" in initial.delta_link
    assert len([r for r in crm.log.records if r.entity_set == "contacts"]) > 2  # paged

    nothing = crm.track_changes("contacts", ["fullname"], delta_link=initial.delta_link)
    assert nothing.rows == [] and nothing.removed_ids == []

    new_id = crm.create("contacts", {"firstname": "Delta", "lastname": "New"})
    changed, deleted, by_crm_user = (initial.rows[0]["contactid"], initial.rows[1]["contactid"],
                                     initial.rows[2]["contactid"])
    crm.update("contacts", changed, {"emailaddress1": "changed@example.com"})
    crm.delete("contacts", deleted)
    resp = admin.session.patch(f"{admin.base}/contoso/contacts/{by_crm_user}",
                               json={"lastname": "ByCrmUser"}, timeout=10)
    resp.raise_for_status()
    removed_by_admin = initial.rows[3]["contactid"]
    admin.session.delete(f"{admin.base}/contoso/contacts/{removed_by_admin}",
                         timeout=10).raise_for_status()

    delta = crm.track_changes("contacts", ["fullname"], delta_link=initial.delta_link)
    rows = {r["contactid"]: r for r in delta.rows}
    assert set(rows) == {new_id, changed, by_crm_user}
    assert rows[new_id]["fullname"] == "Delta New"
    assert rows[changed]["emailaddress1"] == "changed@example.com"
    assert rows[by_crm_user]["fullname"].endswith("ByCrmUser")
    assert sorted(delta.removed_ids) == sorted([deleted, removed_by_admin])
    assert delta.delta_link and delta.delta_link != initial.delta_link

    # The new link is the next cursor: nothing changed since.
    again = crm.track_changes("contacts", ["fullname"], delta_link=delta.delta_link)
    assert again.rows == [] and again.removed_ids == []


def test_a_table_without_change_tracking_signals_the_fallback(
        crm: DataverseClient, admin: Any) -> None:
    _tracking(admin, {"org": "contoso", "entity": "lead", "enabled": False})
    with pytest.raises(errors.ChangeTrackingNotEnabled) as exc:
        crm.track_changes("leads", ["fullname"])
    assert exc.value.code == "0x80072491"
    assert crm.change_tracking_enabled("lead") is False
    assert crm.change_tracking_enabled("contact") is True
    # Permanent: not retried.
    assert crm.log.totals().retries == 0


def test_v82_has_no_change_tracking(onprem: DataverseClient) -> None:
    with pytest.raises(errors.ChangeTrackingNotEnabled):
        onprem.track_changes("contacts", ["fullname"])
    assert onprem.change_tracking_enabled("contact") is False


def test_an_expired_delta_token_asks_for_a_full_resync(
        crm: DataverseClient, admin: Any) -> None:
    initial = crm.track_changes("contacts", ["fullname"])
    admin.set_clock(8 * 86400)  # retention is 7 days
    with pytest.raises(errors.DynamicsError) as exc:
        crm.track_changes("contacts", ["fullname"], delta_link=initial.delta_link)
    assert exc.value.code == "0x80044352"
    assert isinstance(exc.value, errors.ChangeTrackingExpired)
    # A full resync (no delta link) works and gives a fresh cursor.
    fresh = crm.track_changes("contacts", ["fullname"])
    assert len(fresh.rows) == len(initial.rows) and fresh.delta_link


def test_a_delta_token_within_retention_still_works_and_a_short_lived_row_shows_removed(
        crm: DataverseClient, admin: Any) -> None:
    initial = crm.track_changes("leads", ["fullname"])
    brief = crm.create("leads", {"lastname": "Brief"})
    crm.update("leads", brief, {"firstname": "Very"})
    crm.delete("leads", brief)
    admin.set_clock(6 * 86400)  # under the 7 days retention
    delta = crm.track_changes("leads", ["fullname"], delta_link=initial.delta_link)
    assert delta.rows == [] and delta.removed_ids == [brief]


class _ChangeAfterFirstPage(RequestLog):
    """Makes a CRM-side change right after the first contacts page came back."""

    def __init__(self, admin: Any, contact_id: str) -> None:
        super().__init__()
        self.admin, self.contact_id, self.done = admin, contact_id, False

    def add(self, record: RequestRecord) -> None:
        super().add(record)
        if record.entity_set == "contacts" and not self.done:
            self.done = True
            self.admin.session.patch(f"{self.admin.base}/contoso/contacts/{self.contact_id}",
                                     json={"jobtitle": "Changed While Paging"},
                                     timeout=10).raise_for_status()


def test_a_change_made_while_the_initial_pages_are_read_is_in_the_next_delta(
        server: Any, creds: Any, admin: Any) -> None:
    rows = admin.session.get(f"{admin.base}/contoso/contacts", timeout=10).json()["value"]
    target = rows[0]["contactid"]
    log = _ChangeAfterFirstPage(admin, target)
    with DataverseClient(online_connection(server, creds), request_log=log) as crm:
        initial = crm.track_changes("contacts", ["jobtitle"], page_size=50)
        assert log.done and len([r for r in log.records if r.entity_set == "contacts"]) > 2
        delta = crm.track_changes("contacts", ["jobtitle"], delta_link=initial.delta_link)
    assert [(r["contactid"], r["jobtitle"]) for r in delta.rows] == [
        (target, "Changed While Paging")]
