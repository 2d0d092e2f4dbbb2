"""Per-request accounting, so a job can report round trips, operations and throttling (N2)."""

from __future__ import annotations

import threading
from dataclasses import dataclass

# Service protection: 6000 requests per user in a sliding 300 s window
# (docs/dataverse-webapi.md §Service protection).
SERVICE_PROTECTION_REQUESTS = 6000
SERVICE_PROTECTION_WINDOW_S = 300.0


@dataclass(frozen=True)
class RequestRecord:
    method: str
    entity_set: str
    status: int | None  # None when no HTTP answer came back (timeout, connection error)
    duration: float
    operations: int  # 1, or N for a $batch / bulk message
    throttled: bool
    retry: bool  # True for the second and later attempt of the same call
    waited: float = 0.0  # seconds waited before this attempt
    app_user: str = ""  # the application user (lane, dynamics/lanes.py) that sent it


@dataclass(frozen=True)
class RequestTotals:
    round_trips: int
    operations: int
    throttled: int
    retries: int
    wait_seconds: float

    @property
    def budget_share(self) -> float:
        """Share of one 5-minute service-protection request budget these round trips used."""
        return self.round_trips / SERVICE_PROTECTION_REQUESTS


class RequestLog:
    """Thread-safe list of every HTTP attempt made by one client."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[RequestRecord] = []

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    @property
    def records(self) -> list[RequestRecord]:
        with self._lock:
            return list(self._records)

    def totals(self) -> RequestTotals:
        records = self.records
        return RequestTotals(
            round_trips=len(records),
            # Operations count once per call, not once per attempt.
            operations=sum(r.operations for r in records if not r.retry),
            throttled=sum(1 for r in records if r.throttled),
            retries=sum(1 for r in records if r.retry),
            wait_seconds=sum(r.waited for r in records),
        )

    def by_app_user(self) -> dict[str, int]:
        """Round trips per application user: whose service-protection budget each used."""
        counts: dict[str, int] = {}
        for record in self.records:
            counts[record.app_user] = counts.get(record.app_user, 0) + 1
        return counts

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
