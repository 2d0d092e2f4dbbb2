"""Fixtures for sync engine tests: a tenant wired to the emulator's ``contoso`` org, with
the real attribute catalogue, a default business unit, mappings and a synced group.

Scenario modules run once more against ``legacy2015`` — CRM 2015, reached through the
Organization Service (SOAP) — with ``pytestmark = ON_BOTH_PROTOCOLS``: the fixture
``crm_org`` names the organisation, and ``webapi_only`` skips the SOAP run of a test about
a Web API detail (request counts, change tracking)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.utils import timezone

from audience.campaigns import create_campaign
from audience.groups import create_group, save_sync_setting
from audience.models import Campaign, SubscriberField, SubscriberGroup
from audience.services import ensure_standard_fields
from businessunits.models import BusinessUnit
from businessunits.services import create_unit
from dynamics import DataverseClient
from dynamics.crm_api import CrmApi
from dynamics_emulator.server import EmulatorServer
from fieldmapping.catalogue import CatalogueData, load_catalogue
from fieldmapping.metadata import attribute_data
from fieldmapping.models import CrmAttribute, FieldMapping
from fieldmapping.services import MappingInput, save_mapping
from orgsettings.connection import client_for
from orgsettings.models import OrgSettings
from syncjobs import runner
from syncjobs.engine.context import Sync
from syncjobs.engine.start import start_sync
from syncjobs.models import JobRun
from tenants.models import Tenant
from tests.crm_fixtures import (  # noqa: F401
    EmulatorAdmin,
    configure_tenant_for_emulator,
    crm_admin,
)
from tests.syncjobs.engine.reaction_helpers import REACTION_TEAM

_CATALOGUE: dict[str, CatalogueData] = {}
SOAP_ORG = "legacy2015"
# The engine's scenarios on a Web API and on an Organization Service organisation (unit
# stage only: the PostgreSQL stage runs the Web API one).
ON_BOTH_PROTOCOLS = pytest.mark.both_protocols


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Tests of a ``both_protocols`` module that use the CRM run once per organisation."""
    own = any("crm_org" in str(m.args[0]) for m in metafunc.definition.iter_markers(
        "parametrize"))  # a test that names its organisation itself
    if "crm_org" in metafunc.fixturenames and not own and metafunc.definition.get_closest_marker(
            "both_protocols"):
        metafunc.parametrize("crm_org", ["contoso", SOAP_ORG], indirect=True)


@pytest.fixture
def crm_org(request: pytest.FixtureRequest) -> str:
    """The emulator organisation of the test: ``contoso`` unless parametrised."""
    name = str(getattr(request, "param", "contoso"))
    if name != "contoso":
        if request.node.get_closest_marker("webapi_only"):
            pytest.skip("about a Web API detail")
        if os.environ.get("MWX_INTEGRATION"):  # scripts/test_stages.py, PostgreSQL stage
            pytest.skip("the SOAP organisation runs in the unit stage only")
    return name


@pytest.fixture
def client_class(crm_org: str) -> type:
    """The client class the engine uses for ``crm_org`` (for tests that patch it)."""
    from dynamics.soap.client import OrganizationServiceClient

    return DataverseClient if crm_org == "contoso" else OrganizationServiceClient


def emulator_catalogue(client: CrmApi, org: str = "contoso") -> CatalogueData:
    """The organisation's catalogue as the attribute pull would load it (read once per
    session)."""
    if org not in _CATALOGUE:
        entities: dict[str, Any] = {}
        for name in ("contact", "account", "lead"):
            entities[name] = {"attributes": [attribute_data(a)
                                             for a in client.entity_attributes(name)]}
        _CATALOGUE[org] = {"entities": entities}
    return _CATALOGUE[org]


def unmark_seed_lists(server: EmulatorServer, org: str = "contoso") -> None:
    """The demo seed marks four lists for sync; every run's lists step would import their
    175 members. Tests of other steps start without them; list tests mark what they need."""
    admin = EmulatorAdmin(server)
    for row in crm_dump(admin, "lists", "mwx_syncwithmailworx eq true", org):
        admin.patch(org, "lists", row["listid"], {"mwx_syncwithmailworx": False})


def quiet_seed_campaigns(admin: EmulatorAdmin, org: str = "contoso") -> None:
    """The demo seed has a campaign activity waiting for mailworx (S3); every incremental
    run would take it over. Tests that are not about campaigns start without it."""
    from syncjobs.engine.steps.campaigns import DISTRIBUTED

    for row in crm_dump(admin, "campaignactivities", DISTRIBUTED, org):
        admin.patch(org, "campaignactivities", row["activityid"],
                    {"mwx_distributionrequested": False})


@pytest.fixture
def org(tenant: Tenant, crm: EmulatorServer, crm_org: str) -> OrgSettings:
    unmark_seed_lists(crm, crm_org)
    quiet_seed_campaigns(EmulatorAdmin(crm), crm_org)
    settings = configure_tenant_for_emulator(tenant, crm, org=crm_org)
    # As the integration check would have found (orgsettings/checks.py).
    protocol = "soap" if crm.emulator.orgs[crm_org].kind == "legacy" else "webapi"
    OrgSettings.objects.filter(pk=settings.pk).update(check_passed_at=timezone.now(),
                                                      sync_started_at=timezone.now(),
                                                      crm_protocol=protocol)
    settings.refresh_from_db()
    return settings


@pytest.fixture
def crm_client(tenant: Tenant, org: OrgSettings) -> Iterator[CrmApi]:
    with client_for(tenant) as client:
        yield client


@pytest.fixture
def fields(tenant: Tenant) -> dict[str, SubscriberField]:
    return {f.key: f for f in ensure_standard_fields(tenant)}


@pytest.fixture
def unit(tenant: Tenant, org: OrgSettings, crm_client: CrmApi,
         fields: dict[str, SubscriberField]) -> BusinessUnit:
    load_catalogue(tenant, emulator_catalogue(crm_client, org.organisation_name))
    return create_unit(tenant, name="Sales", owner_id="00000000-0000-0000-0000-000000000001",
                       owner_name="Sales", owner_type="team", is_default=True)


MapFn = Callable[..., FieldMapping]


@pytest.fixture
def dv(tenant: Tenant, unit: BusinessUnit, names: None,
       crm_client: CrmApi) -> CrmApi:
    """The CRM client of a tenant with a default unit and name mappings (lists tests)."""
    return crm_client


@pytest.fixture
def map_field(tenant: Tenant, unit: BusinessUnit, fields: dict[str, SubscriberField]) -> MapFn:
    def make(entity: str, attribute: str, key: str, *, related: str | None = None,
             options: dict[int, str] | None = None) -> FieldMapping:
        attr = CrmAttribute.objects.get(tenant=tenant, entity=entity, logical_name=attribute)
        rel = None
        if related:
            target, name = related.split(".")
            rel = CrmAttribute.objects.get(tenant=tenant, entity=target, logical_name=name)
        field = SubscriberField.objects.get(tenant=tenant, key=key)
        option_map = {value: field.options.get(value=opt) for value, opt in
                      (options or {}).items()}
        return save_mapping(unit, entity, MappingInput(attr, field, rel, option_map=option_map))
    return make


@pytest.fixture
def names(map_field: MapFn) -> None:
    """first/last name mapped for contacts and leads, the company name for accounts."""
    for entity in ("contact", "lead"):
        map_field(entity, "firstname", "first_name")
        map_field(entity, "lastname", "last_name")
    map_field("account", "name", "company")


@pytest.fixture
def group(tenant: Tenant, unit: BusinessUnit) -> SubscriberGroup:
    g = create_group(tenant, "Newsletter")
    save_sync_setting(g, entity_type="contact", mode="both")
    return g


SyncFn = Callable[..., JobRun]


@pytest.fixture
def sync(tenant: Tenant, no_dispatch: list[int]) -> SyncFn:
    """Start a sync and run it here; returns the finished run."""
    def run(mode: str = "incremental", **kwargs: Any) -> JobRun:
        job = start_sync(tenant, mode, trigger="manual", **kwargs)
        runner.execute(job.pk)
        job.refresh_from_db()
        return job
    return run


@pytest.fixture
def interrupt(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, int], None]:
    """``interrupt(step, n)``: the n-th boundary of ``step`` raises (one time only)."""
    def arm(step: str, n: int = 1) -> None:
        seen = {"count": 0, "fired": False}

        def hook(name: str) -> None:
            if name == step and not seen["fired"]:
                seen["count"] += 1
                if seen["count"] >= n:
                    seen["fired"] = True
                    raise RuntimeError(f"injected interruption in {step}")
        at_boundary(monkeypatch, hook)
    return arm


def at_boundary(monkeypatch: pytest.MonkeyPatch, hook: Callable[[str], None]) -> None:
    """Call ``hook(step)`` at every batch boundary of every run, after the engine's own
    checkpoint (progress, cancel and pause checks): the product has no hook for tests."""
    checkpoint = Sync.checkpoint

    def checkpoint_then_hook(self: Sync, step: str, n: int = 0) -> None:
        checkpoint(self, step, n)
        hook(step)
    monkeypatch.setattr(Sync, "checkpoint", checkpoint_then_hook)


def records_by_email(client: CrmApi, email: str) -> dict[str, list[dict[str, Any]]]:
    """CRM records carrying ``email`` in emailaddress1, per table (for duplicate checks)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for entity, entity_set in (("contact", "contacts"), ("account", "accounts"),
                               ("lead", "leads")):
        out[entity] = list(client.query(entity_set, filter=f"emailaddress1 eq '{email}'"))
    return out


def crm_dump(admin: EmulatorAdmin, entity_set: str, flt: str,
             org: str = "contoso") -> list[dict[str, Any]]:
    response = admin.session.get(f"{admin.base}/{org}/{entity_set}",
                                 params={"$filter": flt}, timeout=10)
    response.raise_for_status()
    data = response.json()
    return list(data["value"] if isinstance(data, dict) else data)


# -- reaction export (S4) ---------------------------------------------------------------

@pytest.fixture
def reaction_team(crm_org: str) -> str:
    """A real team of the test's organisation ("Marketing DACH"; REACTION_TEAM on contoso)."""
    from dynamics_emulator.orgs import stable_id

    return REACTION_TEAM if crm_org == "contoso" else stable_id(crm_org, "team",
                                                                 "Marketing DACH")


@pytest.fixture
def reaction_unit(unit: BusinessUnit, reaction_team: str) -> BusinessUnit:
    unit.owner_id, unit.owner_type = uuid.UUID(reaction_team), "team"
    unit.save()
    return unit


@pytest.fixture
def crm_campaign(crm_client: CrmApi) -> tuple[str, str]:
    """A campaign with a campaign activity in the CRM, as S3 would have taken it over."""
    campaign_id, activity_id = str(uuid.uuid4()), str(uuid.uuid4())
    crm_client.create("campaigns", {"name": "Spring"}, id=campaign_id)
    crm_client.create("campaignactivities", {
        "subject": "Spring mailing",
        "regardingobjectid_campaign_campaignactivity@odata.bind": f"/campaigns({campaign_id})"},
        id=activity_id)
    return campaign_id, activity_id


@pytest.fixture
def campaign(tenant: Tenant, reaction_unit: BusinessUnit,
             crm_campaign: tuple[str, str]) -> Campaign:
    c = create_campaign(tenant, "Newsletter März", recipients=4)
    c.crm_campaign_id, c.crm_campaign_activity_id = (uuid.UUID(x) for x in crm_campaign)
    c.save()
    return c
