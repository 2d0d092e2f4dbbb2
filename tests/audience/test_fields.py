from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from audience.models import FieldType, SubscriberField, SubscriberFieldOption
from audience.services import FieldError, create_tenant, ensure_standard_fields, remove_option
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


def url(name: str, tenant: Tenant, **kw: int) -> str:
    return reverse(f"audience:{name}", kwargs={"tenant": tenant.slug, **kw})


def test_it_creates_standard_fields_idempotently(tenant: Tenant) -> None:
    ensure_standard_fields(tenant)
    ensure_standard_fields(tenant)
    keys = set(SubscriberField.objects.filter(tenant=tenant).values_list("key", flat=True))
    assert keys == {"email", "first_name", "last_name", "company", "language", "birthday"}
    assert SubscriberField.objects.filter(tenant=tenant, is_standard=False).count() == 0
    language = SubscriberField.objects.get(tenant=tenant, key="language")
    assert language.field_type == FieldType.SINGLE_SELECT
    assert {(o.value, o.label_de, o.label_en) for o in language.options.all()} == {
        ("de", "Deutsch", "German"), ("en", "Englisch", "English")}
    assert SubscriberField.objects.get(tenant=tenant, key="birthday").field_type == "date"


def test_create_tenant_brings_standard_fields(db: None) -> None:
    tenant = create_tenant("Initech", "initech", "en")
    assert tenant.default_language == "en"
    assert tenant.subscriber_fields.filter(is_standard=True).count() == 6


def test_owner_lists_fields(owner_client: Client, tenant: Tenant, standard_fields: dict) -> None:
    response = owner_client.get(url("fields", tenant))
    assert response.status_code == 200
    assert "Email address" in response.content.decode()
    assert "Add field" in response.content.decode()


def test_member_reads_without_change_links(member_client: Client, tenant: Tenant,
                                           standard_fields: dict) -> None:
    response = member_client.get(url("fields", tenant))
    assert response.status_code == 200
    assert "Email address" in response.content.decode()
    assert "Add field" not in response.content.decode()


def test_outsider_gets_404(outsider_client: Client, tenant: Tenant,
                           standard_fields: dict) -> None:
    assert outsider_client.get(url("fields", tenant)).status_code == 404
    field = standard_fields["email"]
    assert outsider_client.get(url("field_edit", tenant, pk=field.pk)).status_code == 404


def test_owner_creates_select_field_with_options(owner_client: Client, tenant: Tenant) -> None:
    response = owner_client.post(url("field_create", tenant), {
        "key": "interest", "label_en": "Interest", "label_de": "Interesse",
        "field_type": "single_select"})
    field = SubscriberField.objects.get(tenant=tenant, key="interest")
    assert response.status_code == 302
    owner_client.post(url("field_edit", tenant, pk=field.pk), {
        "add_option": "1", "value": "events", "label_en": "Events",
        "label_de": "Veranstaltungen"})
    option = field.options.get()
    assert option.label_de == "Veranstaltungen"
    owner_client.post(url("option_edit", tenant, pk=field.pk, option_pk=option.pk),
                      {"label_en": "Events!", "label_de": "Events"})
    option.refresh_from_db()
    assert option.label_en == "Events!"
    owner_client.post(url("option_remove", tenant, pk=field.pk, option_pk=option.pk))
    assert not field.options.exists()


def test_owner_edits_labels_but_not_key(owner_client: Client, tenant: Tenant,
                                        standard_fields: dict) -> None:
    field = standard_fields["company"]
    owner_client.post(url("field_edit", tenant, pk=field.pk), {
        "label_en": "Organisation", "label_de": "Organisation", "key": "hacked",
        "field_type": "number"})
    field.refresh_from_db()
    assert (field.label_en, field.key, field.field_type) == ("Organisation", "company", "text")
    assert field.history.count() == 2  # audit: created + changed


def test_member_cannot_change(member_client: Client, tenant: Tenant,
                              standard_fields: dict) -> None:
    response = member_client.post(url("field_create", tenant), {
        "key": "x", "label_en": "X", "label_de": "X", "field_type": "text"})
    assert response.status_code == 403
    field = standard_fields["company"]
    assert member_client.post(url("field_edit", tenant, pk=field.pk), {
        "label_en": "Y", "label_de": "Y"}).status_code == 403
    assert member_client.post(url("field_delete", tenant, pk=field.pk)).status_code == 403
    option = standard_fields["language"].options.first()
    assert member_client.post(url("option_remove", tenant, pk=standard_fields["language"].pk,
                                  option_pk=option.pk)).status_code == 403
    assert not SubscriberField.objects.filter(key="x").exists()
    field.refresh_from_db()
    assert field.label_en == "Company"
    assert SubscriberFieldOption.objects.filter(pk=option.pk).exists()


def test_standard_field_cannot_be_deleted(owner_client: Client, tenant: Tenant,
                                          standard_fields: dict) -> None:
    field = standard_fields["email"]
    response = owner_client.post(url("field_delete", tenant, pk=field.pk), follow=True)
    assert "standard field and cannot be deleted" in response.content.decode()
    assert SubscriberField.objects.filter(pk=field.pk).exists()


def test_custom_field_can_be_deleted(owner_client: Client, tenant: Tenant) -> None:
    field = SubscriberField.objects.create(tenant=tenant, key="shoe", label_en="Shoe size",
                                           label_de="Schuhgröße", field_type="number")
    owner_client.post(url("field_delete", tenant, pk=field.pk))
    assert not SubscriberField.objects.filter(pk=field.pk).exists()


def test_other_tenants_field_in_owner_url_is_404(owner_client: Client, tenant: Tenant,
                                                 other_tenant: Tenant) -> None:
    foreign = ensure_standard_fields(other_tenant)[0]
    assert owner_client.get(url("field_edit", tenant, pk=foreign.pk)).status_code == 404
    assert owner_client.post(url("field_delete", tenant, pk=foreign.pk)).status_code == 404
    lang = SubscriberField.objects.get(tenant=other_tenant, key="language")
    opt = lang.options.first()
    assert owner_client.post(url("option_remove", tenant, pk=lang.pk, option_pk=opt.pk)
                             ).status_code == 404
    assert SubscriberField.objects.filter(pk=foreign.pk).exists()


def test_option_used_by_mapping_needs_confirmation(tenant: Tenant, standard_fields: dict,
                                                   owner_client: Client) -> None:
    from fieldmapping.catalogue import load_catalogue
    from fieldmapping.models import CrmAttribute
    from fieldmapping.services import MappingInput, save_mapping
    from tests.mapping_fixtures import demo_catalogue, make_unit, save_settings

    save_settings(tenant)
    load_catalogue(tenant, demo_catalogue())
    unit = make_unit(tenant)
    language = standard_fields["language"]
    de, en = language.options.get(value="de"), language.options.get(value="en")
    attr = CrmAttribute.objects.get(tenant=tenant, entity="contact", logical_name="mwx_language")
    save_mapping(unit, "contact", MappingInput(attr, language,
                                               option_map={100000000: de, 100000001: en}))
    with pytest.raises(FieldError, match="used by option mappings"):
        remove_option(de)
    page = owner_client.get(url("option_remove", tenant, pk=language.pk, option_pk=de.pk))
    assert "Sales (Contact, mwx_language = 100000000)" in page.content.decode()
    owner_client.post(url("option_remove", tenant, pk=language.pk, option_pk=de.pk))
    assert SubscriberFieldOption.objects.filter(pk=de.pk).exists()
    owner_client.post(url("option_remove", tenant, pk=language.pk, option_pk=de.pk),
                      {"confirm": "yes"})
    assert not SubscriberFieldOption.objects.filter(pk=de.pk).exists()


def test_option_changes_are_audited(owner_client: Client, tenant: Tenant,
                                    standard_fields: dict) -> None:
    language = standard_fields["language"]
    option = language.options.get(value="en")
    owner_client.post(url("option_edit", tenant, pk=language.pk, option_pk=option.pk),
                      {"label_en": "English (UK)", "label_de": "Englisch"})
    latest = option.history.first()
    assert latest.label_en == "English (UK)"
    assert latest.history_user.email == "owner@acme.example"
