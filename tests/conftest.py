"""Shared fixtures: the owner / member / outsider personas (every tenant-scoped view gets
an outsider test).

- ``tenant``: the tenant under test; ``other_tenant``: someone else's.
- ``owner``: administrator of ``tenant``; ``member``: role *user* in ``tenant``;
  ``outsider``: administrator of ``other_tenant`` only.
- ``owner_client`` / ``member_client`` / ``outsider_client``: logged-in Django test clients.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.test import Client

from syncjobs import runner
from tenants.models import Membership, Role, Tenant
from tests.crm_fixtures import crm, emulator  # noqa: F401  (the CRM: Dataverse emulator)
from tests.outbound_fixtures import (  # noqa: F401  (SPEC N8)
    connect_spy,
    fake_dns,
    listener,
    made_up_names_resolve,
)

PASSWORD = "correct horse battery staple 42"
ROOT = Path(__file__).resolve().parent.parent
# SPEC N8 (docs/security.md): the suite's CRM is the emulator on loopback, which only an
# operator's allowlist lets through, as in the demo. (Made-up host names: see
# ``made_up_names_resolve`` in tests/outbound_fixtures.py.)
TEST_ALLOWED_NETWORKS = ["127.0.0.0/8", "::1/128"]


@pytest.fixture(autouse=True)
def _fresh_cache() -> None:
    """Each test starts with an empty cache: rate limits count per test, not per worker."""
    from django.core.cache import cache

    cache.clear()


def pytest_configure(config: pytest.Config) -> None:
    """Compile the UI catalogues (.po → .mo) that are missing or older than their .po, so
    a plain `pytest` tests the German pages without `make install` first. Under
    pytest-xdist the controller does it before it starts the workers, which then find
    the catalogues up to date; the script writes each .mo atomically in any case."""
    # For this process (settings are loaded already) and for the worker processes the
    # tests start (tests/worker_fixtures.py passes the environment on).
    os.environ["CRM_ALLOWED_NETWORKS"] = ",".join(TEST_ALLOWED_NETWORKS)
    from django.conf import settings

    settings.CRM_ALLOWED_NETWORKS = list(TEST_ALLOWED_NETWORKS)
    spec = importlib.util.spec_from_file_location(
        "compile_messages", ROOT / "scripts" / "compile_messages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.compile_all(ROOT)


@pytest.fixture(autouse=True)
def _english_and_fast(settings: object) -> None:
    settings.LANGUAGE_CODE = "en"  # type: ignore[attr-defined]
    settings.PASSWORD_HASHERS = [  # type: ignore[attr-defined]
        "django.contrib.auth.hashers.MD5PasswordHasher"
    ]
    settings.AXES_ENABLED = False  # type: ignore[attr-defined]


@pytest.fixture
def make_user(db: None) -> Callable[..., AbstractUser]:
    def make(email: str) -> AbstractUser:
        return get_user_model().objects.create_user(  # type: ignore[return-value]
            username=email, email=email, password=PASSWORD
        )

    return make


@pytest.fixture
def tenant(db: None) -> Tenant:
    return Tenant.objects.create(name="Acme Newsletter", slug="acme")


@pytest.fixture
def other_tenant(db: None) -> Tenant:
    return Tenant.objects.create(name="Globex Mailings", slug="globex")


@pytest.fixture
def owner(make_user: Callable[..., AbstractUser], tenant: Tenant) -> AbstractUser:
    user = make_user("owner@acme.example")
    Membership.objects.create(user=user, tenant=tenant, role=Role.ADMINISTRATOR)
    return user


@pytest.fixture
def member(make_user: Callable[..., AbstractUser], tenant: Tenant) -> AbstractUser:
    user = make_user("member@acme.example")
    Membership.objects.create(user=user, tenant=tenant, role=Role.USER)
    return user


@pytest.fixture
def outsider(make_user: Callable[..., AbstractUser], other_tenant: Tenant) -> AbstractUser:
    user = make_user("outsider@globex.example")
    Membership.objects.create(user=user, tenant=other_tenant, role=Role.ADMINISTRATOR)
    return user


def _client_for(user: AbstractUser) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def owner_client(owner: AbstractUser) -> Client:
    return _client_for(owner)


@pytest.fixture
def member_client(member: AbstractUser) -> Client:
    return _client_for(member)


@pytest.fixture
def outsider_client(outsider: AbstractUser) -> Client:
    return _client_for(outsider)


@pytest.fixture
def no_dispatch(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Record enqueued run ids instead of sending them to the broker; the test runs them
    with ``runner.execute(run_id)``."""
    sent: list[int] = []
    monkeypatch.setattr(runner, "dispatch", sent.append)
    return sent
