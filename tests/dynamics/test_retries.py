"""The retry policy against injected faults in the emulator (real HTTPS, fake client clock)."""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from dynamics import DataverseClient, FakeClock, errors
from dynamics.auth import BearerToken
from dynamics.transport import BACKOFF_BASE_S
from tests.dynamics.conftest import online_connection, onprem_connection


def _fail_next(admin: Any, status: int, count: int, retry_after: float = 0,
               path: str = "/contoso/api/data/v9\\.2/WhoAmI", method: str = "*") -> None:
    admin.post("faults", {"fail_next": [{"method": method, "path": path, "count": count,
                                         "status": status,
                                         "retry_after": retry_after}]}).raise_for_status()


def _faults(admin: Any) -> dict[str, Any]:
    return dict(admin.session.get(f"{admin.base}/faults", timeout=10).json())


@pytest.fixture
def warm(crm: DataverseClient, admin: Any) -> Iterator[DataverseClient]:
    """A client that has its token already, with empty log and counters."""
    crm.who_am_i()
    crm.log.clear()
    admin.session.post(f"{admin.base}/counters/reset", timeout=10).raise_for_status()
    yield crm


def test_429_waits_for_retry_after_then_succeeds(warm: DataverseClient, admin: Any,
                                                 clock: FakeClock) -> None:
    _fail_next(admin, 429, 3, retry_after=2)
    me = warm.who_am_i()
    assert len(me.user_id) == 36
    assert clock.sleeps == [2.0, 2.0, 2.0]
    # Injected faults are answered before the request counter; together N + 1 requests.
    assert _faults(admin)["injected"] == {"fail_next 429": 3}
    assert admin.count("contoso GET WhoAmI") == 1
    totals = warm.log.totals()
    assert (totals.round_trips, totals.throttled, totals.retries) == (4, 3, 3)
    assert totals.operations == 1 and totals.wait_seconds == 6.0
    assert [r.status for r in warm.log.records] == [429, 429, 429, 200]


def test_503_honours_retry_after_then_succeeds(warm: DataverseClient, admin: Any,
                                               clock: FakeClock) -> None:
    _fail_next(admin, 503, 2, retry_after=3)
    warm.who_am_i()
    assert clock.sleeps == [3.0, 3.0]
    assert [r.status for r in warm.log.records] == [503, 503, 200]
    assert warm.log.totals().throttled == 0 and warm.log.totals().retries == 2


def test_dropped_connections_are_retried_with_jittered_backoff(
        server: Any, creds: Any, admin: Any) -> None:
    clock = FakeClock()
    with DataverseClient(online_connection(server, creds, max_retries=4), clock=clock,
                         rng=random.Random(7)) as crm:
        crm.who_am_i()
        crm.log.clear()
        _fail_next(admin, 0, 3)  # status 0: close the socket without an answer
        crm.who_am_i()
    assert len(clock.sleeps) == 3
    for attempt, wait in enumerate(clock.sleeps):
        full = BACKOFF_BASE_S * 2 ** attempt
        assert full * 0.5 <= wait <= full
    assert [r.status for r in crm.log.records] == [None, None, None, 200]
    assert _faults(admin)["injected"] == {"fail_next 0": 3}


def test_retries_are_bounded(warm: DataverseClient, admin: Any, clock: FakeClock) -> None:
    max_retries = warm.transport.connection.max_retries
    _fail_next(admin, 503, 10, retry_after=1)
    with pytest.raises(errors.RetriesExhausted) as exc:
        warm.who_am_i()
    assert isinstance(exc.value, errors.PermanentError)
    assert exc.value.attempts == max_retries + 1
    assert isinstance(exc.value.last_error, errors.ServiceUnavailable)
    assert exc.value.status == 503
    assert _faults(admin)["injected"] == {"fail_next 503": max_retries + 1}
    assert len(warm.log.records) == max_retries + 1
    assert clock.sleeps == [1.0] * max_retries


def test_backoff_waits_are_capped_by_max_wait(server: Any, creds: Any, admin: Any) -> None:
    clock = FakeClock()
    with DataverseClient(online_connection(server, creds, max_retries=6, max_wait=3),
                         clock=clock) as crm:
        crm.who_am_i()
        _fail_next(admin, 0, 6)
        crm.who_am_i()
    assert len(clock.sleeps) == 6 and max(clock.sleeps) <= 3


def test_404_is_never_retried(warm: DataverseClient, clock: FakeClock) -> None:
    with pytest.raises(errors.NotFound):
        warm.get("contacts", "00000000-0000-0000-0000-00000000abcd")
    assert len(warm.log.records) == 1 and clock.sleeps == []


def test_retry_after_longer_than_max_wait_raises_throttled_at_once(
        warm: DataverseClient, admin: Any, clock: FakeClock) -> None:
    assert warm.transport.connection.max_wait == 60
    _fail_next(admin, 429, 1, retry_after=120)
    with pytest.raises(errors.Throttled) as exc:
        warm.who_am_i()
    assert exc.value.retry_after == 120
    assert clock.sleeps == [] and len(warm.log.records) == 1
    assert warm.log.totals().throttled == 1
    warm.who_am_i()  # the fault was used up: the next call goes through


def test_a_real_service_protection_limit_ends_in_retries_exhausted(
        warm: DataverseClient, admin: Any, clock: FakeClock) -> None:
    # A real limit (not an injected fault): the warm-up call already used the one request
    # this window allows; Retry-After fixed at 0 (the window does not move on the fake clock).
    admin.post("limits", {"requests": 1, "window_seconds": 300,
                          "retry_after": 0}).raise_for_status()
    with pytest.raises(errors.RetriesExhausted) as exc:
        warm.who_am_i()
    assert isinstance(exc.value.last_error, errors.Throttled)
    assert exc.value.last_error.code == "0x80072322"
    attempts = warm.transport.connection.max_retries + 1
    assert warm.log.totals().throttled == attempts and clock.sleeps == [0.0] * (attempts - 1)
    admin.post("limits", {"enabled": False}).raise_for_status()
    warm.who_am_i()


def test_an_expired_token_is_fetched_anew_once(warm: DataverseClient, admin: Any,
                                               clock: FakeClock) -> None:
    auth = warm.transport.auth
    assert isinstance(auth, BearerToken) and auth.acquisitions == 1
    admin.set_clock(3700)  # past the emulator's 3600 s token lifetime; msal still trusts it
    warm.who_am_i()
    assert auth.acquisitions == 2
    assert [r.status for r in warm.log.records] == [401, 200]
    assert clock.sleeps == []
    warm.who_am_i()
    assert auth.acquisitions == 2  # the new token is cached again
    # The refused attempt never passed authentication, so the emulator counted two.
    assert admin.count("contoso GET WhoAmI") == 2


def test_a_401_with_a_fresh_token_is_not_retried_forever(warm: DataverseClient,
                                                         admin: Any) -> None:
    _fail_next(admin, 401, 5)
    with pytest.raises(errors.AuthenticationFailed):
        warm.who_am_i()
    assert len(warm.log.records) == 2  # the first 401 refetches the token once
    assert _faults(admin)["injected"] == {"fail_next 401": 2}


def test_ntlm_dropped_connections_are_retried(server: Any, creds: Any, admin: Any) -> None:
    clock = FakeClock()
    with DataverseClient(onprem_connection(server, creds), clock=clock) as crm:
        crm.who_am_i()
        crm.log.clear()
        _fail_next(admin, 0, 2, path="/fabrikam/api/data/v8\\.2/WhoAmI")
        me = crm.who_am_i()  # a new connection means a new NTLM handshake
    assert len(me.user_id) == 36 and len(clock.sleeps) == 2
    assert [r.status for r in crm.log.records] == [None, None, 200]


def test_a_slow_answer_within_the_timeout_is_not_retried(warm: DataverseClient, admin: Any,
                                                         clock: FakeClock) -> None:
    admin.post("faults", {"rules": [{"method": "GET", "path": "WhoAmI", "pslow": 1.0,
                                     "slow_ms": 400}]}).raise_for_status()
    started = time.monotonic()
    warm.who_am_i()
    assert time.monotonic() - started >= 0.4
    assert clock.sleeps == [] and len(warm.log.records) == 1
    assert _faults(admin)["injected"] == {"slow": 1}


class _ClearFaultsClock(FakeClock):
    """Fake waits, but the first wait clears the faults and lets the server finish the
    request the client stopped waiting for (as a slow real server would)."""

    def __init__(self, admin: Any, settle: float) -> None:
        super().__init__()
        self.admin, self.settle = admin, settle

    def sleep(self, seconds: float) -> None:
        super().sleep(seconds)
        self.admin.post("faults/reset").raise_for_status()
        time.sleep(self.settle)


def test_a_slow_answer_times_out_and_is_retried(server: Any, creds: Any, admin: Any) -> None:
    clock = _ClearFaultsClock(admin, settle=0)
    with DataverseClient(online_connection(server, creds, read_timeout=0.5), clock=clock) as crm:
        crm.who_am_i()
        crm.log.clear()
        admin.post("faults", {"rules": [{"method": "GET", "path": "WhoAmI", "pslow": 1.0,
                                         "slow_ms": 1500}]}).raise_for_status()
        crm.who_am_i()
    assert len(clock.sleeps) == 1
    assert [r.status for r in crm.log.records] == [None, 200]


def test_a_timed_out_create_multiple_that_the_server_finished_counts_as_created(
        server: Any, creds: Any, admin: Any) -> None:
    # Client fix: the retry meets the records the first attempt made (412); the $batch
    # fallback's create-only PATCHes answer 412 too, which means "already created".
    clock = _ClearFaultsClock(admin, settle=1.5)
    records = [{"contactid": str(uuid.uuid4()), "lastname": f"Slow {i}"} for i in range(3)]
    with DataverseClient(online_connection(server, creds, read_timeout=0.5), clock=clock) as crm:
        assert crm.supports_bulk("contact")
        admin.post("faults", {"rules": [{"method": "POST", "path": "CreateMultiple",
                                         "pslow": 1.0, "slow_ms": 1000}]}).raise_for_status()
        results = crm.create_multiple("contacts", "contact", records)
        assert [(r.ok, r.entity_id) for r in results] == [
            (True, r["contactid"]) for r in records]
        found = list(crm.lookup_in("contacts", "lastname", [r["lastname"] for r in records],
                                   select=["contactid"]))
    assert sorted(f["contactid"] for f in found) == sorted(r["contactid"] for r in records)


def test_an_exhausted_bulk_message_is_not_repeated_through_batch(
        warm: DataverseClient, admin: Any, clock: FakeClock) -> None:
    # Client fix: RetriesExhausted is permanent, but not the records' fault; the $batch
    # fallback would send the same work again to a server that keeps failing.
    assert warm.supports_bulk("contact")
    _fail_next(admin, 503, 10, path="CreateMultiple", method="POST")
    records = [{"contactid": str(uuid.uuid4()), "lastname": f"Busy {i}"} for i in range(3)]
    with pytest.raises(errors.RetriesExhausted):
        warm.create_multiple("contacts", "contact", records)
    assert admin.count("$batch") == 0
    assert len(clock.sleeps) == warm.transport.connection.max_retries


@pytest.mark.parametrize(("status", "error"), [(429, errors.Throttled),
                                               (503, errors.ServiceUnavailable)])
def test_a_busy_sign_in_service_is_retried(server: Any, creds: Any, admin: Any, status: int,
                                           error: type[errors.DynamicsError]) -> None:
    # Client fix: msal raised MsalServiceError for a 503 (escaping the client's errors) and
    # a 429 became a permanent AuthenticationFailed.
    clock = FakeClock()
    _fail_next(admin, status, 2, retry_after=4, path="oauth2/v2.0/token", method="POST")
    with DataverseClient(online_connection(server, creds), clock=clock) as crm:
        crm.who_am_i()
        assert clock.sleeps == [4.0, 4.0]
        assert [r.status for r in crm.log.records] == [None, None, 200]
        assert crm.log.totals().throttled == (2 if status == 429 else 0)
        _fail_next(admin, status, 10, retry_after=1, path="oauth2/v2.0/token", method="POST")
        crm.transport.auth.invalidate()  # type: ignore[attr-defined]
        with pytest.raises(errors.RetriesExhausted) as exc:
            crm.who_am_i()
    assert isinstance(exc.value.last_error, error)
    assert exc.value.attempts == crm.transport.connection.max_retries + 1


def test_wrong_client_secret_is_still_permanent(server: Any, creds: Any) -> None:
    clock = FakeClock()
    with DataverseClient(online_connection(server, creds, client_secret="wrong"),
                         clock=clock) as crm, pytest.raises(errors.AuthenticationFailed):
        crm.who_am_i()
    assert clock.sleeps == [] and len(crm.log.records) == 1


def test_a_real_limit_with_a_long_retry_after_is_handed_back(
        warm: DataverseClient, admin: Any, clock: FakeClock) -> None:
    # Computed Retry-After (the rest of the 300 s window) exceeds max_wait (60 s).
    admin.post("limits", {"requests": 1, "window_seconds": 300}).raise_for_status()
    with pytest.raises(errors.Throttled) as exc:
        warm.who_am_i()
    assert exc.value.code == "0x80072322"
    assert exc.value.retry_after is not None and 60 < exc.value.retry_after <= 300
    assert clock.sleeps == [] and len(warm.log.records) == 1


def test_an_expired_token_during_a_batch_is_renewed(warm: DataverseClient, admin: Any) -> None:
    from dynamics import BatchOperation

    admin.set_clock(3700)
    results = warm.batch([BatchOperation("GET", "WhoAmI")])
    assert results[0].ok and "UserId" in results[0].body
    assert [r.status for r in warm.log.records] == [401, 200]
    assert warm.transport.auth.acquisitions == 2  # type: ignore[attr-defined]


def test_a_sync_under_random_faults_loses_and_duplicates_nothing(
        server: Any, creds: Any, admin: Any) -> None:
    clock = FakeClock()
    with DataverseClient(online_connection(server, creds, max_retries=12), clock=clock,
                         rng=random.Random(3)) as crm:
        crm.who_am_i()
        admin.post("faults", {"seed": 11, "rules": [{
            "method": "*", "path": "/contoso/api/data/", "p429": 0.15, "p503": 0.1,
            "pdrop": 0.1, "retry_after": 0}]}).raise_for_status()
        ids = [r["contactid"] for r in crm.query("contacts", select=["contactid"],
                                                 page_size=40, orderby="contactid")]
        assert len(ids) == len(set(ids)) == 300
        records = [{"contactid": str(uuid.uuid4()), "lastname": f"Chaos {i}"}
                   for i in range(600)]
        start = crm.track_changes("contacts", ["lastname"], page_size=100)
        results = crm.create_multiple("contacts", "contact", records)
        assert all(r.ok for r in results) and len(results) == 600
        delta = crm.track_changes("contacts", ["lastname"], delta_link=start.delta_link)
        assert sorted(r["contactid"] for r in delta.rows) == sorted(
            r["contactid"] for r in records)
        injected = _faults(admin)["injected"]
        assert injected.get("429", 0) and injected.get("503", 0) and injected.get("drop", 0)
        totals = crm.log.totals()
        assert totals.throttled == injected["429"]
        assert totals.retries == sum(injected.values())


def test_a_throttled_batch_is_sent_again_whole(warm: DataverseClient, admin: Any,
                                               clock: FakeClock) -> None:
    from dynamics import BatchOperation

    _fail_next(admin, 429, 2, retry_after=5, path="\\$batch", method="POST")
    ops = [BatchOperation("GET", "WhoAmI"), BatchOperation("GET", "contacts?$top=1")]
    results = warm.batch(ops)
    assert all(r.ok for r in results)
    assert clock.sleeps == [5.0, 5.0]
    totals = warm.log.totals()
    assert (totals.round_trips, totals.throttled, totals.operations) == (3, 2, 2)
    assert admin.count("contoso POST $batch") == 1
