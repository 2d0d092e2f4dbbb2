from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audience.models import SubscriberField
from businessunits.models import BusinessUnit
from fieldmapping.models import CrmAttribute, FieldMapping, OptionMapping
from fieldmapping.services import MappingInput, save_mapping
from tenants.models import Tenant

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogue")]


def attr(tenant: Tenant, entity: str, name: str) -> CrmAttribute:
    return CrmAttribute.objects.get(tenant=tenant, entity=entity, logical_name=name)


def create_url(unit: BusinessUnit, entity: str = "contact") -> str:
    return reverse("fieldmapping:create", kwargs={
        "tenant": unit.tenant.slug, "unit_pk": unit.pk, "entity": entity})


def post_mapping(client: Client, unit: BusinessUnit, crm: CrmAttribute, field: SubscriberField,
                 entity: str = "contact", **extra: object) -> str:
    data = {"crm_attribute": crm.pk, "subscriber_field": field.pk, "direction": "both",
            "related_attribute": "", **extra}
    response = client.post(create_url(unit, entity), data)
    return "" if response.status_code == 302 else response.content.decode()


def custom_field(tenant: Tenant, key: str, field_type: str) -> SubscriberField:
    return SubscriberField.objects.create(tenant=tenant, key=key, label_en=key.title(),
                                          label_de=key.title(), field_type=field_type)


def test_simple_text_mapping_saved(owner_client: Client, tenant: Tenant, unit: BusinessUnit,
                                   standard_fields: dict) -> None:
    assert post_mapping(owner_client, unit, attr(tenant, "contact", "firstname"),
                        standard_fields["first_name"]) == ""
    mapping = FieldMapping.objects.get(business_unit=unit)
    assert (mapping.entity_type, mapping.direction) == ("contact", "both")
    assert mapping.history.get().history_user.email == "owner@acme.example"


def test_multi_select_refused(owner_client: Client, tenant: Tenant, unit: BusinessUnit) -> None:
    topics = custom_field(tenant, "topics", "multi_select")
    page = post_mapping(owner_client, unit, attr(tenant, "contact", "mwx_topics"), topics)
    assert "Multi-select option sets are not supported" in page
    assert not FieldMapping.objects.exists()


def test_incompatible_type_refused(owner_client: Client, tenant: Tenant, unit: BusinessUnit,
                                   standard_fields: dict) -> None:
    page = post_mapping(owner_client, unit, attr(tenant, "account", "numberofemployees"),
                        standard_fields["company"], entity="account")
    assert "does not fit a subscriber field of type" in page
    page = post_mapping(owner_client, unit, attr(tenant, "contact", "ownerid"),
                        standard_fields["company"])
    assert "cannot be mapped" in page
    assert not FieldMapping.objects.exists()


def test_number_and_money_map_to_number(owner_client: Client, tenant: Tenant,
                                        unit: BusinessUnit) -> None:
    number = custom_field(tenant, "revenue", "number")
    assert post_mapping(owner_client, unit, attr(tenant, "account", "revenue"), number,
                        entity="account") == ""


def test_date_only_versus_date_time(owner_client: Client, tenant: Tenant, unit: BusinessUnit,
                                    standard_fields: dict) -> None:
    created = custom_field(tenant, "crm_created", "datetime")
    page = post_mapping(owner_client, unit, attr(tenant, "contact", "birthdate"), created)
    assert "holds a date only" in page
    page = post_mapping(owner_client, unit, attr(tenant, "contact", "createdon"),
                        standard_fields["birthday"])
    assert "holds a date and time" in page
    assert not FieldMapping.objects.exists()
    assert post_mapping(owner_client, unit, attr(tenant, "contact", "birthdate"),
                        standard_fields["birthday"]) == ""
    assert post_mapping(owner_client, unit, attr(tenant, "contact", "createdon"),
                        created) == ""
    # createdon is read-only in the CRM: one-way.
    assert FieldMapping.objects.get(subscriber_field=created).direction == "crm_to_mailworx"


def test_lookup_mapping_is_one_way(owner_client: Client, tenant: Tenant, unit: BusinessUnit,
                                   standard_fields: dict) -> None:
    lookup = attr(tenant, "contact", "parentcustomerid")
    page = post_mapping(owner_client, unit, lookup, standard_fields["company"])
    assert "choose the attribute of the related record" in page
    assert post_mapping(owner_client, unit, lookup, standard_fields["company"],
                        related_attribute=attr(tenant, "account", "name").pk) == ""
    mapping = FieldMapping.objects.get()
    assert mapping.direction == "crm_to_mailworx"
    assert mapping.source_path == "parentcustomerid → account.name"


def test_lookup_related_attribute_must_be_compatible_and_a_target(
        owner_client: Client, tenant: Tenant, unit: BusinessUnit, standard_fields: dict) -> None:
    lookup = attr(tenant, "contact", "parentcustomerid")
    page = post_mapping(owner_client, unit, lookup, standard_fields["company"],
                        related_attribute=attr(tenant, "account", "numberofemployees").pk)
    assert "does not fit" in page
    page = post_mapping(owner_client, unit, lookup, standard_fields["company"],
                        related_attribute=attr(tenant, "lead", "companyname").pk)
    assert "Select a valid choice" in page
    assert not FieldMapping.objects.exists()


def test_option_set_needs_every_value(owner_client: Client, tenant: Tenant,
                                      unit: BusinessUnit) -> None:
    interest = custom_field(tenant, "interest", "single_select")
    news = interest.options.create(value="news", label_en="Newsletter", label_de="Newsletter")
    crm = attr(tenant, "contact", "mwx_interest")
    page = post_mapping(owner_client, unit, crm, interest,
                        opt_100000000=news.pk, opt_100000001="", opt_100000002="")
    assert "Not mapped: 100000001 (Events), 100000002 (Products)" in page
    assert not FieldMapping.objects.exists()
    events = interest.options.create(value="events", label_en="Events", label_de="Events")
    products = interest.options.create(value="products", label_en="Products",
                                       label_de="Produkte")
    assert post_mapping(owner_client, unit, crm, interest, opt_100000000=news.pk,
                        opt_100000001=events.pk, opt_100000002=products.pk) == ""
    assert dict(OptionMapping.objects.values_list("crm_value", "subscriber_option")) == {
        100000000: news.pk, 100000001: events.pk, 100000002: products.pk}


def test_option_table_prefilled_by_labels(owner_client: Client, tenant: Tenant,
                                          unit: BusinessUnit, standard_fields: dict) -> None:
    language = standard_fields["language"]
    crm = attr(tenant, "contact", "mwx_language")
    # First submission without the table: shown pre-filled, nothing saved yet.
    page = post_mapping(owner_client, unit, crm, language)
    assert "pre-filled by matching labels" in page
    de = language.options.get(value="de")
    assert f'<option value="{de.pk}" selected>' in page
    assert not FieldMapping.objects.exists()
    # The htmx partial shows the same pre-filled table.
    partial = owner_client.get(
        reverse("fieldmapping:dynamic", kwargs={"tenant": tenant.slug, "unit_pk": unit.pk,
                                                "entity": "contact"}),
        {"crm_attribute": crm.pk, "subscriber_field": language.pk}).content.decode()
    assert 'name="opt_100000000"' in partial and f'<option value="{de.pk}" selected>' in partial
    en = language.options.get(value="en")
    assert post_mapping(owner_client, unit, crm, language, opt_100000000=de.pk,
                        opt_100000001=en.pk) == ""
    assert FieldMapping.objects.get().option_mappings.count() == 2


def test_htmx_partial_offers_related_attributes(owner_client: Client, tenant: Tenant,
                                                unit: BusinessUnit, standard_fields: dict
                                                ) -> None:
    partial = owner_client.get(
        reverse("fieldmapping:dynamic", kwargs={"tenant": tenant.slug, "unit_pk": unit.pk,
                                                "entity": "contact"}),
        {"crm_attribute": attr(tenant, "contact", "parentcustomerid").pk,
         "subscriber_field": standard_fields["company"].pk}, HTTP_HX_REQUEST="true")
    html = partial.content.decode()
    assert "account.name" in html and "contact.lastname" in html
    assert "lead.companyname" not in html


def test_one_mapping_per_subscriber_field(owner_client: Client, tenant: Tenant,
                                          unit: BusinessUnit, standard_fields: dict) -> None:
    assert post_mapping(owner_client, unit, attr(tenant, "contact", "emailaddress1"),
                        standard_fields["email"]) == ""
    page = post_mapping(owner_client, unit, attr(tenant, "contact", "firstname"),
                        standard_fields["email"])
    assert "is already mapped" in page
    # Another entity type may map the same field.
    assert post_mapping(owner_client, unit, attr(tenant, "lead", "emailaddress1"),
                        standard_fields["email"], entity="lead") == ""


def test_edit_and_delete_mapping(owner_client: Client, tenant: Tenant, unit: BusinessUnit,
                                 standard_fields: dict) -> None:
    mapping = save_mapping(unit, "contact", MappingInput(
        attr(tenant, "contact", "firstname"), standard_fields["first_name"]))
    owner_client.post(reverse("fieldmapping:edit", kwargs={"tenant": tenant.slug,
                                                           "pk": mapping.pk}), {
        "crm_attribute": attr(tenant, "contact", "lastname").pk,
        "subscriber_field": standard_fields["first_name"].pk, "direction": "crm_to_mailworx"})
    mapping.refresh_from_db()
    assert mapping.crm_attribute.logical_name == "lastname"
    assert mapping.direction == "crm_to_mailworx"
    owner_client.post(reverse("fieldmapping:delete", kwargs={"tenant": tenant.slug,
                                                             "pk": mapping.pk}))
    assert not FieldMapping.objects.exists()
    assert FieldMapping.history.filter(history_type="-").count() == 1


def test_overview_lists_mappings_with_options_and_warnings(
        owner_client: Client, tenant: Tenant, unit: BusinessUnit, standard_fields: dict
) -> None:
    language = standard_fields["language"]
    save_mapping(unit, "contact", MappingInput(
        attr(tenant, "contact", "mwx_language"), language,
        option_map={100000000: language.options.get(value="de"),
                    100000001: language.options.get(value="en")}))
    save_mapping(unit, "contact", MappingInput(
        attr(tenant, "contact", "parentcustomerid"), standard_fields["company"],
        related_attribute=attr(tenant, "account", "name")))
    page = owner_client.get(reverse("businessunits:detail", kwargs={
        "tenant": tenant.slug, "pk": unit.pk})).content.decode()
    assert "100000000 (German) → German" in page
    assert "parentcustomerid → account.name" in page
    assert "CRM → mailworx only" in page


def test_refresh_without_javascript_saves_nothing(owner_client: Client, tenant: Tenant,
                                                  unit: BusinessUnit,
                                                  standard_fields: dict) -> None:
    page = post_mapping(owner_client, unit, attr(tenant, "contact", "parentcustomerid"),
                        standard_fields["company"], refresh="1")
    assert 'name="related_attribute"' in page and "account.name" in page
    assert not FieldMapping.objects.exists()
