"""Issue #20, the group page: the CRM-sync checkbox shows what is saved, and an empty
owner is refused where the group creates CRM records (S5) — on the page and in the API."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from audience.groups import create_group, save_sync_setting
from audience.models import GroupSyncSetting, SubscriberGroup
from tenants.models import Tenant
from tests.api.conftest import token_client
from tests.mapping_fixtures import save_settings

pytestmark = pytest.mark.django_db


@pytest.fixture
def group(tenant: Tenant) -> SubscriberGroup:
    save_settings(tenant)  # Online: the owner is an email address
    return create_group(tenant, "Newsletter")


def url(group: SubscriberGroup) -> str:
    return reverse("audience_data:group", kwargs={"tenant": group.tenant.slug, "pk": group.pk})


def sync_checkbox(client: Client, group: SubscriberGroup) -> str:
    page = client.get(url(group)).content.decode()
    match = re.search(r'<input type="checkbox" name="enabled"[^>]*>', page)
    assert match, page
    return match.group(0)


def test_the_checkbox_shows_the_saved_state(owner_client: Client, group: SubscriberGroup) -> None:
    assert "checked" not in sync_checkbox(owner_client, group)  # nothing saved: no sync
    save_sync_setting(group, enabled=True, future_owner="anna@contoso.com")
    assert "checked" in sync_checkbox(owner_client, group)
    form = {"future_owner": "anna@contoso.com", "entity_type": "contact", "mode": "both"}
    assert owner_client.post(url(group), form).status_code == 302  # unticked and saved
    assert GroupSyncSetting.objects.get(group=group).enabled is False
    assert "checked" not in sync_checkbox(owner_client, group)
    assert owner_client.post(url(group), {**form, "enabled": "on"}).status_code == 302
    assert "checked" in sync_checkbox(owner_client, group)


@pytest.mark.parametrize("mode", ["both", "create"])
def test_an_empty_owner_is_refused_where_records_are_created(
    owner_client: Client, group: SubscriberGroup, mode: str
) -> None:
    response = owner_client.post(
        url(group), {"enabled": "on", "future_owner": "  ", "entity_type": "contact", "mode": mode}
    )
    assert response.status_code == 200
    assert "Name the owner of the records this group creates" in response.content.decode()
    assert not GroupSyncSetting.objects.exists()


def test_no_owner_is_needed_to_link_only_or_with_the_sync_off(
    owner_client: Client, group: SubscriberGroup
) -> None:
    form = {"future_owner": "", "entity_type": "contact"}
    assert (
        owner_client.post(url(group), {**form, "enabled": "on", "mode": "link"}).status_code == 302
    )
    assert owner_client.post(url(group), {**form, "mode": "both"}).status_code == 302
    assert GroupSyncSetting.objects.get(group=group).enabled is False


def test_the_refusal_is_german_for_a_german_admin(
    owner_client: Client, group: SubscriberGroup
) -> None:
    owner_client.post(reverse("set_language"), {"language": "de"})
    response = owner_client.post(
        url(group), {"enabled": "on", "future_owner": "", "entity_type": "contact", "mode": "both"}
    )
    assert "Geben Sie den Besitzer der Datensätze an" in response.content.decode()
    assert not GroupSyncSetting.objects.exists()


def test_the_api_refuses_an_empty_owner_too(
    owner: Any, tenant: Tenant, group: SubscriberGroup
) -> None:
    owner_api = token_client(owner)
    api_url = f"/api/v1/tenants/{tenant.slug}/groups/{group.pk}/sync-setting/"
    response = owner_api.put(api_url, {"mode": "both", "future_owner": ""}, format="json")
    assert response.status_code == 400, response.content
    assert "future_owner" in response.json()
    assert not GroupSyncSetting.objects.exists()


def test_outsider_gets_404(outsider_client: Client, group: SubscriberGroup) -> None:
    assert outsider_client.get(url(group)).status_code == 404
    assert (
        outsider_client.post(
            url(group),
            {
                "enabled": "on",
                "future_owner": "x@y.example",
                "entity_type": "contact",
                "mode": "both",
            },
        ).status_code
        == 404
    )
