"""The parallel executor (dynamics/parallel.py): pacing, order, errors, and the bulk path's
missing affinity cookie. The pacing is asserted on the executor's degree history, never on
time."""

from __future__ import annotations

import math
import threading
import uuid
from typing import Any

import pytest

from dynamics import DataverseClient, FakeClock
from dynamics.parallel import DegreeChange, ParallelExecutor, Signals, on_bulk_path
from tests.dynamics.conftest import online_connection


def _executor(hint: int | None, maximum: int, grow_after: int = 2) -> ParallelExecutor:
    signals = Signals()
    if hint is not None:
        signals.hint_seen(hint)
    return ParallelExecutor(signals, maximum, grow_after=grow_after)


def test_starts_at_the_smaller_of_hint_and_maximum_and_runs_alone_without_a_hint() -> None:
    assert _executor(5, 8).degree == 5
    assert _executor(48, 8).degree == 8
    alone = _executor(None, 8)  # on-premise: no dop hint, one request at a time
    threads = alone.run([threading.get_ident for _ in range(4)])
    assert set(threads) == {threading.get_ident()}
    assert alone.history == [DegreeChange("start", 1)]


def test_halves_once_per_wave_of_429s_then_grows_back_to_the_ceiling_and_no_further() -> None:
    executor = _executor(4, 8, grow_after=2)
    signals = executor.signals
    barrier = threading.Barrier(4)

    def throttled() -> str:
        barrier.wait(timeout=10)  # all four are in flight before any meets its 429
        signals.pressure_seen()
        return "throttled"

    results = executor.run([throttled] * 4 + [lambda: "ok"] * 20)
    assert results == ["throttled"] * 4 + ["ok"] * 20
    reasons = [(c.reason, c.degree) for c in executor.history]
    # Four requests of one wave cut once: 4 → 2, not 4 → 2 → 1 → 1 → 1.
    assert reasons[:2] == [("start", 4), ("pressure", 2)]
    assert reasons[2:] == [("healthy", 3), ("healthy", 4)]
    assert executor.degree == 4
    assert max(c.degree for c in executor.history) == 4  # never above the hint


def test_a_lower_hint_lowers_the_degree_and_a_later_429_cuts_again() -> None:
    executor = _executor(6, 8, grow_after=100)
    assert executor.degree == 6
    executor.signals.hint_seen(3)
    assert executor.degree == 3
    executor.signals.pressure_seen()  # outside any run: a cut of its own
    assert [(c.reason, c.degree) for c in executor.history] == [
        ("start", 6), ("ceiling", 3), ("pressure", 1)]


def test_results_in_input_order_and_thunks_run_on_the_bulk_path() -> None:
    executor = _executor(5, 8)
    seen: list[bool] = []
    lock = threading.Lock()

    def work(i: int) -> int:
        with lock:
            seen.append(on_bulk_path())
        return i * i

    assert executor.run([lambda i=i: work(i) for i in range(50)]) == [i * i for i in range(50)]
    assert seen == [True] * 50
    assert not on_bulk_path()  # only inside the executor


def test_an_error_waits_for_the_work_in_flight_and_starts_nothing_new() -> None:
    executor = _executor(2, 2, grow_after=100)
    in_flight = threading.Event()
    finished: list[int] = []

    def slow() -> int:
        in_flight.wait(timeout=10)
        finished.append(0)
        return 0

    def broken() -> int:
        in_flight.set()  # the first call is still running when this one fails
        raise RuntimeError("permanent")

    def later(i: int) -> int:
        finished.append(i)
        return i

    with pytest.raises(RuntimeError, match="permanent"):
        executor.run([slow, broken, *[lambda i=i: later(i) for i in range(2, 12)]])
    assert 0 in finished  # the call in flight completed before the error came out
    assert len(finished) < 11  # nothing was started after the error was seen


# -- against the emulator: several web servers, the affinity cookie -----------------------


def test_bulk_requests_carry_no_affinity_cookie_and_spread_over_the_web_servers(
        server: Any, creds: Any, clock: FakeClock, admin: Any) -> None:
    # Four web servers; server time charged to the ledger per server but not slept.
    admin.post("server-time", {"profile": "default", "sleep": False,
                               "web_servers": 4}).raise_for_status()
    with DataverseClient(online_connection(server, creds), clock=clock) as crm:
        for _ in range(3):
            crm.who_am_i()  # single calls keep the cookie: one server
        records = [{"contactid": str(uuid.uuid4()), "lastname": f"Spread {i}"}
                   for i in range(800)]
        results = crm.create_multiple("contacts", "contact", records)
        assert all(r.ok for r in results)
        assert "ARRAffinity" in crm.transport.session.cookies
        assert not crm.transport.bulk_session.cookies  # the bulk path keeps none
    charged = admin.session.get(f"{admin.base}/server-time", timeout=10).json()["charged"]
    records_per_server = {key.split("/")[1]: row["records"] for key, row in charged.items()
                          if row["records"]}
    # 800 creates as five parallel requests over four servers: each server took a share.
    assert sorted(records_per_server) == ["ws0", "ws1", "ws2", "ws3"]
    assert sum(records_per_server.values()) == 800


_thread_time = threading.local()


def _thread_clock() -> float:
    """A clock per thread: a thunk 'takes' the seconds it adds (no wall time in tests)."""
    return float(getattr(_thread_time, "now", 0.0))


def _takes(seconds: float) -> Any:
    def thunk() -> float:
        _thread_time.now = _thread_clock() + seconds
        return seconds
    return thunk


def test_rising_latency_per_unit_cuts_the_degree_before_any_429() -> None:
    signals = Signals()
    signals.hint_seen(4)
    executor = ParallelExecutor(signals, 8, grow_after=100, now=_thread_clock)
    # 100 records per request: 9 s each (90 ms per record) while the service is healthy.
    executor.run([_takes(9.0)] * 8, kind="CreateMultiple contact", weights=[100] * 8)
    assert executor.seconds_per_unit("CreateMultiple contact") == pytest.approx(0.09)
    assert [c.reason for c in executor.history] == ["start"]
    # The same requests now take 40 s: the service strains; the degree is cut once per wave.
    executor.run([_takes(40.0)] * 8, kind="CreateMultiple contact", weights=[100] * 8)
    assert ("latency", 2) in [(c.reason, c.degree) for c in executor.history]
    assert executor.degree < 4
    cuts = len(executor.history)
    # Other kinds of work keep their own measure; short requests size later requests but
    # never count as strain, however much slower they get.
    executor.run([_takes(0.01)] * 4 + [_takes(0.5)] * 8, kind="lookup", weights=[50] * 12)
    assert executor.seconds_per_unit("lookup") == pytest.approx(0.01, rel=0.1)
    assert len(executor.history) == cuts


def test_requests_are_sized_to_what_the_service_does_in_the_request_time() -> None:
    signals = Signals()
    signals.hint_seen(2)
    executor = ParallelExecutor(signals, 8, now=_thread_clock)
    executor.request_seconds = 30.0
    assert executor.chunk_size(100_000, 1000, 20, kind="add") == 1000  # not measured yet
    executor.run([_takes(9.0)] * 2, kind="add", weights=[100] * 2)  # 90 ms per member
    assert 330 <= executor.chunk_size(100_000, 1000, 20, kind="add") <= 333  # 30 s of work
    executor.run([_takes(0.1)] * 2, kind="fast", weights=[100] * 2)  # 1 ms per member
    assert executor.chunk_size(100_000, 1000, 20, kind="fast") == 1000


def test_a_load_just_over_one_round_is_spread_over_whole_rounds() -> None:
    """16 full requests at degree 15 would leave the 16th running alone, as long as the
    whole first round: two rounds of half-size requests end in the time of one."""
    signals = Signals()
    signals.hint_seen(5)
    executor = ParallelExecutor(signals, 5, users=lambda: 3, now=_thread_clock)
    assert executor.degree == 15
    size = executor.chunk_size(15 * 333 + 1, 333)
    requests = math.ceil((15 * 333 + 1) / size)
    assert requests == 30 and size == 167
    assert executor.chunk_size(15 * 333, 333) == 333  # exactly one full round stays one
    assert executor.chunk_size(100, 333) == 7  # a small load: one request per slot


def test_a_steady_latency_never_cuts_however_slow() -> None:
    signals = Signals()
    signals.hint_seen(3)
    executor = ParallelExecutor(signals, 8, grow_after=2, now=_thread_clock)
    executor.run([_takes(90.0)] * 30, kind="AddListMembersList", weights=[1000] * 30)
    assert "latency" not in [c.reason for c in executor.history]
    assert executor.degree == 3


def test_on_premise_bulk_work_stays_sequential_whatever_the_hint() -> None:
    """NTLM's handshake lives on one connection and its auth object is not thread-safe."""
    from dynamics import Connection, Deployment
    from dynamics.transport import Transport

    transport = Transport(Connection(
        api_url="https://crm.example.org/fabrikam/api/data/v8.2/",
        deployment=Deployment.ON_PREMISE, username="FABRIKAM\\sync", password="x",
        concurrency=8))
    transport.signals.hint_seen(5)
    try:
        assert transport.parallel.ceiling == 1
        threads = transport.parallel.run([threading.get_ident for _ in range(4)])
        assert set(threads) == {threading.get_ident()}
    finally:
        transport.close()


def test_the_degree_starts_from_the_hint_once_it_is_known_not_from_one() -> None:
    """A sync's first requests are single look-ups, sent before any answer carried the
    hint: the executor then starts at 1, and must not have to grow step by step to the
    ceiling once the hint is known (at 90 ms per record that cost minutes)."""
    signals = Signals()
    executor = ParallelExecutor(signals, 8, users=lambda: 3, now=_thread_clock)
    assert executor.degree == 1  # nothing known yet: sequential
    signals.hint_seen(5)
    assert executor.degree == 15
    assert [(c.reason, c.degree) for c in executor.history] == [("start", 1), ("hint", 15)]
    signals.hint_seen(4)  # a later hint is only a ceiling, never a new start
    assert executor.degree == 12


def test_pressure_before_the_hint_starts_from_half_the_ceiling() -> None:
    signals = Signals()
    executor = ParallelExecutor(signals, 8, now=_thread_clock)
    assert executor.degree == 1
    signals.pressure_seen()
    signals.hint_seen(6)
    assert executor.degree == 3
