from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from businessunits.models import BusinessUnit
from fieldmapping.models import CrmAttribute, FieldMapping
from fieldmapping.services import MappingInput, language_mapping_gaps, save_mapping
from tenants.models import Tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogue")]

WARNING = "every record arrives with the tenant&#x27;s default language"


def attr(tenant: Tenant, entity: str, name: str) -> CrmAttribute:
    return CrmAttribute.objects.get(tenant=tenant, entity=entity, logical_name=name)


@pytest.fixture
def mapping(tenant: Tenant, unit: BusinessUnit, standard_fields: dict) -> FieldMapping:
    return save_mapping(unit, "contact", MappingInput(
        attr(tenant, "contact", "firstname"), standard_fields["first_name"]))


def urls(tenant: Tenant, unit: BusinessUnit, mapping: FieldMapping) -> dict[str, str]:
    return {
        "create": reverse("fieldmapping:create", kwargs={
            "tenant": tenant.slug, "unit_pk": unit.pk, "entity": "contact"}),
        "dynamic": reverse("fieldmapping:dynamic", kwargs={
            "tenant": tenant.slug, "unit_pk": unit.pk, "entity": "contact"}),
        "edit": reverse("fieldmapping:edit", kwargs={"tenant": tenant.slug, "pk": mapping.pk}),
        "delete": reverse("fieldmapping:delete", kwargs={"tenant": tenant.slug,
                                                         "pk": mapping.pk}),
    }


def test_owner_opens_every_mapping_page(owner_client: Client, tenant: Tenant,
                                        unit: BusinessUnit, mapping: FieldMapping) -> None:
    for name, url in urls(tenant, unit, mapping).items():
        assert owner_client.get(url).status_code == 200, name


def test_member_reads_but_cannot_change(member_client: Client, tenant: Tenant,
                                        unit: BusinessUnit, mapping: FieldMapping,
                                        standard_fields: dict) -> None:
    u = urls(tenant, unit, mapping)
    assert member_client.get(u["edit"]).status_code == 200
    assert "Save mapping" not in member_client.get(u["edit"]).content.decode()
    data = {"crm_attribute": attr(tenant, "contact", "lastname").pk,
            "subscriber_field": standard_fields["last_name"].pk, "direction": "both"}
    assert member_client.post(u["create"], data).status_code == 403
    assert member_client.post(u["edit"], data).status_code == 403
    assert member_client.post(u["delete"]).status_code == 403
    mapping.refresh_from_db()
    assert mapping.crm_attribute.logical_name == "firstname"
    assert FieldMapping.objects.count() == 1


def test_outsider_gets_404(outsider_client: Client, tenant: Tenant, unit: BusinessUnit,
                           mapping: FieldMapping) -> None:
    for name, url in urls(tenant, unit, mapping).items():
        assert outsider_client.get(url).status_code == 404, name
        assert outsider_client.post(url).status_code == 404, name
    assert FieldMapping.objects.filter(pk=mapping.pk).exists()


def test_other_tenants_objects_in_owner_urls_are_404(
        owner_client: Client, tenant: Tenant, other_unit: BusinessUnit,
        unit: BusinessUnit, standard_fields: dict) -> None:
    other = other_unit.tenant
    foreign = save_mapping(other_unit, "contact", MappingInput(
        attr(other, "contact", "firstname"), other.subscriber_fields.get(key="first_name")))
    for name, url in urls(tenant, other_unit, foreign).items():
        assert owner_client.get(url).status_code == 404, name
    assert owner_client.post(urls(tenant, other_unit, foreign)["delete"]).status_code == 404
    assert FieldMapping.objects.filter(pk=foreign.pk).exists()
    # A foreign attribute or field posted into the owner's own unit is refused.
    own_create = urls(tenant, unit, foreign)["create"]
    response = owner_client.post(own_create, {
        "crm_attribute": attr(other, "contact", "lastname").pk,
        "subscriber_field": standard_fields["last_name"].pk, "direction": "both"})
    assert response.status_code == 200 and "Select a valid choice" in response.content.decode()
    assert not FieldMapping.objects.filter(business_unit=unit).exclude(
        subscriber_field__key="first_name").exists()


def test_unknown_entity_type_is_404(owner_client: Client, tenant: Tenant,
                                    unit: BusinessUnit) -> None:
    url = reverse("fieldmapping:create", kwargs={"tenant": tenant.slug, "unit_pk": unit.pk,
                                                 "entity": "opportunity"})
    assert owner_client.get(url).status_code == 404


def test_language_warning_on_every_tenant_page_until_mapped(
        owner_client: Client, tenant: Tenant, unit: BusinessUnit, standard_fields: dict) -> None:
    fields_page = reverse("audience:fields", kwargs={"tenant": tenant.slug})
    assert WARNING not in owner_client.get(fields_page).content.decode()
    save_mapping(unit, "contact", MappingInput(
        attr(tenant, "contact", "firstname"), standard_fields["first_name"]))
    assert language_mapping_gaps(tenant) == [(unit, "contact")]
    for url in (fields_page, reverse("businessunits:list", kwargs={"tenant": tenant.slug}),
                reverse("tenants:members", kwargs={"tenant": tenant.slug})):
        page = owner_client.get(url).content.decode()
        assert WARNING in page and "Sales" in page and "Contact" in page, url
    language = standard_fields["language"]
    save_mapping(unit, "contact", MappingInput(
        attr(tenant, "contact", "mwx_language"), language,
        option_map={100000000: language.options.get(value="de"),
                    100000001: language.options.get(value="en")}))
    assert language_mapping_gaps(tenant) == []
    assert WARNING not in owner_client.get(fields_page).content.decode()


def test_language_gap_is_per_entity_type(tenant: Tenant, unit: BusinessUnit,
                                         standard_fields: dict) -> None:
    language = standard_fields["language"]
    save_mapping(unit, "contact", MappingInput(
        attr(tenant, "contact", "mwx_language"), language,
        option_map={100000000: language.options.get(value="de"),
                    100000001: language.options.get(value="en")}))
    save_mapping(unit, "lead", MappingInput(
        attr(tenant, "lead", "firstname"), standard_fields["first_name"]))
    assert language_mapping_gaps(tenant) == [(unit, "lead")]


def test_no_warning_for_other_tenants_gaps(owner_client: Client, tenant: Tenant,
                                           other_unit: BusinessUnit,
                                           standard_fields: dict) -> None:
    other = other_unit.tenant
    save_mapping(other_unit, "contact", MappingInput(
        attr(other, "contact", "firstname"), other.subscriber_fields.get(key="first_name")))
    page = owner_client.get(reverse("audience:fields", kwargs={"tenant": tenant.slug}))
    assert WARNING not in page.content.decode()
