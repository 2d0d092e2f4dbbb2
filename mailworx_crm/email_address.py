"""The matching key of an email address: how S7/S9 compare subscribers with each other and
with CRM records, and how accounts are found by address. The one place this rule lives."""

from __future__ import annotations


def normalise_email(email: str) -> str:
    """Surrounding blanks dropped, lower-cased: ``" Ann@Example.org "`` → ``ann@example.org``."""
    return email.strip().lower()


def same_address(a: str, b: str) -> bool:
    return normalise_email(a) == normalise_email(b)
