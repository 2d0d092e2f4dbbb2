"""The integration check's step per additional application user (orgsettings.app_users).

Each user signs in on its own (WhoAmI) and must hold the privileges the connector needs,
like the connection's own user. A user whose secret is bound to other settings is not
signed in at all: its secret is never sent where it was not entered for. A failing user
fails the check, so the administrator sees it, and the engine does not use it.
"""

from __future__ import annotations

from dataclasses import replace

from django.utils.translation import gettext_noop

from dynamics import Connection, DataverseClient
from dynamics.errors import DynamicsError
from mailworx_crm.crm_errors import describe
from mailworx_crm.texts import StoredText, stored_plural, stored_text
from orgsettings import solution
from orgsettings.models import AdditionalAppUser
from orgsettings.transaction_guard import TransactionGuard

TITLE = gettext_noop("Additional application user")
Outcome = tuple[bool, StoredText, StoredText | str]


def step_key(user: AdditionalAppUser) -> str:
    return f"app_user_{user.pk}"


def check_app_user(connection: Connection, user: AdditionalAppUser, sendable: bool) -> Outcome:
    """(passed, message, hint) for one user; ``connection`` is the main one."""
    client_id = user.client_id
    not_used = stored_text("Syncs do not use this user until a check signs in as it.")
    if not sendable:
        return (
            False,
            stored_text(
                "%(client_id)s: its secret was entered for another CRM URL, sign-in authority or "
                "directory (tenant) id, so it is not sent. Enter the secret again in the "
                "organisation settings.",
                client_id=client_id,
            ),
            not_used,
        )
    own = replace(
        connection, client_id=client_id, client_secret=user.client_secret, additional_users=()
    )
    try:
        with DataverseClient(own, before_send=TransactionGuard()) as client:
            who = client.who_am_i()
            held = {p.name for p in client.user_privileges(who.user_id)}
    except DynamicsError as exc:
        return (
            False,
            stored_text(
                "%(client_id)s cannot be used: %(reason)s",
                client_id=client_id,
                reason=describe(exc),
            ),
            not_used,
        )
    missing = [p for p in solution.REQUIRED_PRIVILEGES if p not in held]
    if missing:
        shown = ", ".join(missing[:12]) + (" …" if len(missing) > 12 else "")
        return (
            False,
            stored_plural(
                "%(client_id)s signed in but lacks %(n)s privilege: %(list)s.",
                "%(client_id)s signed in but lacks %(n)s privileges: %(list)s.",
                len(missing),
                client_id=client_id,
                list=shown,
            ),
            stored_text(
                "Give its application user in the CRM the same security role as the "
                "connection's user."
            ),
        )
    return (
        True,
        stored_text(
            "%(client_id)s signed in and has the privileges the connector needs: syncs spread "
            "their bulk work over it too.",
            client_id=client_id,
        ),
        "",
    )
