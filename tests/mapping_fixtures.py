"""Fixtures shared by the audience, business-unit and field-mapping tests."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

from audience.models import SubscriberField
from audience.services import ensure_standard_fields
from businessunits.models import BusinessUnit
from businessunits.services import create_unit
from fieldmapping.catalogue import CatalogueData, load_catalogue
from orgsettings.models import OrgSettings
from tenants.models import Tenant

DEMO_CATALOGUE = (Path(__file__).resolve().parent.parent
                  / "fieldmapping/fixtures/demo_catalogue.json")


def demo_catalogue() -> CatalogueData:
    return json.loads(DEMO_CATALOGUE.read_text(encoding="utf-8"))


def save_settings(tenant: Tenant) -> OrgSettings:
    return OrgSettings.objects.create(
        tenant=tenant, crm_url="https://contoso.crm4.dynamics.com", deployment="online",
        reaction_mode="absolute")


def make_unit(tenant: Tenant, name: str = "Sales", **kwargs: Any) -> BusinessUnit:
    return create_unit(tenant, name=name, owner_id=kwargs.pop("owner_id", uuid.uuid4()),
                       owner_name=kwargs.pop("owner_name", "Sales Team"),
                       owner_type=kwargs.pop("owner_type", "team"), **kwargs)


@pytest.fixture
def settings_saved(tenant: Tenant) -> OrgSettings:
    return save_settings(tenant)


@pytest.fixture
def standard_fields(tenant: Tenant) -> dict[str, SubscriberField]:
    return {f.key: f for f in ensure_standard_fields(tenant)}


@pytest.fixture
def unit(tenant: Tenant, settings_saved: OrgSettings) -> BusinessUnit:
    return make_unit(tenant)


@pytest.fixture
def catalogue(tenant: Tenant) -> None:
    load_catalogue(tenant, demo_catalogue())


@pytest.fixture
def other_unit(other_tenant: Tenant) -> BusinessUnit:
    save_settings(other_tenant)
    ensure_standard_fields(other_tenant)
    load_catalogue(other_tenant, demo_catalogue())
    return make_unit(other_tenant, name="Globex unit")
