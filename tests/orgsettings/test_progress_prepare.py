"""C7 setup progress and C8 prepare mailworx."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.test import Client
from django.urls import reverse

from audience.models import FieldType, SubscriberField
from businessunits.models import BusinessUnit
from fieldmapping.models import AttributeType, CrmAttribute, FieldMapping
from orgsettings.models import IntegrationAccess, OrgSettings
from orgsettings.progress import State, Step, settings_saved, setup_steps
from tenants.models import Membership, Role, Tenant

pytestmark = pytest.mark.django_db


def progress_url(tenant: Tenant) -> str:
    return reverse("orgsettings:progress", kwargs={"tenant": tenant.slug})


def prepare_url(tenant: Tenant) -> str:
    return reverse("orgsettings:prepare", kwargs={"tenant": tenant.slug})


def states(tenant: Tenant) -> dict[str, State]:
    return {s.key: s.state for s in setup_steps(tenant)}


def test_steps_before_and_after_saving_settings(tenant: Tenant,
                                                owner: AbstractUser) -> None:
    assert not settings_saved(tenant)
    assert states(tenant) == {"settings": State.OPEN, "prepare": State.WAITING,
                              "check": State.WAITING, "attributes": State.WAITING,
                              "business_unit": State.WAITING, "mappings": State.WAITING,
                              "start": State.WAITING}
    prepare = setup_steps(tenant)[1]
    assert prepare.reason == "Save the organisation settings first."


def test_steps_after_saving(saved_settings: OrgSettings, tenant: Tenant) -> None:
    assert settings_saved(tenant)
    assert states(tenant) == {"settings": State.DONE, "prepare": State.OPEN,
                              "check": State.WAITING, "attributes": State.OPEN,
                              "business_unit": State.OPEN, "mappings": State.WAITING,
                              "start": State.WAITING}


def test_mapping_step_needs_a_language_mapping_per_entity_type(
    saved_settings: OrgSettings, tenant: Tenant,
) -> None:
    unit = BusinessUnit.objects.create(tenant=tenant, name="Sales", owner_name="x",
                                       owner_id="00000000-0000-0000-0000-000000000001")
    step = mapping_step(tenant)
    assert step.state is State.WAITING and step.reason == "Pull the CRM attributes first."
    email = SubscriberField.objects.create(tenant=tenant, key="email", label_en="E",
                                           label_de="E", field_type=FieldType.TEXT)
    lang = SubscriberField.objects.create(tenant=tenant, key="language", label_en="L",
                                          label_de="L", field_type=FieldType.TEXT)
    attr = CrmAttribute.objects.create(tenant=tenant, entity="contact",
                                       logical_name="emailaddress1",
                                       attribute_type=AttributeType.STRING)
    step = mapping_step(tenant)
    assert step.state is State.OPEN and "Sales has no field mappings." in step.details
    FieldMapping.objects.create(business_unit=unit, entity_type="contact", crm_attribute=attr,
                                subscriber_field=email)
    step = mapping_step(tenant)
    assert step.state is State.OPEN
    assert step.details == ["Sales: the Contact mappings lack a language mapping."]
    FieldMapping.objects.create(business_unit=unit, entity_type="contact", crm_attribute=attr,
                                subscriber_field=lang)
    assert mapping_step(tenant).state is State.DONE


def test_a_fixed_language_stands_in_for_the_language_mapping(
    saved_settings: OrgSettings, tenant: Tenant,
) -> None:
    """C14: when no CRM attribute can hold the language, the unit's fixed language ends
    the step (and the warning on every page) instead."""
    unit = BusinessUnit.objects.create(tenant=tenant, name="Sales", owner_name="x",
                                       owner_id="00000000-0000-0000-0000-000000000001")
    email = SubscriberField.objects.create(tenant=tenant, key="email", label_en="E",
                                           label_de="E", field_type=FieldType.TEXT)
    attr = CrmAttribute.objects.create(tenant=tenant, entity="contact",
                                       logical_name="emailaddress1",
                                       attribute_type=AttributeType.STRING)
    FieldMapping.objects.create(business_unit=unit, entity_type="contact", crm_attribute=attr,
                                subscriber_field=email)
    assert mapping_step(tenant).state is State.OPEN
    unit.fixed_language = "en"
    unit.save()
    assert mapping_step(tenant).state is State.DONE


def mapping_step(tenant: Tenant) -> Step:
    return next(s for s in setup_steps(tenant) if s.key == "mappings")


def _prepare_button(html: str) -> str:
    match = re.search(r"<button[^>]*>Prepare mailworx</button>", html)
    assert match, html
    return match.group(0)


def test_prepare_action_is_disabled_with_reason_before_settings(
    owner_client: Client, tenant: Tenant,
) -> None:
    html = owner_client.get(progress_url(tenant)).content.decode()
    button = _prepare_button(html)
    assert "disabled" in button and "Save the organisation settings first." in button
    response = owner_client.post(prepare_url(tenant), follow=True)
    assert "Save the organisation settings first." in response.content.decode()
    assert not IntegrationAccess.objects.exists()


def test_prepare_action_is_enabled_after_settings(owner_client: Client, tenant: Tenant,
                                                  saved_settings: OrgSettings) -> None:
    html = owner_client.get(progress_url(tenant)).content.decode()
    assert "disabled" not in _prepare_button(html)


def test_the_dashboard_redirects_to_progress(owner_client: Client, tenant: Tenant) -> None:
    # Until syncing was started the tenant's home (its sync health) is the checklist.
    response = owner_client.get(reverse("tenants:dashboard", kwargs={"tenant": tenant.slug}),
                                follow=True)
    assert response.redirect_chain[-1] == (progress_url(tenant), 302)


def test_prepare_creates_the_integration_user_and_shows_credentials_once(
    owner_client: Client, tenant: Tenant, saved_settings: OrgSettings, owner: AbstractUser,
) -> None:
    response = owner_client.post(prepare_url(tenant))
    assert response.status_code == 200
    assert response["Cache-Control"] == "no-store"
    issued = response.context["issued"]
    html = response.content.decode()
    for value in (issued.password, issued.activation_key, "integration-acme",
                  "http://127.0.0.1:8000/api/v1/",
                  "https://contoso.crm4.dynamics.com/api/data/v9.2/"):
        assert value in html
    # Copy buttons, handled by the static script (no inline script under the CSP).
    assert html.count('data-copy="cred-') == 6 and "js/app.js" in html
    bot = get_user_model().objects.get(username="integration-acme")
    assert bot.check_password(issued.password)
    membership = Membership.objects.get(user=bot)
    assert membership.tenant == tenant and membership.role == Role.INTEGRATION
    access = IntegrationAccess.objects.get(tenant=tenant)
    assert access.created_by == owner and access.check_activation_key(issued.activation_key)
    assert issued.activation_key not in access.activation_key
    assert issued.password not in repr(issued)

    later = owner_client.get(progress_url(tenant)).content.decode()
    assert issued.password not in later and issued.activation_key not in later
    assert "Prepared on" in later and "owner@acme.example" in later
    assert "Re-issue credentials" in later

    # a second prepare is refused; nothing new is shown
    again = owner_client.post(prepare_url(tenant), follow=True).content.decode()
    assert "already prepared" in again and issued.password not in again

    # the integration user cannot use the tenant's UI
    bot_client = Client()
    bot_client.force_login(bot)
    for name in ("orgsettings:progress", "orgsettings:edit", "orgsettings:history",
                 "tenants:members"):
        assert bot_client.get(reverse(name, kwargs={"tenant": tenant.slug})).status_code == 404


def test_reissue_rotates_password_and_key(owner_client: Client, tenant: Tenant,
                                          saved_settings: OrgSettings) -> None:
    first = owner_client.post(prepare_url(tenant)).context["issued"]
    second = owner_client.post(
        reverse("orgsettings:reissue", kwargs={"tenant": tenant.slug})).context["issued"]
    assert second.password != first.password
    bot = get_user_model().objects.get(username="integration-acme")
    assert bot.check_password(second.password) and not bot.check_password(first.password)
    access = IntegrationAccess.objects.get(tenant=tenant)
    assert access.check_activation_key(second.activation_key)
    assert not access.check_activation_key(first.activation_key)


def test_members_see_progress_but_cannot_prepare(member_client: Client, tenant: Tenant,
                                                 saved_settings: OrgSettings) -> None:
    html = member_client.get(progress_url(tenant)).content.decode()
    assert "disabled" in _prepare_button(html)
    assert member_client.post(prepare_url(tenant)).status_code == 403
    assert member_client.post(
        reverse("orgsettings:reissue", kwargs={"tenant": tenant.slug})).status_code == 403
    assert not IntegrationAccess.objects.exists()


def test_outsiders_get_not_found(outsider_client: Client, tenant: Tenant,
                                 saved_settings: OrgSettings) -> None:
    assert outsider_client.get(progress_url(tenant)).status_code == 404
    assert outsider_client.get(prepare_url(tenant)).status_code == 404
    assert outsider_client.post(prepare_url(tenant)).status_code == 404
    assert outsider_client.post(
        reverse("orgsettings:reissue", kwargs={"tenant": tenant.slug})).status_code == 404
    assert not IntegrationAccess.objects.exists()
