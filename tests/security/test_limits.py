"""The documented limits, at both edges: bulk API calls take 10,000 items and 20 MB (above:
a JSON 413 naming the limit); CSV imports take 10 MB, and what previews also imports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from api.views.base import MAX_BULK_BYTES, MAX_BULK_ITEMS
from audience.csv_io import MAX_IMPORT_BYTES
from audience.groups import create_group
from audience.models import Subscriber
from tenants.models import Tenant
from tests.api.conftest import token_client

pytestmark = pytest.mark.django_db


def padded(body: dict[str, Any], size: int) -> bytes:
    """``body`` as JSON, padded with whitespace to exactly ``size`` bytes."""
    raw = json.dumps(body).encode()
    return raw + b" " * (size - len(raw))


def test_a_bulk_body_of_exactly_20_mb_is_taken_and_one_byte_more_is_a_json_413(
        owner: Any, tenant: Tenant) -> None:
    owner_api = token_client(owner)
    url = f"/api/v1/tenants/{tenant.slug}/subscribers/bulk-upsert/"
    items = [{"email": f"edge{i}@example.org", "first_name": "x" * 50} for i in range(200)]
    body = {"items": items}
    at_limit = owner_api.generic("POST", url, padded(body, MAX_BULK_BYTES),
                                 content_type="application/json")
    assert at_limit.status_code == 200, at_limit.content[:300]
    assert Subscriber.objects.filter(tenant=tenant).count() == 200
    above = owner_api.generic("POST", url, padded(body, MAX_BULK_BYTES + 1),
                              content_type="application/json")
    assert above.status_code == 413
    assert above["Content-Type"].startswith("application/json")
    assert "20971520" in above.json()["detail"] or "20 MB" in above.json()["detail"]


def test_a_3_6_mb_bulk_upsert_is_parsed_not_refused(owner: Any, tenant: Tenant) -> None:
    owner_api = token_client(owner)
    items = [{"email": f"mid{i}@example.org", "first_name": "y" * 100} for i in range(500)]
    raw = padded({"items": items, "dry_run": True}, 3_600_000)
    assert 3_000_000 < len(raw) < MAX_BULK_BYTES
    response = owner_api.generic("POST", f"/api/v1/tenants/{tenant.slug}/subscribers/"
                                 "bulk-upsert/", raw, content_type="application/json")
    assert response.status_code == 200, response.content[:300]


def test_10000_items_are_taken_and_10001_are_a_413(owner: Any, tenant: Tenant) -> None:
    owner_api = token_client(owner)
    url = f"/api/v1/tenants/{tenant.slug}/subscribers/bulk-upsert/"
    items = [{"email": f"n{i}@example.org"} for i in range(MAX_BULK_ITEMS + 1)]
    assert owner_api.post(url, {"items": items[:-1], "dry_run": True},
                          format="json").status_code == 200
    response = owner_api.post(url, {"items": items, "dry_run": True}, format="json")
    assert response.status_code == 413 and "10000" in response.json()["detail"].replace(
        ",", "")


def test_any_api_body_too_large_to_parse_is_a_json_413(owner: Any, tenant: Tenant) -> None:
    owner_api = token_client(owner)
    response = owner_api.generic("POST", f"/api/v1/tenants/{tenant.slug}/groups/",
                                 padded({"name": "big"}, MAX_BULK_BYTES + 128 * 1024),
                                 content_type="application/json")
    assert response.status_code == 413
    assert response["Content-Type"].startswith("application/json")


def csv_of(size: int, rows: int = 500) -> bytes:
    """A CSV of exactly ``size`` bytes: ``rows`` subscribers, then blank lines (which the
    import skips), so the size is real without a slow import of millions of rows."""
    data = b"email;first_name\n" + b"".join(
        f"user{n}@import.example;Name{n}\n".encode() for n in range(rows))
    return data + b"\n" * (size - len(data))


def test_a_4_4_mb_csv_previews_and_imports(owner_client: Client, tenant: Tenant) -> None:
    group = create_group(tenant, "Big import")
    url = reverse("audience_data:group_import", kwargs={"tenant": tenant.slug, "pk": group.pk})
    data = csv_of(4_400_000)
    preview = owner_client.post(url, {"file": SimpleUploadedFile("big.csv", data)})
    assert preview.status_code == 200
    text = preview.content.decode()
    assert "Confirm import" in text and "Nothing was imported" not in text
    assert len(preview.content) < 200_000  # the file is not sent back to the browser
    confirm = owner_client.post(url, {"import_id": preview.context["pending"].pk})
    assert confirm.status_code == 302
    assert group.memberships.count() == data.count(b"@import.example")


def test_the_csv_limit_takes_10_mb_and_refuses_one_byte_more(
        owner_client: Client, tenant: Tenant) -> None:
    group = create_group(tenant, "Edge import")
    url = reverse("audience_data:group_import", kwargs={"tenant": tenant.slug, "pk": group.pk})
    at_limit = owner_client.post(url, {"file": SimpleUploadedFile(
        "edge.csv", csv_of(MAX_IMPORT_BYTES))})
    assert at_limit.status_code == 200 and "Confirm import" in at_limit.content.decode()
    above = owner_client.post(url, {"file": SimpleUploadedFile(
        "edge.csv", csv_of(MAX_IMPORT_BYTES + 1))})
    assert above.status_code == 200
    assert "larger than 10 MB" in above.content.decode()
    assert "Confirm import" not in above.content.decode()
