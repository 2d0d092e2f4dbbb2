"""Several application users (dynamics/lanes.py): the bulk path spreads over their budgets,
single calls stay on the primary user, a user that cannot sign in is taken out."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from dynamics import AppUser, DataverseClient, FakeClock, errors
from tests.dynamics.conftest import online_connection


def _extra(creds: Any, second_secret: str | None = None) -> tuple[AppUser, ...]:
    return (
        AppUser(creds.SECOND_CLIENT_ID, second_secret or creds.SECOND_CLIENT_SECRET),
        AppUser(creds.THIRD_CLIENT_ID, creds.THIRD_CLIENT_SECRET),
    )


def _contacts(n: int) -> list[dict[str, Any]]:
    return [{"contactid": str(uuid.uuid4()), "lastname": f"Lane {i}"} for i in range(n)]


def _charged_by_user(admin: Any) -> dict[str, int]:
    """Records the emulator charged per application user (its ledger: org/ws/user)."""
    charged = admin.session.get(f"{admin.base}/server-time", timeout=10).json()["charged"]
    per_user: dict[str, int] = {}
    for key, row in charged.items():
        user = key.split("/")[2]
        per_user[user] = per_user.get(user, 0) + int(row["records"])
    return {user: n for user, n in per_user.items() if n}


def test_bulk_work_spreads_over_three_users_and_single_calls_stay_on_the_primary(
    server: Any, creds: Any, clock: FakeClock, admin: Any
) -> None:
    admin.post("server-time", {"profile": "default", "sleep": False}).raise_for_status()
    connection = online_connection(server, creds, additional_users=_extra(creds))
    with DataverseClient(connection, clock=clock) as crm:
        me = crm.who_am_i()  # a single call: the primary user, and the first dop hint
        assert crm.parallel.ceiling == min(5, connection.concurrency) * 3
        results = crm.create_multiple("contacts", "contact", _contacts(900))
        assert all(r.ok for r in results)
        assert crm.who_am_i().user_id == me.user_id
        served = crm.log.by_app_user()
        whoami_users = {r.app_user for r in crm.log.records if r.entity_set == "WhoAmI"}
    assert whoami_users == {creds.CLIENT_ID}
    assert set(served) == {creds.CLIENT_ID, creds.SECOND_CLIENT_ID, creds.THIRD_CLIENT_ID}
    assert all(served[user] >= 2 for user in (creds.SECOND_CLIENT_ID, creds.THIRD_CLIENT_ID))
    # The emulator's own ledger: three callers shared the 900 creates.
    per_user = _charged_by_user(admin)
    assert len(per_user) == 3 and sum(per_user.values()) == 900
    assert me.user_id in per_user


def test_each_lane_renews_its_own_token_after_a_401(
    server: Any, creds: Any, clock: FakeClock, admin: Any
) -> None:
    connection = online_connection(server, creds, additional_users=_extra(creds))
    with DataverseClient(connection, clock=clock) as crm:
        crm.who_am_i()
        crm.create_multiple("contacts", "contact", _contacts(60))
        lanes = crm.transport.lanes.lanes
        # Each lane signs in at its first request (which lanes the three parallel requests
        # land on depends on thread timing: a lane that finished early may take another).
        before = [lane.auth.acquisitions for lane in lanes]  # type: ignore[attr-defined]
        assert max(before) == 1 and sum(before) >= 2
        admin.set_clock(3700)  # every token the emulator issued has expired
        results = crm.create_multiple("contacts", "contact", _contacts(60))
        assert all(r.ok for r in results)
        renewed = [lane.auth.acquisitions for lane in lanes]  # type: ignore[attr-defined]
        assert crm.transport.lanes.failures == {}
    # Only the lanes that met a 401 fetched a new token, each its own, once.
    assert all(after - first <= 1 for first, after in zip(before, renewed, strict=True))
    assert any(first == 1 and after == 2 for first, after in zip(before, renewed, strict=True))
    # Requests in flight on one lane may all meet the expired token; it is renewed once.
    assert sum(1 for r in crm.log.records if r.status == 401) >= renewed.count(2)


def test_an_extra_user_whose_secret_is_refused_is_taken_out_and_named(
    server: Any, creds: Any, clock: FakeClock, admin: Any
) -> None:
    admin.post("server-time", {"profile": "default", "sleep": False}).raise_for_status()
    connection = online_connection(
        server, creds, additional_users=_extra(creds, second_secret="revoked")
    )
    with DataverseClient(connection, clock=clock) as crm:
        crm.who_am_i()
        results = crm.create_multiple("contacts", "contact", _contacts(900))
        assert all(r.ok for r in results)  # the work went through the other two users
        failures = crm.transport.lanes.failures
        served = crm.log.by_app_user()
        ceiling = crm.parallel.ceiling
    assert list(failures) == [creds.SECOND_CLIENT_ID]
    failure = failures[creds.SECOND_CLIENT_ID]
    assert isinstance(failure, errors.AuthenticationFailed)
    assert failure.key == "secret_rejected"
    assert failure.params["application_user"] == creds.SECOND_CLIENT_ID
    assert "revoked" not in str(failure)
    assert set(served) == {creds.CLIENT_ID, creds.THIRD_CLIENT_ID, creds.SECOND_CLIENT_ID}
    # Only the token requests of its first wave, refused; nothing after it was taken out.
    assert 1 <= served[creds.SECOND_CLIENT_ID] <= connection.concurrency
    assert ceiling == min(5, connection.concurrency) * 2
    assert len(_charged_by_user(admin)) == 2


def test_a_refused_primary_user_is_still_the_connection_s_failure(
    server: Any, creds: Any, clock: FakeClock
) -> None:
    connection = online_connection(
        server, creds, client_secret="wrong", additional_users=_extra(creds)
    )
    with (
        DataverseClient(connection, clock=clock) as crm,
        pytest.raises(errors.AuthenticationFailed),
    ):
        crm.who_am_i()


def test_additional_users_are_online_only_and_distinct(server: Any, creds: Any) -> None:
    with pytest.raises(ValueError, match="own client id"):
        online_connection(server, creds, additional_users=(AppUser(creds.CLIENT_ID.upper(), "x"),))
    assert "secret" not in repr(AppUser("id", "very-secret"))
    assert "very-secret" not in repr(
        online_connection(server, creds, additional_users=(AppUser("id", "very-secret"),))
    )
