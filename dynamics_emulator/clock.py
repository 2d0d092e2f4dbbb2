"""The emulator's clock: UTC, second precision, adjustable offset for tests."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta


class Clock:
    def __init__(self) -> None:
        self._offset = timedelta()
        self._lock = threading.Lock()
        self._last = datetime.min.replace(tzinfo=UTC)

    def set_offset(self, seconds: float) -> None:
        with self._lock:
            self._offset = timedelta(seconds=seconds)

    def reset(self) -> None:
        """Back to real time (also forgets the high-water mark; used between tests)."""
        with self._lock:
            self._offset = timedelta()
            self._last = datetime.min.replace(tzinfo=UTC)

    def not_before(self, moment: datetime) -> None:
        """Raise the high-water mark (a reopened data dir: after what is already stored)."""
        with self._lock:
            self._last = max(self._last, moment)

    @property
    def offset_seconds(self) -> float:
        return self._offset.total_seconds()

    def now(self) -> datetime:
        with self._lock:
            current = (datetime.now(UTC) + self._offset).replace(microsecond=0)
            # Never go backwards, so modifiedon watermarks stay usable after offset changes.
            self._last = max(self._last, current)
            return self._last


def fmt_dt(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_dt(text: str) -> datetime:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        # Dataverse stores a UserLocal value without offset as UTC
        # (docs/dataverse-webapi.md §Date and time).
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
