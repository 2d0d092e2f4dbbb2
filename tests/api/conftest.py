"""API personas: token clients for owner / member / outsider, and the CRM side's
integration user (created by "prepare mailworx", C8) with its activation key."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import AbstractUser
from rest_framework.test import APIClient

from audience.campaigns import create_campaign
from audience.groups import add_members, create_group
from audience.models import Campaign, Subscriber, SubscriberField, SubscriberGroup
from audience.services import add_option, create_field
from audience.subscribers import create_subscriber
from businessunits.models import BusinessUnit
from fieldmapping.models import FieldMapping
from fieldmapping.services import MappingInput, save_mapping
from orgsettings.integration_access import prepare_mailworx
from tenants.accounts import issue_token
from tenants.models import Tenant
from tests.mapping_fixtures import *  # noqa: F403
from tests.mapping_fixtures import make_unit, save_settings


def token_client(user: Any, secret: str | None = None) -> APIClient:
    """A client sending ``secret``, or a new token of ``user``."""
    client = APIClient()
    if secret is None:
        _token, secret = issue_token(user, name="test")
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


@pytest.fixture
def owner_api(owner: AbstractUser) -> APIClient:
    return token_client(owner)


@pytest.fixture
def member_api(member: AbstractUser) -> APIClient:
    return token_client(member)


@pytest.fixture
def outsider_api(outsider: AbstractUser) -> APIClient:
    return token_client(outsider)


@dataclass
class Integration:
    client: APIClient  # HTTP Basic with the issued user name + password
    token_client: APIClient  # the same user with the token "prepare mailworx" issued
    key: str
    username: str
    password: str
    token: str


@pytest.fixture
def integration(tenant: Tenant, owner: AbstractUser) -> Integration:
    if not hasattr(tenant, "org_settings"):
        save_settings(tenant)
    issued = prepare_mailworx(tenant, user=owner)
    client = APIClient()
    basic = base64.b64encode(f"{issued.username}:{issued.password}".encode()).decode()
    client.credentials(HTTP_AUTHORIZATION=f"Basic {basic}",
                       HTTP_X_MAILWORX_ACTIVATION_KEY=issued.activation_key)
    with_token = APIClient()
    with_token.credentials(HTTP_AUTHORIZATION=f"Token {issued.token}",
                           HTTP_X_MAILWORX_ACTIVATION_KEY=issued.activation_key)
    return Integration(client, with_token, issued.activation_key, issued.username,
                       issued.password, issued.token)


@dataclass
class World:
    tenant: Tenant
    subscriber: Subscriber
    group: SubscriberGroup
    campaign: Campaign
    unit: BusinessUnit
    field: SubscriberField
    mapping: FieldMapping

    def url(self, template: str) -> str:
        return "/api/v1/tenants/acme/" + template.format(
            sub=self.subscriber.pk, group=self.group.pk, campaign=self.campaign.pk,
            unit=self.unit.pk, field=self.field.pk, mapping=self.mapping.pk)


@pytest.fixture
def world(tenant: Tenant, catalogue: None, standard_fields: dict[str, SubscriberField]
          ) -> World:
    """One object of every kind in ``tenant``."""
    if not hasattr(tenant, "org_settings"):
        save_settings(tenant)
    sub = create_subscriber(tenant, {"email": "anna@example.com", "first_name": "Anna"})
    group = create_group(tenant, "Newsletter")
    add_members(group, [sub.pk])
    unit = make_unit(tenant)
    campaign = create_campaign(tenant, "Spring", group=group, recipients=10)
    field = create_field(tenant, key="interest", label_en="Interest", label_de="Interesse",
                         field_type="single_select")
    add_option(field, value="sport", label_en="Sport", label_de="Sport")
    from fieldmapping.models import CrmAttribute

    firstname = CrmAttribute.objects.get(tenant=tenant, entity="contact",
                                         logical_name="firstname")
    mapping = save_mapping(unit, "contact", MappingInput(
        crm_attribute=firstname, subscriber_field=standard_fields["first_name"]))
    return World(tenant, sub, group, campaign, unit, field, mapping)
