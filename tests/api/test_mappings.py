"""Business units (C11) and field mappings (C12) over the API, through the same rules."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from audience.models import SubscriberField
from businessunits.models import BusinessUnit
from fieldmapping.models import CrmAttribute, FieldMapping, OptionMapping
from tenants.models import Tenant
from tests.mapping_fixtures import make_unit

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogue")]
T = "/api/v1/tenants/acme/"
OWNER_ID = "9b1f5a44-2c1d-4c3f-9a55-0f1d2e3c4b5a"


def attr(tenant: Tenant, entity: str, name: str) -> int:
    return CrmAttribute.objects.get(tenant=tenant, entity=entity, logical_name=name).pk


def test_unit_create_update_delete(owner_api: APIClient, tenant: Tenant,
                                   settings_saved: object) -> None:
    response = owner_api.post(f"{T}business-units/", {
        "name": "Sales", "owner_id": OWNER_ID, "owner_name": "Sales team",
        "owner_type": "team"}, format="json")
    assert response.status_code == 201, response.content
    unit = BusinessUnit.objects.get(tenant=tenant)
    assert unit.is_default and unit.owner_type == "team"  # the first unit is the default
    dup = owner_api.post(f"{T}business-units/", {"name": "sales", "owner_id": OWNER_ID,
                                                 "owner_name": "X"}, format="json")
    assert dup.status_code == 400 and "already exists" in dup.json()["name"][0]
    bad = owner_api.post(f"{T}business-units/", {"name": "B", "owner_id": "nope",
                                                 "owner_type": "robot"}, format="json")
    assert bad.status_code == 400 and {"owner_id", "owner_name", "owner_type"} <= set(
        bad.json())
    assert owner_api.patch(f"{T}business-units/{unit.pk}/", {"owner_name": "Team B"},
                           format="json").status_code == 200
    unit.refresh_from_db()
    assert unit.owner_name == "Team B"
    other = make_unit(tenant, name="Support")
    refused = owner_api.delete(f"{T}business-units/{unit.pk}/")
    assert refused.status_code == 400 and "default unit" in refused.json()[
        "non_field_errors"][0]
    assert owner_api.delete(f"{T}business-units/{other.pk}/").status_code == 204
    assert list(BusinessUnit.objects.all()) == [unit]


def post(client: APIClient, unit: BusinessUnit, body: dict) -> dict:
    response = client.post(f"{T}business-units/{unit.pk}/field-mappings/",
                           {"entity_type": "contact", **body}, format="json")
    return {"status": response.status_code, **response.json()}


def test_simple_mapping_saved_listed_deleted(owner_api: APIClient, tenant: Tenant,
                                             unit: BusinessUnit,
                                             standard_fields: dict) -> None:
    result = post(owner_api, unit, {"crm_attribute": attr(tenant, "contact", "firstname"),
                                    "subscriber_field": standard_fields["first_name"].pk})
    assert result["status"] == 201, result
    mapping = FieldMapping.objects.get(business_unit=unit)
    assert (mapping.direction, result["crm_attribute"], result["subscriber_field"]) == (
        "both", "firstname", "first_name")
    listed = owner_api.get(f"{T}business-units/{unit.pk}/field-mappings/").json()
    assert [m["id"] for m in listed["results"]] == [mapping.pk]
    url = f"{T}business-units/{unit.pk}/field-mappings/{mapping.pk}/"
    assert owner_api.delete(url).status_code == 204
    assert not FieldMapping.objects.exists()


def test_multi_select_refused(owner_api: APIClient, tenant: Tenant,
                              unit: BusinessUnit) -> None:
    topics = SubscriberField.objects.create(tenant=tenant, key="topics", label_en="Topics",
                                            label_de="Themen", field_type="multi_select")
    result = post(owner_api, unit, {"crm_attribute": attr(tenant, "contact", "mwx_topics"),
                                    "subscriber_field": topics.pk})
    assert result["status"] == 400
    assert "Multi-select option sets are not supported" in result["crm_attribute"][0]
    assert not FieldMapping.objects.exists()


def test_lookup_needs_related_attribute_and_is_one_way(
        owner_api: APIClient, tenant: Tenant, unit: BusinessUnit,
        standard_fields: dict) -> None:
    lookup = attr(tenant, "contact", "parentcustomerid")
    result = post(owner_api, unit, {"crm_attribute": lookup,
                                    "subscriber_field": standard_fields["company"].pk})
    assert result["status"] == 400 and "is a lookup" in result["related_attribute"][0]
    result = post(owner_api, unit, {"crm_attribute": lookup, "direction": "both",
                                    "related_attribute": attr(tenant, "account", "name"),
                                    "subscriber_field": standard_fields["company"].pk})
    assert result["status"] == 201, result
    assert result["direction"] == "crm_to_mailworx"
    assert FieldMapping.objects.get().direction == "crm_to_mailworx"


def test_option_set_needs_every_value(owner_api: APIClient, tenant: Tenant,
                                      unit: BusinessUnit, standard_fields: dict) -> None:
    language = standard_fields["language"]
    de, en = language.options.get(value="de"), language.options.get(value="en")
    body = {"crm_attribute": attr(tenant, "contact", "mwx_language"),
            "subscriber_field": language.pk,
            "option_map": [{"crm_value": 100000000, "subscriber_option": de.pk}]}
    result = post(owner_api, unit, body)
    assert result["status"] == 400
    assert "Every CRM value needs an option" in result["non_field_errors"][0]
    foreign = post(owner_api, unit, {**body, "option_map": [
        {"crm_value": 100000000, "subscriber_option": 999999}]})
    assert foreign["status"] == 400 and "option_map" in foreign
    body["option_map"].append({"crm_value": 100000001, "subscriber_option": en.pk})
    result = post(owner_api, unit, body)
    assert result["status"] == 201, result
    assert dict(OptionMapping.objects.values_list("crm_value", "subscriber_option")) == {
        100000000: de.pk, 100000001: en.pk}


def test_incompatible_and_foreign_refused(owner_api: APIClient, tenant: Tenant,
                                          unit: BusinessUnit, other_unit: BusinessUnit,
                                          standard_fields: dict) -> None:
    wrong_type = post(owner_api, unit, {
        "crm_attribute": attr(tenant, "contact", "birthdate"),
        "subscriber_field": standard_fields["company"].pk})
    assert wrong_type["status"] == 400 and "does not fit" in wrong_type["crm_attribute"][0]
    other = other_unit.tenant
    foreign = post(owner_api, unit, {
        "crm_attribute": attr(other, "contact", "firstname"),
        "subscriber_field": SubscriberField.objects.get(tenant=other, key="first_name").pk})
    assert foreign["status"] == 400
    assert {"crm_attribute", "subscriber_field"} <= set(foreign)
    missing = post(owner_api, unit, {})
    assert missing["status"] == 400 and {"crm_attribute", "subscriber_field"} <= set(missing)
    assert owner_api.get(f"{T}business-units/{other_unit.pk}/field-mappings/").status_code \
        == 404
    assert not FieldMapping.objects.exists()


def test_update_mapping(owner_api: APIClient, tenant: Tenant, unit: BusinessUnit,
                        standard_fields: dict) -> None:
    result = post(owner_api, unit, {"crm_attribute": attr(tenant, "contact", "firstname"),
                                    "subscriber_field": standard_fields["first_name"].pk})
    url = f"{T}business-units/{unit.pk}/field-mappings/{result['id']}/"
    response = owner_api.put(url, {"entity_type": "contact",
                                   "crm_attribute": attr(tenant, "contact", "lastname"),
                                   "subscriber_field": standard_fields["first_name"].pk},
                             format="json")
    assert response.status_code == 200, response.content
    assert FieldMapping.objects.get().crm_attribute.logical_name == "lastname"
    moved = owner_api.put(url, {"entity_type": "lead",
                                "crm_attribute": attr(tenant, "lead", "mwx_interest"),
                                "subscriber_field": standard_fields["first_name"].pk},
                          format="json")
    assert moved.status_code == 400 and "entity_type" in moved.json()
