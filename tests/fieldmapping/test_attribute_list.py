"""Issue #20, field mapping: the attribute list offers what fits the chosen subscriber
field (one table), is searchable, marks unsupported types instead of failing on save, and
names each type one way on every page and in the API."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from audience.models import FieldType, SubscriberField
from businessunits.models import BusinessUnit
from fieldmapping.compat import COMPATIBLE, offered_for, target_field_type
from fieldmapping.models import CrmAttribute, FieldMapping
from tenants.models import Tenant
from tests.api.conftest import token_client

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("catalogue")]


def field(tenant: Tenant, key: str, field_type: str) -> SubscriberField:
    return SubscriberField.objects.create(
        tenant=tenant, key=key, label_en=key.title(), label_de=key.title(), field_type=field_type
    )


def dynamic(client: Client, unit: BusinessUnit, **params: object) -> tuple[int, str]:
    response = client.get(
        reverse(
            "fieldmapping:dynamic",
            kwargs={"tenant": unit.tenant.slug, "unit_pk": unit.pk, "entity": "contact"},
        ),
        params,
        HTTP_HX_REQUEST="true",
    )
    return response.status_code, response.content.decode()


def names(html: str) -> set[str]:
    select = re.search(r'<select name="crm_attribute".*?</select>', html, re.S)
    assert select, html
    return set(re.findall(r"\(contact\.([a-z_0-9]+),", select.group(0)))


def option_tag(html: str, name: str) -> str:
    match = re.search(rf"<option [^>]*>[^<]*\(contact\.{name},[^<]*</option>", html)
    assert match, name
    return match.group(0)


def test_only_attributes_that_fit_the_chosen_field_are_offered(
    owner_client: Client,
    tenant: Tenant,
    unit: BusinessUnit,
    standard_fields: dict[str, SubscriberField],
) -> None:
    birthday = field(tenant, "anniversary", "date")
    status, html = dynamic(owner_client, unit, subscriber_field=birthday.pk)
    assert status == 200
    listed = names(html)
    assert "birthdate" in listed  # date only
    assert not {"createdon", "firstname", "donotbulkemail"} & listed  # date and time, text …
    assert "parentcustomerid" in listed  # a lookup: its related attribute is chosen next
    _status, html = dynamic(owner_client, unit, subscriber_field=standard_fields["first_name"].pk)
    assert {"firstname", "lastname", "description"} <= names(html)
    assert not {"birthdate", "ownerid", "contactid"} & names(html)


def test_the_list_is_searchable(
    owner_client: Client,
    tenant: Tenant,
    unit: BusinessUnit,
    standard_fields: dict[str, SubscriberField],
) -> None:
    text = standard_fields["first_name"].pk
    _status, html = dynamic(owner_client, unit, subscriber_field=text, attribute_search="NAME")
    assert {"firstname", "lastname", "fullname", "parentcustomerid"} <= names(html)
    assert "emailaddress1" not in names(html)
    _status, html = dynamic(
        owner_client, unit, subscriber_field=text, attribute_search="Vorname"
    )  # the German label matches too
    assert names(html) == {"firstname"}
    # Without JavaScript: "Update choices" filters the same way.
    page = owner_client.post(
        reverse(
            "fieldmapping:create",
            kwargs={"tenant": tenant.slug, "unit_pk": unit.pk, "entity": "contact"},
        ),
        {"subscriber_field": text, "attribute_search": "mail", "refresh": "1"},
    )
    assert names(page.content.decode()) == {"emailaddress1"}


def test_unsupported_types_are_marked_and_refused_on_save(
    owner_client: Client, tenant: Tenant, unit: BusinessUnit
) -> None:
    topics = field(tenant, "topics", "single_select")
    _status, html = dynamic(owner_client, unit, subscriber_field=topics.pk)
    tag = option_tag(html, "mwx_topics")
    assert "Multi select, not supported" in tag and "disabled" in tag
    multi = CrmAttribute.objects.get(tenant=tenant, entity="contact", logical_name="mwx_topics")
    response = owner_client.post(
        reverse(
            "fieldmapping:create",
            kwargs={"tenant": tenant.slug, "unit_pk": unit.pk, "entity": "contact"},
        ),
        {
            "crm_attribute": multi.pk,
            "subscriber_field": topics.pk,
            "direction": "both",
            "related_attribute": "",
        },
    )
    assert response.status_code == 200
    assert "Multi-select option sets are not supported" in response.content.decode()
    assert not FieldMapping.objects.exists()


def test_the_german_page_marks_them_in_german(
    owner_client: Client, tenant: Tenant, unit: BusinessUnit
) -> None:
    owner_client.post(reverse("set_language"), {"language": "de"})
    _status, html = dynamic(
        owner_client, unit, subscriber_field=field(tenant, "topics", "single_select").pk
    )
    assert "nicht unterstützt" in option_tag(html, "mwx_topics")


def test_one_name_per_type_on_pages_and_in_the_api(
    owner: object, owner_client: Client, tenant: Tenant, unit: BusinessUnit
) -> None:
    birthday = field(tenant, "anniversary", "date")
    _status, html = dynamic(owner_client, unit)
    assert "Date only" in option_tag(html, "birthdate")
    assert "Date and time" in option_tag(html, "createdon")
    fields_page = owner_client.get(
        reverse("audience:fields", kwargs={"tenant": tenant.slug})
    ).content.decode()
    assert "<td>Date only</td>" in fields_page
    api = token_client(owner).get(
        f"/api/v1/tenants/{tenant.slug}/crm-attributes/", {"table": "contact", "page_size": 500}
    )
    assert api.status_code == 200, api.content
    labels = {a["logical_name"]: a["type_label"] for a in api.json()["results"]}
    assert (labels["birthdate"], labels["createdon"]) == ("Date only", "Date and time")
    assert labels["mwx_interest"] == FieldType.SINGLE_SELECT.label
    assert birthday.get_field_type_display() == "Date only"


def test_the_table_and_the_offer_agree(tenant: Tenant, unit: BusinessUnit) -> None:
    for attribute in CrmAttribute.objects.filter(tenant=tenant):
        target = target_field_type(attribute)
        for field_type in FieldType:
            fits = attribute.attribute_type in COMPATIBLE[field_type]
            assert offered_for(attribute, field_type) == (
                attribute.is_lookup or (fits and target == field_type)
            ), attribute


def test_outsider_gets_404(outsider_client: Client, unit: BusinessUnit) -> None:
    status, _html = dynamic(outsider_client, unit, attribute_search="name")
    assert status == 404
