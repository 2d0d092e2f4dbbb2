"""Password-reset requests: the same answer whether or not an account uses the address,
and a limit per address and per client IP (a small cache counter: django-axes throttles
log-ins only). Past the limit: 429 with a message, no email, never a 5xx."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AbstractUser
from django.core import mail
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db
URL = reverse("password_reset")


@pytest.fixture
def limits(settings: object) -> None:
    settings.PASSWORD_RESET_LIMIT_PER_ADDRESS = 2  # type: ignore[attr-defined]
    settings.PASSWORD_RESET_LIMIT_PER_IP = 4  # type: ignore[attr-defined]


def ask(email: str, ip: str = "203.0.113.7") -> object:
    return Client(REMOTE_ADDR=ip).post(URL, {"email": email})


def test_known_and_unknown_addresses_get_the_same_answer(owner: AbstractUser) -> None:
    known, unknown = ask("owner@acme.example"), ask("nobody@acme.example")
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    done = Client().get(known["Location"])
    assert b"If an account uses this address" in done.content
    assert [m.to for m in mail.outbox] == [["owner@acme.example"]]


@pytest.mark.usefixtures("limits")
@pytest.mark.parametrize("email", ["owner@acme.example", "nobody@acme.example"])
def test_the_limit_per_address_answers_alike_for_known_and_unknown(
        owner: AbstractUser, email: str) -> None:
    for ip in ("198.51.100.1", "198.51.100.2"):  # a new IP each time: the address counts
        assert ask(email, ip).status_code == 302
    sent = len(mail.outbox)
    limited = ask(email.upper(), "198.51.100.3")
    assert limited.status_code == 429
    assert b"Too many password reset requests" in limited.content
    assert len(mail.outbox) == sent  # nothing more was sent
    assert ask("someone.else@acme.example", "198.51.100.4").status_code == 302


@pytest.mark.usefixtures("limits")
def test_the_limit_per_ip(owner: AbstractUser) -> None:
    for n in range(4):
        assert ask(f"person{n}@acme.example").status_code == 302
    limited = ask("owner@acme.example")
    assert limited.status_code == 429 and not mail.outbox
    assert ask("owner@acme.example", ip="192.0.2.99").status_code == 302
    assert len(mail.outbox) == 1


@pytest.mark.usefixtures("limits")
def test_the_limited_page_is_translated(owner: AbstractUser) -> None:
    client = Client(REMOTE_ADDR="203.0.113.9")
    client.post(reverse("set_language"), {"language": "de"})
    for _ in range(2):
        client.post(URL, {"email": "owner@acme.example"})
    limited = client.post(URL, {"email": "owner@acme.example"})
    assert limited.status_code == 429
    assert "Zu viele Anfragen" in limited.content.decode()
