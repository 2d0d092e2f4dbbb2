"""Contact point consent (Customer Insights – Journeys) through the client, over HTTPS."""

from __future__ import annotations

from typing import Any

from dynamics import DataverseClient
from dynamics.journeys import (
    CONSENT_SET,
    ConsentReason,
    ConsentSource,
    ConsentStatus,
    ConsentWrite,
)
from tests.dynamics.conftest import Admin


def _write(address: str, status: ConsentStatus) -> ConsentWrite:
    return ConsentWrite(address, status, ConsentSource.INTERNAL, ConsentReason.NO_REASONS,
                        "mailworx: test")


def test_an_organisation_with_journeys_names_its_commercial_purpose(
        crm: DataverseClient, onprem: DataverseClient) -> None:
    found = crm.journeys_consent()
    assert found is not None and found.purpose_name == "Commercial communications"
    assert onprem.journeys_consent() is None  # fabrikam: no such table


def test_rows_are_created_then_updated_and_found_by_address(crm: DataverseClient) -> None:
    found = crm.journeys_consent()
    assert found is not None
    purpose = found.purpose_id
    writes = [_write("Ann@Example.com", ConsentStatus.OPTED_IN),
              _write("bob@example.com", ConsentStatus.OPTED_OUT)]
    results = crm.write_consent(purpose, writes, {})
    assert [r.ok for r in results] == [True, True]
    rows = crm.consent_rows(purpose, ["ann@example.com", "BOB@example.com", "nobody@x.example"])
    assert {a: [r.status for r in v] for a, v in rows.items()} == {
        "ann@example.com": [ConsentStatus.OPTED_IN], "bob@example.com": [ConsentStatus.OPTED_OUT]}
    # A second write updates the address's row instead of adding one.
    again = crm.write_consent(purpose, [_write("ann@example.com", ConsentStatus.OPTED_OUT)],
                              rows)
    assert again[0].ok
    after = crm.consent_rows(purpose, ["ann@example.com"])["ann@example.com"]
    assert [(r.id, r.status, r.reason) for r in after] == [
        (rows["ann@example.com"][0].id, ConsentStatus.OPTED_OUT, "mailworx: test")]


def test_rows_of_other_purposes_and_channels_are_left_out(crm: DataverseClient,
                                                          admin: Admin) -> None:
    found = crm.journeys_consent()
    assert found is not None
    other = crm.query("msdynmkt_purposes", select=["msdynmkt_purposeid"],
                      filter="msdynmkt_type eq 534120001")
    transactional = next(iter(other))["msdynmkt_purposeid"]
    body: dict[str, Any] = {"msdynmkt_contactpointvalue": "cy@example.com",
                            "msdynmkt_contactpointtype": 534120000, "msdynmkt_value": 534120002,
                            "msdynmkt_source": 534120000, "msdynmkt_logicalreason": 534119999,
                            "msdynmkt_purposeId@odata.bind":
                                f"/msdynmkt_purposes({transactional})"}
    crm.create(CONSENT_SET, body)
    crm.create(CONSENT_SET, {**body, "msdynmkt_contactpointtype": 534120001,
                             "msdynmkt_purposeId@odata.bind":
                                 f"/msdynmkt_purposes({found.purpose_id})"})
    assert crm.consent_rows(found.purpose_id, ["cy@example.com"]) == {}
    assert list(crm.consent_changes(found.purpose_id, "2000-01-01T00:00:00Z")) == []


def test_changes_since_a_watermark_come_oldest_first(crm: DataverseClient,
                                                     admin: Admin) -> None:
    found = crm.journeys_consent()
    assert found is not None
    crm.write_consent(found.purpose_id, [_write("early@example.com", ConsentStatus.OPTED_IN)],
                      {})
    admin.set_clock(3600)  # an hour later on the CRM's clock
    crm.write_consent(found.purpose_id, [_write("late@example.com", ConsentStatus.OPTED_OUT)],
                      {})
    everything = list(crm.consent_changes(found.purpose_id, "2000-01-01T00:00:00Z"))
    assert [r.address for r in everything] == ["early@example.com", "late@example.com"]
    since = everything[1].modified_on
    assert [r.address for r in crm.consent_changes(found.purpose_id, since)] == [
        "late@example.com"]
