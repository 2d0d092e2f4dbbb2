"""N7: an address changed on a subscriber keeps its permission, the new address inherits it
and the old one is not added again — through the service, the bulk write the sync uses,
and the API."""

from __future__ import annotations

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from audience import consent
from audience.bulk_updates import update_subscribers
from audience.models import ConsentSource, ConsentState, SuppressionReason
from audience.subscribers import (
    ConsentRefused,
    create_subscriber,
    unsubscribe,
    update_subscriber,
)
from tenants.models import Tenant
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


def confirmed_now() -> dict[str, str]:
    return {"confirmed_at": timezone.now().isoformat(), "confirmation_source": "DOI mail"}


def reason(tenant: Tenant, email: str) -> str | None:
    entry = consent.suppression_of(tenant, email)
    return entry.reason if entry else None


def test_an_active_subscriber_keeps_its_permission_and_the_old_address_is_superseded(
    tenant: Tenant,
) -> None:
    sub = create_subscriber(
        tenant,
        {"email": "old@example.org"},
        source=ConsentSource.FORM,
        consent=ConsentState.OPTED_IN,
    )
    assert update_subscriber(sub, {"email": "New@example.org"}) == ["email"]
    sub.refresh_from_db()
    assert (sub.email_normalised, sub.consent) == ("new@example.org", ConsentState.OPTED_IN)
    assert reason(tenant, "old@example.org") == SuppressionReason.SUPERSEDED
    assert reason(tenant, "new@example.org") is None
    with pytest.raises(ConsentRefused, match="replaced by a newer address"):
        create_subscriber(tenant, {"email": "OLD@example.org"})
    # A new, provable opt-in may bring the old address back as a person of its own.
    create_subscriber(
        tenant,
        {"email": "old@example.org"},
        consent=ConsentState.DOUBLE_OPT_IN,
        detail=confirmed_now(),
    )
    # Changing back to an address superseded earlier lifts its entry.
    other = create_subscriber(tenant, {"email": "a@example.org"})
    update_subscriber(other, {"email": "b@example.org"})
    update_subscriber(other, {"email": "a@example.org"})
    assert reason(tenant, "a@example.org") is None
    assert reason(tenant, "b@example.org") == SuppressionReason.SUPERSEDED


def test_an_opted_out_subscriber_passes_the_objection_to_its_new_address(tenant: Tenant) -> None:
    sub = create_subscriber(tenant, {"email": "out@example.org"})
    unsubscribe(sub)
    result = update_subscribers(tenant, {sub.pk: {"email": "out-new@example.org"}})
    assert result == {sub.pk: ["email"]}
    sub.refresh_from_db()
    assert sub.consent == ConsentState.OPTED_OUT
    assert reason(tenant, "out-new@example.org") == SuppressionReason.OPTED_OUT
    assert reason(tenant, "out@example.org") == SuppressionReason.OPTED_OUT  # stronger kept


def test_an_address_another_live_subscriber_still_has_is_not_suppressed(tenant: Tenant) -> None:
    first = create_subscriber(tenant, {"email": "shared@example.org"})
    create_subscriber(tenant, {"email": "shared@example.org"})
    update_subscriber(first, {"email": "mine@example.org"})
    assert reason(tenant, "shared@example.org") is None


def test_an_api_address_change_follows_the_subscriber(owner: object, tenant: Tenant) -> None:
    owner_api: APIClient = token_client(owner)
    sub = create_subscriber(tenant, {"email": "api-old@example.org"})
    unsubscribe(sub)
    base = "/api/v1/tenants/acme/subscribers/"
    response = owner_api.patch(
        f"{base}{sub.pk}/", {"values": {"email": "api-new@example.org"}}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "unsubscribed"
    again = owner_api.post(base, {"values": {"email": "api-new@example.org"}}, format="json")
    assert again.status_code == 400
