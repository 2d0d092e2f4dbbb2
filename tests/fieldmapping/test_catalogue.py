from __future__ import annotations

import copy
from io import StringIO

import pytest
from django.core.management import call_command

from audience.models import SubscriberField
from businessunits.models import BusinessUnit
from fieldmapping.catalogue import load_catalogue
from fieldmapping.models import CrmAttribute, FieldMapping
from fieldmapping.services import MappingInput, mapping_problems, save_mapping
from tenants.models import Tenant
from tests.mapping_fixtures import DEMO_CATALOGUE, demo_catalogue

pytestmark = pytest.mark.django_db


def attr(tenant: Tenant, entity: str, name: str) -> CrmAttribute:
    return CrmAttribute.objects.get(tenant=tenant, entity=entity, logical_name=name)


def without(data: dict, entity: str, name: str) -> dict:
    data = copy.deepcopy(data)
    data["entities"][entity]["attributes"] = [
        a for a in data["entities"][entity]["attributes"] if a["logical_name"] != name]
    return data


def test_load_creates_attributes_and_options(tenant: Tenant) -> None:
    result = load_catalogue(tenant, demo_catalogue())
    assert "contact.firstname" in result.added and not result.vanished
    birthdate = attr(tenant, "contact", "birthdate")
    assert (birthdate.attribute_type, birthdate.date_behavior) == ("datetime", "DateOnly")
    assert attr(tenant, "contact", "createdon").is_valid_for_update is False
    assert attr(tenant, "contact", "parentcustomerid").lookup_targets == ["account", "contact"]
    assert attr(tenant, "account", "revenue").attribute_type == "money"
    assert attr(tenant, "contact", "mwx_topics").attribute_type == "multiselectpicklist"
    language = attr(tenant, "contact", "mwx_language")
    assert [(o.value, o.label_de) for o in language.options.all()] == [
        (100000000, "Deutsch"), (100000001, "Englisch")]
    again = load_catalogue(tenant, demo_catalogue())
    assert again.added == [] and again.changed == [] and again.vanished == []


def test_reload_marks_vanished_and_flags_mapping(tenant: Tenant, unit: BusinessUnit,
                                                 standard_fields: dict) -> None:
    load_catalogue(tenant, demo_catalogue())
    mapping = save_mapping(unit, "contact", MappingInput(
        attr(tenant, "contact", "firstname"), standard_fields["first_name"]))
    result = load_catalogue(tenant, without(demo_catalogue(), "contact", "firstname"))
    firstname = attr(tenant, "contact", "firstname")
    assert firstname.present is False
    assert result.vanished == ["contact.firstname"]
    assert result.flagged_mappings == [mapping]
    assert "no longer exists" in mapping_problems(FieldMapping.objects.get(pk=mapping.pk))[0]
    # It comes back: present again, no warning.
    load_catalogue(tenant, demo_catalogue())
    firstname.refresh_from_db()
    assert firstname.present and mapping_problems(FieldMapping.objects.get(pk=mapping.pk)) == []


def test_changed_type_is_flagged(tenant: Tenant, unit: BusinessUnit,
                                 standard_fields: dict) -> None:
    load_catalogue(tenant, demo_catalogue())
    mapping = save_mapping(unit, "contact", MappingInput(
        attr(tenant, "contact", "birthdate"), standard_fields["birthday"]))
    data = demo_catalogue()
    for a in data["entities"]["contact"]["attributes"]:
        if a["logical_name"] == "birthdate":
            a["date_behavior"] = "UserLocal"
    result = load_catalogue(tenant, data)
    assert result.type_changed == ["contact.birthdate"]
    assert result.flagged_mappings == [mapping]
    assert "changed" in mapping_problems(FieldMapping.objects.get(pk=mapping.pk))[0]


def test_related_attribute_vanishing_flags_lookup_mapping(tenant: Tenant, unit: BusinessUnit,
                                                          standard_fields: dict) -> None:
    load_catalogue(tenant, demo_catalogue())
    mapping = save_mapping(unit, "contact", MappingInput(
        attr(tenant, "contact", "parentcustomerid"), standard_fields["company"],
        related_attribute=attr(tenant, "account", "name")))
    result = load_catalogue(tenant, without(demo_catalogue(), "account", "name"))
    assert result.flagged_mappings == [mapping]


def test_changed_options_are_updated(tenant: Tenant) -> None:
    load_catalogue(tenant, demo_catalogue())
    data = demo_catalogue()
    for a in data["entities"]["contact"]["attributes"]:
        if a["logical_name"] == "mwx_language":
            a["options"].append({"value": 100000002, "label": {"en": "French",
                                                               "de": "Französisch"}})
    result = load_catalogue(tenant, data)
    assert result.changed == ["contact.mwx_language"]
    assert attr(tenant, "contact", "mwx_language").options.count() == 3


def test_management_command(tenant: Tenant) -> None:
    out = StringIO()
    call_command("load_crm_catalogue", tenant.slug, str(DEMO_CATALOGUE), stdout=out)
    assert "vanished" in out.getvalue()
    assert CrmAttribute.objects.filter(tenant=tenant, entity="lead").exists()


def test_catalogue_is_per_tenant(tenant: Tenant, other_tenant: Tenant) -> None:
    load_catalogue(tenant, demo_catalogue())
    load_catalogue(other_tenant, without(demo_catalogue(), "contact", "firstname"))
    assert attr(tenant, "contact", "firstname").present
    assert SubscriberField.objects.count() == 0
