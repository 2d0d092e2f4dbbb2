"""The Organization Service (SOAP) client against the emulator's CRM 2013/2015 over HTTPS."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dynamics.detect import Detected, detect
from dynamics.errors import (
    AuthenticationFailed,
    ChangeTrackingNotEnabled,
    NotFound,
    PreconditionFailed,
)
from dynamics.soap.client import OrganizationServiceClient
from tests.dynamics.conftest import onprem_connection


def legacy(server: Any, creds: Any, org: str = "legacy2015", **overrides: Any) -> Any:
    return onprem_connection(server, creds, api_url=server.org_url(org) + "/api/data/v8.2/",
                             **overrides)


@pytest.fixture
def soap(server: Any, creds: Any) -> Iterator[OrganizationServiceClient]:
    with OrganizationServiceClient(legacy(server, creds)) as client:
        yield client


def test_version_and_identity_come_from_the_organization_service(
        soap: OrganizationServiceClient) -> None:
    assert soap.capabilities.version.startswith("7.1.")
    who = soap.who_am_i()
    assert uuid.UUID(who.user_id) and uuid.UUID(who.business_unit_id)
    assert soap.log.totals().round_trips == 2
    assert [r.entity_set for r in soap.log.records] == ["RetrieveVersion", "WhoAmI"]


def test_queries_use_the_engines_odata_subset_and_page(soap: OrganizationServiceClient) -> None:
    everyone = list(soap.query("contacts", select=["emailaddress1", "statecode"]))
    paged = list(soap.query("contacts", select=["emailaddress1", "statecode"], page_size=7))
    assert len(everyone) > 7 and sorted(r["contactid"] for r in paged) == sorted(
        r["contactid"] for r in everyone)
    address = everyone[0]["emailaddress1"]
    found = list(soap.lookup_in("contacts", "emailaddress1", [address, "nobody@x.example"],
                                ["emailaddress1"], extra_filter="statecode eq 0 or "
                                "statecode eq 1"))
    assert [r["emailaddress1"] for r in found] == [address]
    # Every selected column is named, null or not, as in a Web API row.
    assert all("_parentcustomerid_value" in r for r in soap.query(
        "contacts", select=["_parentcustomerid_value"], top=3))


def test_writes_are_typed_and_a_retried_create_never_duplicates(
        soap: OrganizationServiceClient) -> None:
    record_id = str(uuid.uuid4())
    body = {"lastname": "Soap", "emailaddress1": "soap@client.example",
            "preferredcontactmethodcode": 2}
    assert soap.create("contacts", body, id=record_id) == record_id
    assert soap.create("contacts", body, id=record_id) == record_id  # the lost answer case
    assert len(list(soap.query("contacts", filter="emailaddress1 eq 'soap@client.example'"))) == 1
    row = soap.get("contacts", record_id, select=["preferredcontactmethodcode", "lastname"])
    assert row["preferredcontactmethodcode"] == 2
    results = soap.update_multiple("contacts", "contact", [
        {"contactid": record_id, "lastname": "Renamed"},
        {"contactid": str(uuid.uuid4()), "lastname": "Gone"}])
    assert results[0].ok and results[0].entity_id == record_id
    assert isinstance(results[1].error, NotFound)  # an update never creates
    with pytest.raises(NotFound):
        soap.update("contacts", str(uuid.uuid4()), {"lastname": "x"})


def test_an_update_with_the_rows_etag_applies_only_while_the_row_is_unchanged(
        soap: OrganizationServiceClient, server: Any, creds: Any) -> None:
    """7.1: RowVersion is the row's ETag; If-Match becomes IfRowVersionMatches (S3's
    exclusive take-over). CRM 2013 has no RowVersion, so its rows carry no ETag."""
    record_id = soap.create("contacts", {"lastname": "Etag"})
    read = soap.get("contacts", record_id, select=["lastname"])
    etag = read["@odata.etag"]
    assert etag.startswith('W/"') and etag == next(iter(soap.query(
        "contacts", select=["lastname"], filter=f"contactid eq {record_id}")))["@odata.etag"]
    soap.update("contacts", record_id, {"lastname": "First"}, if_match=etag)
    with pytest.raises(PreconditionFailed):  # the row moved on since it was read
        soap.update("contacts", record_id, {"lastname": "Second"}, if_match=etag)
    fresh = soap.get("contacts", record_id, select=["lastname"])
    assert fresh["lastname"] == "First" and fresh["@odata.etag"] != etag
    soap.update("contacts", record_id, {"lastname": "Third"}, if_match=fresh["@odata.etag"])
    soap.update("contacts", record_id, {"lastname": "Fourth"})  # no condition: "*"
    assert soap.get("contacts", record_id, select=["lastname"])["lastname"] == "Fourth"
    with OrganizationServiceClient(legacy(server, creds, "legacy2013")) as old:
        assert "@odata.etag" not in next(iter(old.query("contacts", select=["lastname"],
                                                        top=1)))


def test_metadata_roles_and_privileges(soap: OrganizationServiceClient) -> None:
    channel = next(a for a in soap.entity_attributes("campaignactivity")
                   if a.logical_name == "channeltypecode")
    assert channel.is_option_set and channel.options
    who = soap.who_am_i()
    assert {p.name for p in soap.user_privileges(who.user_id)} >= {"prvReadContact"}
    assert soap.user_roles(who.user_id)
    with pytest.raises(ChangeTrackingNotEnabled):
        next(soap.change_pages("contacts", ["emailaddress1"]))


@pytest.mark.parametrize(("org", "expected"), [
    ("legacy2013", ("soap", "", "6.1")), ("legacy2015", ("soap", "", "7.1")),
    ("crm80", ("webapi", "v8.0", "8.0")), ("fabrikam", ("webapi", "v8.2", "8.2"))])
def test_detection_finds_the_protocol_and_the_highest_web_api_version(
        server: Any, creds: Any, org: str, expected: tuple[str, str, str]) -> None:
    found: Detected = detect(legacy(server, creds, org))
    assert (found.protocol, found.api_version) == expected[:2]
    assert found.version.startswith(expected[2])


def test_a_deployment_without_windows_sign_in_is_named_not_a_wrong_password(
        server: Any, creds: Any) -> None:
    """Past the check's probe (a client built from saved settings), a 401 to NTLM that
    offers only a bearer token from AD FS says so, instead of "check the password"."""
    with OrganizationServiceClient(legacy(server, creds, org="legacyifd")) as client, \
            pytest.raises(AuthenticationFailed) as refused:
        client.who_am_i()
    assert refused.value.key == "windows_sign_in_not_offered"
    assert "claims-based sign-in" in str(refused.value)
