"""C11: the reaction-owner picker — the owner_refresh job against the emulator over real
HTTPS, the picker partials that read only the cache, and validation against it."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from businessunits import owners
from businessunits.models import BusinessUnit, CrmPrincipal
from orgsettings.models import OrgSettings
from syncjobs import runner
from syncjobs.models import JobRun, JobStatus
from tenants.models import Tenant
from tests.crm_fixtures import EmulatorAdmin, configure_tenant_for_emulator
from tests.mapping_fixtures import make_unit, save_settings

pytestmark = pytest.mark.django_db


def url(name: str, tenant: Tenant, **kw: int) -> str:
    return reverse(f"businessunits:{name}", kwargs={"tenant": tenant.slug, **kw})


def refresh(tenant: Tenant) -> JobRun:
    run = runner.enqueue(tenant, "owner_refresh")
    runner.execute(run.pk)
    run.refresh_from_db()
    return run


@pytest.fixture
def cached(tenant: Tenant, crm_server: Any, no_dispatch: list[int]) -> JobRun:
    configure_tenant_for_emulator(tenant, crm_server)
    run = refresh(tenant)
    assert run.status == JobStatus.SUCCEEDED, run.error
    return run


def principal(tenant: Tenant, name: str) -> CrmPrincipal:
    return CrmPrincipal.objects.get(tenant=tenant, name=name)


def test_refresh_caches_active_users_and_teams(tenant: Tenant, cached: JobRun) -> None:
    rows = CrmPrincipal.objects.filter(tenant=tenant, is_active=True)
    users = {p.name: p for p in rows if p.principal_type == "systemuser"}
    teams = {p.name for p in rows if p.principal_type == "team"}
    assert {"Anna Berger", "John Smith", "CRM Admin"} <= set(users)
    assert {"Marketing DACH", "Marketing UK"} <= teams
    assert "Gerhard Ausgeschieden" not in users  # disabled in the CRM
    assert users["Anna Berger"].email == "anna.berger@contoso.example"
    assert cached.result["users"] == len(users) and cached.result["teams"] == len(teams)
    assert cached.result["added"] == rows.count()


def test_a_second_refresh_marks_vanished_principals_inactive(
    tenant: Tenant, cached: JobRun, crm_admin: EmulatorAdmin
) -> None:
    anna = principal(tenant, "Anna Berger")
    crm_admin.patch("contoso", "systemusers", str(anna.crm_id), {"isdisabled": True})
    run = refresh(tenant)
    anna.refresh_from_db()
    assert not anna.is_active
    assert run.result["deactivated"] == 1 and run.result["added"] == 0
    assert principal(tenant, "John Smith").is_active


def test_a_failing_refresh_keeps_the_cache_and_explains(
    tenant: Tenant, cached: JobRun, crm_server: Any
) -> None:
    configure_tenant_for_emulator(tenant, crm_server, client_secret="wrong-secret")
    run = refresh(tenant)
    assert run.status == JobStatus.FAILED
    assert run.error.startswith("The sign-in service rejected the client secret")
    assert CrmPrincipal.objects.filter(tenant=tenant, is_active=True).count() > 3


def test_picker_searches_the_cache_without_calling_the_crm(
    owner_client: Client, tenant: Tenant, cached: JobRun, crm_admin: EmulatorAdmin
) -> None:
    before = crm_admin.counters()
    response = owner_client.get(url("owner_search", tenant), {"q": "marketing"})
    text = response.content.decode()
    assert response.status_code == 200
    assert "Marketing DACH" in text and "Marketing UK" in text and "Anna" not in text
    by_email = owner_client.get(url("owner_search", tenant), {"q": "john.smith@"})
    assert "John Smith" in by_email.content.decode()
    nothing = owner_client.get(url("owner_search", tenant), {"q": "Ausgeschieden"})
    assert "No active user or team matches" in nothing.content.decode()
    assert crm_admin.counters() == before  # not a single request reached the CRM


def test_choosing_a_principal_fills_the_owner_fields(
    owner_client: Client, tenant: Tenant, cached: JobRun, crm_admin: EmulatorAdmin
) -> None:
    team = principal(tenant, "Marketing DACH")
    before = crm_admin.counters()
    results = owner_client.get(url("owner_search", tenant), {"q": "DACH"}).content.decode()
    choose = f'{url("owner_choose", tenant)}?id={team.crm_id}'
    assert f'hx-get="{choose}"' in results
    fieldset = owner_client.get(choose).content.decode()
    assert 'id="owner-picker"' in fieldset
    assert f'name="owner_id" value="{team.crm_id}"' in fieldset
    assert 'name="owner_name" value="Marketing DACH"' in fieldset
    assert '<option value="team" selected>' in fieldset
    assert crm_admin.counters() == before
    # An id that is not cached (or another tenant's) is not found.
    assert owner_client.get(url("owner_choose", tenant), {"id": str(uuid.uuid4())}
                            ).status_code == 404


def test_the_form_accepts_a_cached_owner_and_takes_its_type_and_name(
    owner_client: Client, tenant: Tenant, cached: JobRun
) -> None:
    anna = principal(tenant, "Anna Berger")
    response = owner_client.post(url("create", tenant), {
        "name": "Sales", "owner_id": str(anna.crm_id), "owner_name": "whatever",
        "owner_type": "team"})
    assert response.status_code == 302
    unit = BusinessUnit.objects.get(tenant=tenant)
    assert (unit.owner_id, unit.owner_name, unit.owner_type) == (
        anna.crm_id, "Anna Berger", "systemuser")


def test_the_form_refuses_an_owner_missing_from_a_filled_cache(
    owner_client: Client, tenant: Tenant, cached: JobRun
) -> None:
    gone = CrmPrincipal.objects.filter(tenant=tenant).first()
    assert gone is not None
    gone.is_active = False
    gone.save()
    for owner_id in (str(uuid.uuid4()), str(gone.crm_id)):
        response = owner_client.post(url("create", tenant), {
            "name": "Sales", "owner_id": owner_id, "owner_name": "Someone",
            "owner_type": "systemuser"})
        assert response.status_code == 200
        assert "not among the CRM&#x27;s active users and teams" in response.content.decode()
    assert not BusinessUnit.objects.filter(tenant=tenant).exists()


def test_with_an_empty_cache_the_form_says_so_and_takes_a_manual_id(
    owner_client: Client, tenant: Tenant, owner: Any
) -> None:
    save_settings(tenant)
    page = owner_client.get(url("create", tenant)).content.decode()
    assert "No CRM users and teams are known yet" in page
    assert 'form="start-owner_refresh"' in page and url("owner_refresh", tenant) in page
    assert '<details class="owner-manual" open>' in page
    owner_id = str(uuid.uuid4())
    response = owner_client.post(url("create", tenant), {
        "name": "Sales", "owner_id": owner_id, "owner_name": "Typed by hand",
        "owner_type": "team"})
    assert response.status_code == 302
    assert str(BusinessUnit.objects.get(tenant=tenant).owner_id) == owner_id


def test_with_a_filled_cache_the_form_offers_the_search(
    owner_client: Client, tenant: Tenant, cached: JobRun
) -> None:
    page = owner_client.get(url("create", tenant)).content.decode()
    assert f'hx-get="{url("owner_search", tenant)}"' in page
    assert '<details class="owner-manual">' in page  # manual entry folded away
    assert f'id="job-{cached.pk}"' in page  # the latest refresh is shown


# --- starting the refresh ---------------------------------------------------------------


def test_owner_starts_a_refresh_and_a_second_is_refused(
    owner_client: Client, tenant: Tenant, owner: Any, no_dispatch: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    save_settings(tenant)
    form_url = url("create", tenant)
    with django_capture_on_commit_callbacks(execute=True):
        response = owner_client.post(url("owner_refresh", tenant), {"next": form_url})
    assert response.status_code == 302 and response["Location"] == form_url
    run = JobRun.objects.get(tenant=tenant, kind="owner_refresh")
    assert no_dispatch == [run.pk]
    again = owner_client.post(url("owner_refresh", tenant), {"next": form_url}, follow=True)
    assert "already" in again.content.decode()
    assert JobRun.objects.filter(tenant=tenant, kind="owner_refresh").count() == 1
    htmx = owner_client.post(url("owner_refresh", tenant), HTTP_HX_REQUEST="true")
    assert f'id="job-{run.pk}"' in htmx.content.decode()


def test_an_external_next_url_is_ignored(
    owner_client: Client, tenant: Tenant, owner: Any, no_dispatch: list[int]
) -> None:
    save_settings(tenant)
    response = owner_client.post(url("owner_refresh", tenant),
                                 {"next": "https://evil.example/"})
    run = JobRun.objects.get(tenant=tenant, kind="owner_refresh")
    assert response["Location"] == run.get_absolute_url()


def test_member_reads_the_cache_but_cannot_refresh(
    member_client: Client, tenant: Tenant, settings_saved: OrgSettings,
) -> None:
    owners.replace_cache(tenant, [])
    CrmPrincipal.objects.create(tenant=tenant, crm_id=uuid.uuid4(), name="Team Blue",
                                principal_type="team", refreshed_at="2026-01-01T00:00Z")
    assert member_client.post(url("owner_refresh", tenant)).status_code == 403
    assert not JobRun.objects.filter(tenant=tenant).exists()
    assert "Team Blue" in member_client.get(url("owners", tenant)).content.decode()
    assert "Team Blue" in member_client.get(url("owner_search", tenant),
                                            {"q": "blue"}).content.decode()


def test_outsider_gets_404_everywhere(
    outsider_client: Client, tenant: Tenant, other_tenant: Tenant, owner: Any,
    no_dispatch: list[int],
) -> None:
    save_settings(tenant)
    ours = CrmPrincipal.objects.create(tenant=tenant, crm_id=uuid.uuid4(), name="Team Blue",
                                       principal_type="team", refreshed_at="2026-01-01T00:00Z")
    run = runner.enqueue(tenant, "owner_refresh")
    assert outsider_client.post(url("owner_refresh", tenant)).status_code == 404
    for name in ("owners", "owner_search", "owner_choose"):
        assert outsider_client.get(url(name, tenant)).status_code == 404
    # Their own tenant, our principal: not found; our principal never shows in their search.
    assert outsider_client.get(url("owner_choose", other_tenant),
                               {"id": str(ours.crm_id)}).status_code == 404
    assert "Team Blue" not in outsider_client.get(
        url("owner_search", other_tenant), {"q": "blue"}).content.decode()
    assert outsider_client.get(reverse("syncjobs:progress", kwargs={
        "tenant": other_tenant.slug, "pk": run.pk})).status_code == 404


def test_another_tenants_unit_ids_stay_404_for_the_form(
    owner_client: Client, tenant: Tenant, other_tenant: Tenant, owner: Any
) -> None:
    save_settings(other_tenant)
    theirs = make_unit(other_tenant, "Theirs")
    assert owner_client.get(url("edit", tenant, pk=theirs.pk)).status_code == 404


def test_unit_page_warns_when_its_owner_is_no_longer_active(
    owner_client: Client, tenant: Tenant, cached: JobRun
) -> None:
    anna = principal(tenant, "Anna Berger")
    unit = make_unit(tenant, owner_id=anna.crm_id, owner_name=anna.name,
                     owner_type="systemuser")
    detail = url("detail", tenant, pk=unit.pk)
    assert "owner-unknown" not in owner_client.get(detail).content.decode()
    anna.is_active = False
    anna.save()
    assert "owner-unknown" in owner_client.get(detail).content.decode()


def test_the_form_renders_each_field_once(owner_client: Client, tenant: Tenant,
                                          cached: JobRun) -> None:
    page = owner_client.get(url("create", tenant)).content.decode()
    for name in ("name", "owner_id", "owner_name", "owner_type"):
        assert page.count(f'name="{name}"') == 1, name


def test_the_empty_notice_polls_and_turns_into_the_search_once_the_refresh_filled_it(
    owner_client: Client, tenant: Tenant, owner: Any, crm_server: Any, no_dispatch: list[int]
) -> None:
    configure_tenant_for_emulator(tenant, crm_server)
    block = url("owner_search_block", tenant)
    page = owner_client.get(url("create", tenant)).content.decode()
    assert f'hx-get="{block}"' in page and 'hx-trigger="every 3s"' in page
    empty = owner_client.get(block).content.decode()
    assert "No CRM users and teams are known yet" in empty and 'hx-trigger="every 3s"' in empty
    assert 'id="owner-search"' not in empty
    assert refresh(tenant).status == JobStatus.SUCCEEDED  # what "Refresh" starts, run here
    filled = owner_client.get(block).content.decode()
    assert 'id="owner-search"' in filled and f'hx-get="{url("owner_search", tenant)}"' in filled
    assert "every 3s" not in filled  # the polling stops with the swap


def test_outsiders_do_not_reach_the_search_block(outsider_client: Client, tenant: Tenant) -> None:
    assert outsider_client.get(url("owner_search_block", tenant)).status_code == 404
