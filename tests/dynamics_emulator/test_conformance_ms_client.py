"""Conformance: Microsoft's `powerplatform-dataverse-client` (PyPI), unchanged, against the
emulator over HTTPS. Only the credential is ours: a TokenCredential that asks the
emulator's token endpoint, as azure-identity's ClientSecretCredential would ask Entra ID.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

dataverse = pytest.importorskip("PowerPlatform.Dataverse.client")
from azure.core.credentials import AccessToken  # noqa: E402
from PowerPlatform.Dataverse.models.upsert import UpsertItem  # noqa: E402

from dynamics_emulator import EmulatorServer  # noqa: E402
from dynamics_emulator.seed import CLIENT_ID, CLIENT_SECRET  # noqa: E402
from dynamics_emulator.testing import trusted_session  # noqa: E402


class EmulatorCredential:
    """azure.core TokenCredential protocol: get_token(*scopes) -> AccessToken."""

    def __init__(self, server: EmulatorServer) -> None:
        self.server = server
        self.scopes: list[str] = []

    def get_token(self, *scopes: str, **_: object) -> AccessToken:
        self.scopes.extend(scopes)
        resp = trusted_session(self.server).post(self.server.token_url, data={
            "grant_type": "client_credentials", "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET, "scope": scopes[0]}, timeout=10)
        resp.raise_for_status()
        body = resp.json()
        return AccessToken(body["access_token"], int(time.time()) + int(body["expires_in"]))


@pytest.fixture
def client(emulator: EmulatorServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[object]:
    # The library uses a plain requests.Session: point its CA bundle at the emulator's CA.
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(emulator.ca_file))
    credential = EmulatorCredential(emulator)
    with dataverse.DataverseClient(emulator.org_url("contoso"), credential) as c:
        yield c
    assert credential.scopes[0] == emulator.org_url("contoso") + "/.default"


def test_create_update_get(client) -> None:
    guid = client.records.create("account", {"name": "MS Client GmbH"})
    client.records.update("account", guid, {"telephone1": "555-0100"})
    got = client.records.retrieve("account", guid, select=["name", "telephone1"])
    assert got["name"] == "MS Client GmbH" and got["telephone1"] == "555-0100"


def _calls(emulator: EmulatorServer, route: str) -> int:
    return emulator.emulator.counters[f"contoso POST {route}"]


def test_bulk_create_and_bulk_update(client, api, base, emulator) -> None:
    ids = client.records.create("contact", [{"lastname": f"Bulk{i}"} for i in range(25)])
    assert len(ids) == 25 and len(set(ids)) == 25
    client.records.update("contact", ids, {"jobtitle": "bulk-updated"})
    found = api.get(base + "contacts?$select=contactid&$filter=jobtitle eq 'bulk-updated'")
    assert {r["contactid"] for r in found.json()["value"]} == set(ids)
    assert _calls(emulator, "contacts/Microsoft.Dynamics.CRM.CreateMultiple") == 1
    assert _calls(emulator, "contacts/Microsoft.Dynamics.CRM.UpdateMultiple") == 1


def test_bulk_delete_through_the_bulkdelete_action(client, api, base, emulator) -> None:
    ids = client.records.create("contact", [{"lastname": f"Gone{i}"} for i in range(12)])
    keep = client.records.create("contact", {"lastname": "Stays"})
    job = client.records.delete("contact", ids)  # a list: the SDK sends BulkDelete
    assert job  # the asynchronous job's id
    assert _calls(emulator, "BulkDelete") == 1
    left = api.get(base + "contacts?$select=contactid&$filter=startswith(lastname,'Gone')")
    assert left.json()["value"] == []
    assert api.get(base + f"contacts({keep})").status_code == 200
    status = api.get(base + f"asyncoperations({job})?$select=statecode,statuscode")
    assert status.status_code == 200 and status.json()["statecode"] == 3  # completed


def test_paging(client) -> None:
    result = client.records.list("contact", select=["lastname"], page_size=50)
    rows = list(result)
    assert len(rows) == 300


def test_upsert_by_alternate_key(client, api, base, emulator) -> None:
    items = [UpsertItem(alternate_key={"mwx_reactionkey": f"ms/{i}"},
                        record={"subject": f"reaction {i}"}) for i in range(3)]
    client.records.upsert("mwx_emailreaction", items)
    client.records.upsert("mwx_emailreaction", [UpsertItem(
        alternate_key={"mwx_reactionkey": "ms/0"}, record={"subject": "changed"})])
    rows = api.get(base + "mwx_emailreactions?$select=subject,mwx_reactionkey&$filter="
                          "startswith(mwx_reactionkey,'ms/')").json()["value"]
    assert sorted(r["subject"] for r in rows) == ["changed", "reaction 1", "reaction 2"]
    assert _calls(emulator, "mwx_emailreactions/Microsoft.Dynamics.CRM.UpsertMultiple") == 1


def test_batch_with_changeset(client, api, base, emulator) -> None:
    batch = client.batch.new()
    batch.records.create("account", {"name": "Batch Outside"})
    with batch.changeset() as cs:
        ref = cs.records.create("contact", {"lastname": "InChangeset"})
        cs.records.create("account", {"name": "Changeset Co",
                                      "primarycontactid@odata.bind": ref})
    result = batch.execute()
    statuses = [r.status_code for r in result.responses]
    assert statuses == [204, 204, 204], result
    acc = api.get(base + "accounts?$select=_primarycontactid_value&$filter=name eq "
                         "'Changeset Co'").json()["value"][0]
    assert acc["_primarycontactid_value"] is not None
    assert _calls(emulator, "$batch") == 1


def test_fetchxml_pages_with_the_paging_cookie(client, api, base) -> None:
    """`client.query.fetchxml(...).execute_pages()` follows fetchxmlpagingcookie/morerecords."""
    xml = ("<fetch count='40'><entity name='contact'><attribute name='fullname'/>"
           "<order attribute='fullname'/>"
           "<link-entity name='account' from='accountid' to='parentcustomerid' alias='a' "
           "link-type='outer'><attribute name='name'/></link-entity></entity></fetch>")
    pages = list(client.query.fetchxml(xml).execute_pages())
    ids = [r["contactid"] for page in pages for r in page.records]
    total = len(api.get(base + "contacts?$select=contactid").json()["value"])
    assert len(pages) == -(-total // 40)
    assert len(ids) == len(set(ids)) == total


def test_sql_query(client, api, base) -> None:
    """`client.query.sql(...)`: the Web API `sql` option, following @odata.nextLink."""
    rows = client.query.sql("SELECT c.fullname, a.name FROM contact c "
                            "INNER JOIN account a ON a.accountid = c.parentcustomerid "
                            "WHERE c.statecode = 0 ORDER BY c.fullname")
    want = api.get(base + "contacts?$select=contactid&$filter=_parentcustomerid_value ne null "
                          "and statecode eq 0").json()["value"]
    assert len(rows) == len(want) > 0
    top = client.query.sql("SELECT TOP 3 fullname FROM contact ORDER BY fullname")
    assert len(top) == 3
