"""Independent CRM requests in parallel, at the pace the service allows.

Protocol-neutral: the executor runs thunks (callables without arguments) and learns the
service's state only through ``Signals``, which the protocol layer feeds — the Web API
transport from ``x-ms-dop-hint`` and 429/503/``Retry-After`` answers; an Organization
Service (SOAP) client would feed the same two calls from its own faults and headers.

Pacing (docs/dataverse-webapi.md §Web servers, §Service protection):

* the ceiling is the smaller of the service's dop hint and the configured maximum
  (``Connection.concurrency``, the ``CRM_CONCURRENCY`` setting), times the number of
  users the protocol layer spreads the work over (``users``: the limits are per user,
  dynamics/lanes.py); without a hint (an on-premise server, or before the first answer)
  work runs one request at a time;
* the degree starts at the ceiling, halves when a request meets back-pressure — of any
  user: conservative — (429, 503 or a ``Retry-After``; once per wave: requests sent
  before the cut do not cut again) and grows by one after ``grow_after`` completions
  that met none;
* rising latency is back-pressure too: per kind of work (``run(kind=…)``) the executor
  keeps the seconds per unit of work (``weights``: records, members) as a moving average;
  when it climbs to ``RISE`` times the best level seen, the service is straining before it
  throttles, and the degree is cut as for a 429 (and does not grow on such a completion).
  Callers also read that figure to size their requests (``seconds_per_unit``);
* results come back in input order; when a thunk raises, nothing new starts, the requests
  in flight finish, and the first error is raised — so the caller records only work that
  completed (N1), and never half of a call's results.

Threads only talk to the CRM: a thunk must not touch the database (the engine collects
the results and writes them afterwards, in its own thread and transaction).
Requests run through the executor are the *bulk path*: the transport sends them without
the load balancer's affinity cookie (``on_bulk_path``), so they spread over the web servers.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")
GROW_AFTER = 4  # healthy completions before one more request may run in parallel
RISE = 2.0  # seconds per unit this many times the best level seen: the service is straining
MIN_SAMPLE_SECONDS = 1.0  # shorter requests say more about this machine than the service
BASELINE_AFTER = 3  # samples of a kind before its best level is trusted
SMOOTHING = 0.3  # weight of the newest sample in the moving average
REQUEST_SECONDS = 30.0  # a request's target duration, unless the transport says otherwise

_local = threading.local()  # per thread: on the bulk path? which shrink generation?


def on_bulk_path() -> bool:
    """True in a thunk the executor runs (in its threads, or inline)."""
    return bool(getattr(_local, "bulk", False))


class Signals:
    """What the protocol layer observed about the service, for whoever paces the work."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.hint: int | None = None
        self.pressure_count = 0
        self._listeners: list[Callable[[], None]] = []

    def listen(self, callback: Callable[[], None]) -> None:
        with self._lock:
            self._listeners.append(callback)

    def hint_seen(self, value: int) -> None:
        """The service's recommended degree of parallelism (Web API: ``x-ms-dop-hint``)."""
        if value >= 1:
            self.hint = value

    def pressure_seen(self) -> None:
        """The service pushed back (throttled, unavailable, asked to wait)."""
        _local.pressured = True
        with self._lock:
            self.pressure_count += 1
            listeners = list(self._listeners)
        for callback in listeners:
            callback()


@dataclass(frozen=True)
class DegreeChange:
    reason: str  # start | hint | pressure | latency | healthy | ceiling
    degree: int


def _smooth(average: float | None, sample: float) -> float:
    return sample if average is None else SMOOTHING * sample + (1 - SMOOTHING) * average


@dataclass
class _Latency:
    """Seconds per unit of one kind of work.

    ``recent`` averages every sample (for sizing requests); the strain measure averages only
    requests long enough to say something about the service, and compares that average
    with the best it reached."""

    recent: float | None = None
    telling: float | None = None
    best: float | None = None
    samples: int = 0

    def add(self, per_unit: float, seconds: float) -> bool:
        """Take a sample; True when the service strains (``RISE`` × its best level)."""
        self.recent = _smooth(self.recent, per_unit)
        if seconds < MIN_SAMPLE_SECONDS:
            return False
        self.samples += 1
        self.telling = _smooth(self.telling, per_unit)
        if self.samples < BASELINE_AFTER:
            return False
        self.best = self.telling if self.best is None else min(self.best, self.telling)
        return self.telling >= RISE * self.best


class ParallelExecutor:
    def __init__(self, signals: Signals, maximum: int, *, grow_after: int = GROW_AFTER,
                 users: Callable[[], int] = lambda: 1,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.signals = signals
        self.maximum = max(1, maximum)
        self.users = users  # how many users' budgets the work is spread over, right now
        self.grow_after = max(1, grow_after)
        self._now = now
        self._latency: dict[str, _Latency] = {}
        # What one request may take: the transport sets it well under its read timeout.
        self.request_seconds = REQUEST_SECONDS
        self._lock = threading.Lock()
        self._degree: int | None = None  # set from the ceiling at the first use
        self._blind = False  # that first use came before the service told its hint
        self._generation = 0  # bumped by every cut: one wave of 429s cuts once
        self._healthy = 0
        self.history: list[DegreeChange] = []
        signals.listen(self._pressure)

    @property
    def ceiling(self) -> int:
        hint = self.signals.hint
        return 1 if hint is None else max(1, min(hint, self.maximum)) * max(1, self.users())

    @property
    def degree(self) -> int:
        with self._lock:
            return self._current()

    def _current(self) -> int:
        ceiling = self.ceiling
        if self._degree is None:
            self._degree = ceiling
            self._blind = self.signals.hint is None
            self.history.append(DegreeChange("start", ceiling))
        elif self._blind and self.signals.hint is not None:
            # The first use came before any answer told the hint (a single look-up runs
            # sequentially): start from the ceiling it allows now rather than growing one
            # step per few requests from 1 — or from half of it if the service pushed back.
            self._blind = False
            self._degree = ceiling if self._generation == 0 else max(1, ceiling // 2)
            self.history.append(DegreeChange("hint", self._degree))
        elif self._degree > ceiling:
            self._degree = ceiling
            self.history.append(DegreeChange("ceiling", ceiling))
        return self._degree

    def chunk_size(self, count: int, most: int, least: int = 1, *, kind: str = "") -> int:
        """Items per request so that ``count`` items fill the current degree evenly
        (never more than ``most``, the protocol's or caller's limit, nor fewer than
        ``least``): a large load goes in whole rounds of nearly full requests, a small one
        is spread out instead of leaving requests idle behind one big request. With
        ``kind`` measured, ``most`` is also kept to what the service does in
        ``request_seconds`` (a request that outlasts the client's read timeout fails
        however healthy the service is)."""
        per_unit = self.seconds_per_unit(kind) if kind else None
        if per_unit:
            most = max(least, min(most, int(self.request_seconds / per_unit)))
        if not count:
            return max(1, most)
        degree = self.degree
        if degree == 1 and count >= most:
            return max(1, most)  # one at a time: full requests, the fewest of them
        # Whole rounds of ``degree`` requests of about equal size: a load just over one
        # round of full requests would otherwise leave one request running alone at the
        # end, as long as a full round. Costs at most ``degree`` more requests per call.
        rounds = math.ceil(count / (degree * most))
        size = max(1, min(most, max(least, math.ceil(count / (rounds * degree)))))
        return math.ceil(count / math.ceil(count / size))  # even: no small straggler

    # -- pacing ----------------------------------------------------------------------------

    def seconds_per_unit(self, kind: str) -> float | None:
        """The recent seconds per unit of ``kind`` (None before a telling sample)."""
        with self._lock:
            latency = self._latency.get(kind)
            return None if latency is None else latency.recent

    def _pressure(self) -> None:
        self._cut("pressure", getattr(_local, "generation", None))

    def _cut(self, reason: str, generation: int | None) -> None:
        with self._lock:
            if generation is not None and generation < self._generation:
                return  # sent before the last cut: that wave was answered already
            degree = self._current()
            self._generation += 1
            self._healthy = 0
            self._degree = max(1, degree // 2)
            self.history.append(DegreeChange(reason, self._degree))

    def _finished(self, kind: str, weight: int, seconds: float, pressured: bool,
                  generation: int) -> None:
        """A thunk completed: learn its latency, then cut or count it as healthy."""
        rising = False
        if kind and weight > 0 and not pressured:  # a throttled wait is not latency
            with self._lock:
                rising = self._latency.setdefault(kind, _Latency()).add(seconds / weight,
                                                                        seconds)
        if rising:
            self._cut("latency", generation)
        self._completed(pressured or rising)

    def _completed(self, pressured: bool) -> None:
        if pressured:
            return
        with self._lock:
            degree = self._current()
            self._healthy += 1
            if self._healthy >= self.grow_after and degree < self.ceiling:
                self._degree = degree + 1
                self._healthy = 0
                self.history.append(DegreeChange("healthy", self._degree))

    def _call(self, thunk: Callable[[], T], generation: int) -> tuple[T, bool, float]:
        saved = (getattr(_local, "bulk", False), getattr(_local, "generation", None),
                 getattr(_local, "pressured", False))
        _local.bulk, _local.generation, _local.pressured = True, generation, False
        started = self._now()
        try:
            value = thunk()
            return value, bool(_local.pressured), self._now() - started
        finally:
            # A nested (inline) call hands its back-pressure on to the thunk around it.
            pressured = bool(_local.pressured)
            _local.bulk, _local.generation = saved[0], saved[1]
            _local.pressured = saved[2] or pressured

    # -- running -----------------------------------------------------------------------------

    def run(self, thunks: Sequence[Callable[[], T]], *, kind: str = "",
            weights: Sequence[int] | None = None) -> list[T]:
        """Each thunk's result, in input order (see the module docstring for errors).

        ``kind`` names the work for the latency measure and ``weights`` gives each thunk's
        units of it (records, members); without them latency is not measured."""
        units = list(weights) if weights is not None else [0] * len(thunks)
        if on_bulk_path() or len(thunks) <= 1 or self.degree <= 1:
            # Nested (a thunk's own fallback), a single call, or sequential pacing: inline,
            # in this thread, still on the bulk path.
            return [self._inline(thunk, kind, weight) for thunk, weight in
                    zip(thunks, units, strict=True)]
        results: list[Any] = [None] * len(thunks)
        index_of: dict[Future[tuple[T, bool, float]], tuple[int, int]] = {}
        error: BaseException | None = None
        pending: set[Future[tuple[T, bool, float]]] = set()
        nxt = 0
        with ThreadPoolExecutor(max_workers=min(self.ceiling, len(thunks)),
                                thread_name_prefix="crm-parallel") as pool:
            while True:
                while error is None and nxt < len(thunks) and len(pending) < self.degree:
                    with self._lock:
                        generation = self._generation
                    future = pool.submit(self._call, thunks[nxt], generation)
                    index_of[future] = (nxt, generation)
                    pending.add(future)
                    nxt += 1
                if not pending:
                    break
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    exc = future.exception()
                    if exc is not None:
                        error = error or exc
                        continue
                    value, pressured, seconds = future.result()
                    index, sent_in = index_of[future]
                    results[index] = value
                    self._finished(kind, units[index], seconds, pressured, sent_in)
        if error is not None:
            raise error
        return results

    def _inline(self, thunk: Callable[[], T], kind: str, weight: int) -> T:
        with self._lock:
            generation = self._generation
        value, pressured, seconds = self._call(thunk, generation)
        self._finished(kind, weight, seconds, pressured, generation)
        return value
