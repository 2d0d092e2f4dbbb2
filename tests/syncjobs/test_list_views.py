"""The "CRM marketing lists" pages (S1): cache view, refresh, and the confirmation that
marks a list and imports it — owner, member and outsider."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from businessunits.models import BusinessUnit
from dynamics import DataverseClient
from syncjobs import runner
from syncjobs.models import CrmList, JobRun, JobStatus, ListLink
from tests.syncjobs.engine import conftest as engine
from tests.syncjobs.engine.conftest import SyncFn
from tests.syncjobs.engine.list_helpers import crm_list, group_emails, make_list, record

pytestmark = pytest.mark.django_db

# The engine's fixtures (a tenant wired to the emulator), shared with this package's tests.
org, crm_client, fields, unit = engine.org, engine.crm_client, engine.fields, engine.unit
map_field, names, sync, crm_org = engine.map_field, engine.names, engine.sync, engine.crm_org
__all__ = ["crm_client", "crm_org", "fields", "map_field", "names", "org", "sync", "unit"]


@pytest.fixture
def unsynced(tenant: Any, unit: BusinessUnit, names: None, crm_client: DataverseClient,
             sync: SyncFn) -> str:
    """An unmarked list with two contacts, known to the cache after a lists run."""
    ids = [record(crm_client, f"v{i}@views.example") for i in range(2)]
    list_id = make_list(crm_client, "Trade Fair Visitors", ids, marked=False)
    assert sync("lists").status == JobStatus.SUCCEEDED
    return list_id


def url(name: str, **kwargs: Any) -> str:
    return reverse(f"syncjobs:{name}", kwargs={"tenant": "acme", **kwargs})


def test_S1_marking_a_list_asks_for_confirmation_and_ends_with_a_success_message(
        owner_client: Client, unsynced: str, crm_client: DataverseClient,
        no_dispatch: list[int]) -> None:
    page = owner_client.get(url("crm_lists")).content.decode()
    assert "Trade Fair Visitors" in page and "not synced" in page
    confirm = url("crm_list_sync", list_id=unsynced)
    assert confirm in page
    text = owner_client.get(confirm).content.decode()
    assert "Trade Fair Visitors" in text and "2 members" in text
    assert "Bidirectional sync is on" in text
    assert not crm_list(crm_client, unsynced)["mwx_syncwithmailworx"]  # GET changed nothing
    response = owner_client.post(confirm)
    run = JobRun.objects.latest("pk")
    assert response.status_code == 302 and response["Location"] == run.get_absolute_url()
    assert run.params | {"language": "en"} == {"mode": "lists", "list_id": unsynced, "mark": True,
                                               "language": "en"}
    runner.execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert crm_list(crm_client, unsynced)["mwx_syncwithmailworx"] is True
    group = ListLink.objects.get(list_id=unsynced).group
    assert group_emails(group) == {"v0@views.example", "v1@views.example"}
    detail = owner_client.get(run.get_absolute_url()).content.decode()
    assert ("List “Trade Fair Visitors” is now synced with group “Trade Fair Visitors”: "
            "2 subscribers.") in detail
    listing = owner_client.get(url("crm_lists")).content.decode()
    assert "2 subscribers" in listing and confirm not in listing


def test_S1_a_list_deleted_before_the_run_ends_with_an_error_message(
        owner_client: Client, unsynced: str, crm_client: DataverseClient,
        no_dispatch: list[int]) -> None:
    crm_client.delete("lists", unsynced)
    owner_client.post(url("crm_list_sync", list_id=unsynced))
    run = JobRun.objects.latest("pk")
    runner.execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.FAILED
    detail = owner_client.get(run.get_absolute_url()).content.decode()
    assert "was not found in the CRM" in detail
    assert not ListLink.objects.exists()


def test_refresh_queues_a_lists_run(owner_client: Client, unsynced: str,
                                    no_dispatch: list[int]) -> None:
    response = owner_client.post(url("crm_lists_refresh"))
    run = JobRun.objects.latest("pk")
    assert response.status_code == 302 and run.params.get("mark") is False
    assert run.params["mode"] == "lists" and "list_id" not in run.params


def test_member_sees_the_lists_but_may_not_sync_or_refresh(
        member_client: Client, unsynced: str, no_dispatch: list[int]) -> None:
    page = member_client.get(url("crm_lists"))
    assert page.status_code == 200 and "Trade Fair Visitors" in page.content.decode()
    assert url("crm_list_sync", list_id=unsynced) not in page.content.decode()
    assert member_client.get(url("crm_list_sync", list_id=unsynced)).status_code == 403
    assert member_client.post(url("crm_list_sync", list_id=unsynced)).status_code == 403
    assert member_client.post(url("crm_lists_refresh")).status_code == 403
    assert JobRun.objects.count() == 1  # only the fixture's own run
    assert CrmList.objects.get(list_id=unsynced).marked is False


def test_outsider_gets_not_found_everywhere(outsider_client: Client, unsynced: str) -> None:
    assert outsider_client.get(url("crm_lists")).status_code == 404
    assert outsider_client.get(url("crm_list_sync", list_id=unsynced)).status_code == 404
    assert outsider_client.post(url("crm_list_sync", list_id=unsynced)).status_code == 404
    assert outsider_client.post(url("crm_lists_refresh")).status_code == 404


DYNAMIC_NOTE = ("Dynamic list: members come from its query in the CRM; mailworx does not "
                "change them")


@pytest.fixture
def dynamic(tenant: Any, unit: BusinessUnit, names: None, crm_client: DataverseClient,
            sync: SyncFn) -> str:
    """An unmarked dynamic list whose query finds one contact, known to the cache."""
    record(crm_client, "q@views.example", address1_city="Viewtown")
    list_id = crm_client.create("lists", {
        "listname": "Viewtown (query)", "type": True, "createdfromcode": 2,
        "query": '<fetch><entity name="contact"><filter><condition attribute="address1_city" '
                 'operator="eq" value="Viewtown"/></filter></entity></fetch>'})
    assert sync("lists").status == JobStatus.SUCCEEDED
    return list_id


def test_S1_a_dynamic_list_says_mailworx_does_not_change_it_and_syncs_its_query_results(
        owner_client: Client, dynamic: str, no_dispatch: list[int]) -> None:
    page = owner_client.get(url("crm_lists")).content.decode()
    row = page.split("Viewtown (query)", 1)[1].split("</tr>", 1)[0]
    assert DYNAMIC_NOTE in row
    confirm = url("crm_list_sync", list_id=dynamic)
    text = owner_client.get(confirm).content.decode()
    assert "It is a dynamic list" in text and "mailworx never changes the list" in text
    owner_client.post(confirm)
    run = JobRun.objects.latest("pk")
    runner.execute(run.pk)
    run.refresh_from_db()
    assert run.status == JobStatus.SUCCEEDED, run.error
    assert group_emails(ListLink.objects.get(list_id=dynamic).group) == {"q@views.example"}
    listing = owner_client.get(url("crm_lists")).content.decode()
    assert "1 subscriber" in listing.split("Viewtown (query)", 1)[1].split("</tr>", 1)[0]


def test_the_dynamic_list_note_is_translated(owner_client: Client, dynamic: str) -> None:
    page = owner_client.get(url("crm_lists"), HTTP_ACCEPT_LANGUAGE="de").content.decode()
    assert "Dynamische Liste: Die Mitglieder ergeben sich aus ihrer Abfrage" in page
    assert DYNAMIC_NOTE not in page


def test_outsider_gets_not_found_for_a_dynamic_list(outsider_client: Client,
                                                    dynamic: str) -> None:
    assert outsider_client.get(url("crm_list_sync", list_id=dynamic)).status_code == 404
    assert outsider_client.post(url("crm_list_sync", list_id=dynamic)).status_code == 404
