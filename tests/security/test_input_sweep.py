"""No input yields a 5xx, and bad input changes nothing: a sweep over every page of the
URLconf and every operation of the OpenAPI schema — not a hand-kept list — with
malformed, oversized, wrong-type and other-tenant input.

Pages answer below 500 whatever they are sent (an invalid form is shown again with its
errors, so 200 is fine there), and the database is unchanged afterwards. API operations
answer 4xx to a body of the wrong type or with every property of the wrong type, and to
another tenant's ids; the database is unchanged. The count of requests is printed (-s).
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from django.apps import apps
from django.contrib.auth.models import AbstractUser
from django.core.management import call_command
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.test import APIClient

from audience.campaigns import create_campaign
from audience.groups import add_members, create_group
from audience.models import SubscriberFieldOption
from audience.services import create_field, ensure_standard_fields
from audience.subscribers import create_subscriber
from businessunits.models import BusinessUnit
from syncjobs import runner
from syncjobs.models import SyncIssue
from tenants.models import Membership, Tenant
from tests.api.conftest import token_client
from tests.orgsettings.conftest import settings_post

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999999"
NUL = "bad\x00value"
BIG = "x" * 200_000
# Models whose rows a request may legitimately add: sessions, log-in throttling records.
VOLATILE = {"sessions", "axes", "admin"}


def db_state() -> dict[str, int]:
    return {m._meta.label: m._default_manager.count() for m in apps.get_models()
            if m._meta.app_label not in VOLATILE}


def routes() -> Iterator[tuple[str, str]]:
    def walk(patterns: list[Any], prefix: str) -> Iterator[tuple[str, str]]:
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                yield prefix + str(p.pattern), str(p.name)
    for route, name in walk(get_resolver().url_patterns, ""):
        if not route.startswith(("admin/", "api/", "i18n/")) and not route.startswith("^"):
            yield route, name


class Scene:
    """One object of each kind for ``tenant`` and for ``other``, so paths resolve."""

    def __init__(self, tenant: Tenant, other: Tenant, member: AbstractUser) -> None:
        self.ids: dict[str, dict[str, Any]] = {}
        for t in (tenant, other):
            ensure_standard_fields(t)
            group = create_group(t, f"G {t.slug}")
            sub = create_subscriber(t, {"email": f"s@{t.slug}.example"})
            add_members(group, [sub.pk])
            field = create_field(t, key=f"topic_{t.slug}", label_en="Topic", label_de="Thema",
                                 field_type="single_select")
            option = SubscriberFieldOption.objects.create(field=field, value="a",
                                                          label_en="A", label_de="A")
            unit = BusinessUnit.objects.create(tenant=t, name=f"U {t.slug}", is_default=True,
                                               owner_id=uuid.uuid4(), owner_name="O")
            run = runner.enqueue(t, "sync", params={"mode": "incremental"})
            issue = SyncIssue.objects.create(tenant=t, step="push", reason="r")
            campaign = create_campaign(t, f"C {t.slug}", recipients=1)
            self.ids[t.slug] = {
                "groups": group.pk, "subscribers": sub.pk, "members": sub.pk,
                "fields": field.pk, "subscriber-fields": field.pk, "options": option.pk,
                "business-units": unit.pk, "jobs": run.pk, "runs": run.pk,
                "issues": issue.pk, "sync-issues": issue.pk, "campaigns": campaign.pk,
                "mappings": 1, "crm-lists": uuid.uuid4(), "value": option.value,
                "entity": "contact",
            }
        self.ids[tenant.slug]["tenant-members"] = Membership.objects.get(
            tenant=tenant, user=member).pk
        # Ids beyond 64 bits everywhere a path takes one.
        self.ids["huge"] = {key: (value if key in ("entity", "value") else HUGE)
                            for key, value in self.ids[tenant.slug].items()}

    def path(self, route: str, slug: str, ids_of: str | None = None) -> str:
        """``route`` with its parameters filled; ids from ``ids_of`` (default: ``slug``)."""
        ids = self.ids[ids_of or slug]
        segments = route.split("/")
        out = []
        for i, segment in enumerate(segments):
            m = re.fullmatch(r"<(?:(\w+):)?(\w+)>", segment)
            if not m:
                out.append(segment)
                continue
            name = m.group(2)
            before = segments[i - 1] if i else ""
            if name == "tenant":
                out.append(slug)
            elif name in ("entity", "value"):
                out.append(str(ids[name]))
            elif before == "members" and route.startswith("t/<slug:tenant>/members"):
                out.append(str(self.ids[slug].get("tenant-members", HUGE)))
            elif name in ("unit_pk",):
                out.append(str(ids["business-units"]))
            elif name == "subscriber":
                out.append(str(ids["subscribers"]))
            elif name == "list_id":
                out.append(str(ids["crm-lists"]))
            else:
                out.append(str(ids.get(before, 1)))
        return "/" + "/".join(out)


GARBAGE_FORM = {
    name: NUL for name in (
        "name", "description", "email", "role", "key", "label_en", "label_de", "type",
        "value", "crm_url", "deployment", "authority_url", "client_id", "directory_tenant_id",
        "mode", "owner", "future_owner", "entity_type", "business_unit", "crm_attribute",
        "subscriber_field", "direction", "q", "status", "csv_text", "confirm", "password",
        "new_password1", "new_password2", "old_password", "username")
} | {"tenants": HUGE, "group": HUGE, "subscriber": HUGE, "pk": HUGE, "id": HUGE,
     "file": "not a file", "sync_interval_minutes": "-1e999"}
GARBAGE_QUERY = {"page": "abc", "before": HUGE, "size": "-5", "group": HUGE, "status": NUL,
                 "q": BIG[:5000], "kind": NUL, "state": NUL, "mapping": "abc", "id": HUGE,
                 "next": "https://evil.example/"}


def check_page(client: Client, path: str, problems: list[str], counter: list[int]) -> None:
    """A GET with garbage parameters, then POSTs with garbage forms. A page whose empty
    POST already changes the database is an action whose input is its path (remove a
    member, retry an issue): what it is sent besides cannot matter, so only 5xx count."""
    action = False
    for method, data in (
            ("get", GARBAGE_QUERY), ("post", {}), ("post", GARBAGE_FORM),
            ("post", {"name": BIG, "email": BIG, "crm_url": BIG}),
            ("post", settings_post(tenants=[HUGE], crm_url="http://[::1"))):
        before = db_state()
        response = getattr(client, method)(path, data)
        counter[0] += 1
        changed = db_state() != before
        if method == "post" and not data:
            action = changed
            continue
        if response.status_code >= 500:
            problems.append(f"{method.upper()} {path}: {response.status_code}")
        elif changed and not action:
            names = {k for k, v in db_state().items() if before.get(k) != v}
            problems.append(f"{method.upper()} {path}: database changed {sorted(names)}")


def wrong_typed(schema: dict[str, Any], components: dict[str, Any]) -> dict[str, Any]:
    """Every writable property of a request schema with a value of the wrong type."""
    if "$ref" in schema:
        schema = components[schema["$ref"].rsplit("/", 1)[1]]
    out: dict[str, Any] = {}
    for name, prop in (schema.get("properties") or {}).items():
        if prop.get("readOnly"):
            continue
        kind = prop.get("type")
        out[name] = {"string": {"not": "a string"}, "integer": "not a number",
                     "boolean": "maybe", "array": "not a list",
                     "object": ["not", "an", "object"]}.get(str(kind), [NUL, HUGE])
    return out


def api_operations() -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    import io
    out = io.StringIO()
    call_command("spectacular", "--format", "openapi-json", stdout=out)
    schema = yaml.safe_load(out.getvalue())
    components = schema["components"]["schemas"]
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            body = ((op.get("requestBody") or {}).get("content") or {}).get(
                "application/json", {}).get("schema", {})
            yield path, method, body, components


def api_path(path: str, scene: Scene, slug: str, ids_of: str | None = None) -> str:
    route = path.lstrip("/").replace("{tenant}", "<slug:tenant>")
    route = re.sub(r"\{(\w+)\}", lambda m: f"<int:{'pk' if m.group(1) == 'id' else m.group(1)}>",
                   route)
    return scene.path(route, slug, ids_of)


def test_every_page_and_api_operation_survives_bad_input_and_changes_nothing(
        tenant: Tenant, other_tenant: Tenant, owner: AbstractUser, member: AbstractUser,
        owner_client: Client, no_dispatch: list[int], capsys: pytest.CaptureFixture[str],
        ) -> None:
    scene = Scene(tenant, other_tenant, member)
    owner_client.raise_request_exception = False  # a 500 is a finding, not a crash here
    problems: list[str] = []
    counter = [0]
    pages = list(routes())
    for route, _name in pages:
        owner_client.force_login(owner)  # a page may have logged the client out
        check_page(owner_client, scene.path(route, tenant.slug), problems, counter)
        if "<slug:tenant>" in route:
            # Another tenant's slug, and this tenant's paths with the other tenant's ids.
            for path in (scene.path(route, other_tenant.slug),
                         scene.path(route, tenant.slug, ids_of=other_tenant.slug),
                         scene.path(route, tenant.slug, ids_of="huge")):
                owner_client.force_login(owner)
                before = db_state()
                for method in ("get", "post"):
                    response = getattr(owner_client, method)(path)
                    counter[0] += 1
                    if response.status_code >= 500:
                        problems.append(f"{method.upper()} {path}: {response.status_code}")
                if db_state() != before:
                    problems.append(f"{path} with another tenant's ids changed the database")
                if path.startswith(f"/t/{other_tenant.slug}/") and owner_client.get(
                        path).status_code not in (302, 404, 405):
                    problems.append(f"GET {path}: another tenant's page did not answer 404")
    operations = list(api_operations())
    for path, method, body, components in operations:
        api: APIClient = token_client(owner)  # a fresh token: an operation may end one
        api.raise_request_exception = False
        own = api_path(path, scene, tenant.slug)
        foreign_ids = api_path(path, scene, tenant.slug, ids_of=other_tenant.slug)
        foreign_slug = api_path(path, scene, other_tenant.slug)
        cases: list[tuple[str, Any, str]] = [(own, {"q": NUL, "page": "abc", "group": HUGE}
                                              if method == "get" else None, "query")]
        if method in ("post", "put", "patch") and wrong_typed(body, components):
            # Operations that take a body; those without one are actions on their path.
            cases += [(own, [1, 2, 3], "list body"), (own, "just a string", "string body"),
                      (own, wrong_typed(body, components), "wrong types"),
                      (own, {"name": BIG, "values": {"email": BIG}}, "oversized")]
        if "{" in path:
            cases.append((foreign_ids, None, "another tenant's ids"))
            cases.append((api_path(path, scene, tenant.slug, ids_of="huge"), None,
                          "another tenant's ids"))
        if "{tenant}" in path:
            cases.append((foreign_slug, None, "another tenant"))
        for url, data, what in cases:
            before = db_state()
            if method == "get":
                response = api.get(url, data)
            else:
                response = getattr(api, method)(url, data, format="json")
            counter[0] += 1
            status = response.status_code
            if status >= 500:
                problems.append(f"{method.upper()} {url} ({what}): {status}")
            elif what != "query" and not 400 <= status < 500 and not (
                    what in ("another tenant's ids",) and "{id}" not in path
                    and "{unit_pk}" not in path):
                problems.append(f"{method.upper()} {url} ({what}): {status}, not a 4xx")
            if db_state() != before and status < 300 and what == "query":
                continue  # a GET with odd filters may still be a valid read
            if db_state() != before:
                problems.append(f"{method.upper()} {url} ({what}): database changed")
    # The sweep ran as the owner throughout (a logged-out client would pass trivially).
    assert owner_client.get(f"/t/{tenant.slug}/subscribers/").status_code == 200
    assert token_client(owner).get(f"/api/v1/tenants/{tenant.slug}/groups/").status_code == 200
    with capsys.disabled():
        print(f"\ninput sweep: {len(pages)} pages and {len(operations)} API operations, "
              f"{counter[0]} requests")
    assert not problems, "\n".join(problems)
