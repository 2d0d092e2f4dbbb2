"""Repeated failed log-ins lock the account for a while (django-axes)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_it_locks_out_after_repeated_failures(client: Client, owner: object, settings: object
                                              ) -> None:
    settings.AXES_ENABLED = True  # type: ignore[attr-defined]
    settings.AXES_FAILURE_LIMIT = 3  # type: ignore[attr-defined]
    for _ in range(3):
        client.post(reverse("login"), {"username": "owner@acme.example", "password": "wrong"})
    response = client.post(reverse("login"), {"username": "owner@acme.example",
                                              "password": "correct horse battery staple 42"})
    assert response.status_code == 429
    assert b"Too many failed log-ins" in response.content
