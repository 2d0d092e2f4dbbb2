"""Service-protection limits (docs/dataverse-webapi.md §Service protection): per user,
sliding windows, 429 + Retry-After.

Three facets, each with the documented code and message: number of requests in the
window (0x80072322), combined execution time in the window (0x80072321) and concurrent
requests (0x80072326). A `$batch` or bulk message is one request, as documented.
Windows run on `time.monotonic()` plus the emulator clock's offset, so moving the
clock through `/_admin/clock` also ages the windows.

Choices: refused requests are not counted themselves (a client that honours
Retry-After recovers after it); the limits apply to every org, keyed by org, web server
(`web_servers.py`: each web server counts on its own) and user. The execution time
charged is the request's time in the emulator, which includes the modelled server time
(`server_time.py`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, defaultdict, deque
from dataclasses import asdict, dataclass, fields
from typing import Any

from dynamics_emulator.clock import Clock
from dynamics_emulator.http_types import Response


@dataclass
class Limits:
    enabled: bool = True
    requests: int = 6000
    window_seconds: float = 300.0
    concurrent: int = 52
    execution_ms: int = 1_200_000
    # Test mode: a fixed Retry-After (seconds, e.g. 0 or 1) instead of the computed one.
    retry_after: float | None = None

    def update(self, data: dict[str, Any]) -> None:
        for f in fields(self):
            if f.name in data:
                value = data[f.name]
                setattr(self, f.name, value if value is None or f.name == "enabled"
                        else type(getattr(Limits(), f.name) or 0.0)(value))


def throttled(code: str, message: str, retry_after: float) -> Response:
    resp = Response.json({"error": {"code": code, "message": message}}, 429)
    # Retry-After is whole seconds on the wire; 0 is allowed (test mode).
    resp.headers.set("Retry-After", str(max(0, math.ceil(retry_after))))
    return resp


class ServiceProtection:
    def __init__(self, clock: Clock, limits: Limits | None = None) -> None:
        self.clock = clock
        self.limits = limits or Limits()
        self.defaults = Limits(**asdict(self.limits))
        self._lock = threading.Lock()
        self._requests: dict[str, deque[float]] = {}
        self._times: dict[str, deque[tuple[float, float]]] = {}
        self._spent: dict[str, float] = defaultdict(float)  # running sum of _times per user (ms)
        self._active: Counter[str] = Counter()
        self.refused: Counter[str] = Counter()

    def reset(self) -> None:
        with self._lock:
            self.limits = Limits(**asdict(self.defaults))
            self._requests.clear()
            self._times.clear()
            self._spent.clear()
            self.refused.clear()

    def _now(self) -> float:
        return time.monotonic() + self.clock.offset_seconds

    def _retry(self, computed: float) -> float:
        fixed = self.limits.retry_after
        return computed if fixed is None else fixed

    def enter(self, user: str) -> Response | None:
        """Admit the request (and count it) or answer 429."""
        lim = self.limits
        if not lim.enabled:
            return None
        now = self._now()
        horizon = now - lim.window_seconds
        with self._lock:
            if self._active[user] >= lim.concurrent:
                self.refused["concurrency"] += 1
                return throttled("0x80072326", f"Number of concurrent requests exceeded the "
                                               f"limit of {lim.concurrent}.", self._retry(1))
            stamps = self._requests.setdefault(user, deque())
            while stamps and stamps[0] <= horizon:
                stamps.popleft()
            if len(stamps) >= lim.requests:
                self.refused["requests"] += 1
                return throttled(
                    "0x80072322", f"Number of requests exceeded the limit of {lim.requests} "
                                  f"over time window of {lim.window_seconds:g} seconds.",
                    self._retry(stamps[0] - horizon))
            spent = self._times.setdefault(user, deque())
            while spent and spent[0][0] <= horizon:
                self._spent[user] -= spent.popleft()[1]
            if self._spent[user] >= lim.execution_ms:
                self.refused["execution_time"] += 1
                return throttled(
                    "0x80072321", f"Combined execution time of incoming requests exceeded limit "
                                  f"of {lim.execution_ms:,}  milliseconds over time window of "
                                  f"{lim.window_seconds:g} seconds. Decrease number of concurrent "
                                  f"requests or reduce the duration of requests and try again "
                                  f"later.", self._retry(spent[0][0] - horizon))
            stamps.append(now)
            self._active[user] += 1
        return None

    def leave(self, user: str, elapsed_ms: float) -> None:
        with self._lock:
            self._active[user] -= 1
            if self.limits.enabled:
                self._times.setdefault(user, deque()).append((self._now(), elapsed_ms))
                self._spent[user] += elapsed_ms

    def remaining(self, user: str) -> tuple[int, float]:
        """Requests and execution seconds left in the window (the x-ms-ratelimit-* headers)."""
        lim = self.limits
        with self._lock:  # the windows as enter() last trimmed them
            used, spent = len(self._requests.get(user) or ()), self._spent.get(user, 0.0)
        return max(0, lim.requests - used), max(0.0, (lim.execution_ms - spent) / 1000)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"limits": asdict(self.limits), "refused": dict(self.refused),
                    "active": {k: v for k, v in self._active.items() if v},
                    "window_counts": {k: len(v) for k, v in self._requests.items()}}
