"""Time source for the retry policy, injectable so tests assert waits without sleeping."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    def sleep(self, seconds: float) -> None: ...

    def monotonic(self) -> float: ...


class SystemClock:
    """The real clock."""

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)

    def monotonic(self) -> float:
        return time.monotonic()


class FakeClock:
    """Records requested waits and advances virtual time instead of sleeping."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(seconds, 0.0)

    def advance(self, seconds: float) -> None:
        """Let time pass outside the code under test (not recorded as a wait)."""
        self.now += seconds

    def monotonic(self) -> float:
        return self.now
