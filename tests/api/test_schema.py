"""The served OpenAPI schema, and a schemathesis run against it in-process (WSGI): every
operation, called as the tenant's owner with generated data, never answers 5xx and never
answers against its own documented response schema."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.test import Client
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from mailworx_crm.wsgi import application
from tenants.accounts import issue_token
from tests.api.conftest import World

pytestmark = pytest.mark.django_db

# Examples and bounded fuzzing (5 per operation, derandomized). The coverage phase (every
# boundary case and unsupported method of every operation) takes minutes: MWX_SCHEMATHESIS_FULL=1
# turns it on.
FULL = os.environ.get("MWX_SCHEMATHESIS_FULL") == "1"
CONFIG = schemathesis.Config.from_dict({"phases": {"coverage": {"enabled": FULL}}})
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/?format=json", application,
                                        config=CONFIG)


def test_schema_and_docs_are_served(client: Client) -> None:
    response = client.get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    assert "/api/v1/tenants/{tenant}/subscribers/bulk-upsert/" in response.json()["paths"]
    docs = client.get("/api/v1/docs/")
    assert docs.status_code == 200 and b"/api/v1/schema/" in docs.content


def test_options_and_unsupported_methods_never_fail(client: Client, owner: Any,
                                                   world: World) -> None:
    paths = client.get("/api/v1/schema/?format=json").json()["paths"]
    client.force_login(owner)
    for template in paths:
        url = template.format(tenant="acme", slug="acme", id=1, unit_pk=world.unit.pk,
                              value="sport", subscriber_id=1)
        for method in ("options", "patch", "put", "delete", "post"):
            assert getattr(client, method)(url).status_code < 500, (method, url)


@pytest.fixture
def owner_headers(owner: Any, world: World) -> Iterator[dict[str, str]]:
    """The owner's token; the WSGI app runs inside the test's transaction, so (as Django's
    test client does) requests must not close the database connection. The owner is an
    operator (staff) too, so the ``operator/`` endpoints are exercised, not only refused."""
    owner.is_staff = True
    owner.save(update_fields=["is_staff"])
    _token, secret = issue_token(owner, name="schemathesis")
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield {"Authorization": f"Token {secret}"}
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=5, derandomize=True, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors(case: Any, owner_headers: dict[str, str]) -> None:
    if "tenant" in (case.path_parameters or {}):
        case.path_parameters["tenant"] = "acme"
    response = case.call(headers=owner_headers)
    case.validate_response(response, checks=[not_a_server_error,
                                             response_schema_conformance])
