"""Server-time model: what a request would cost a real Dataverse web server.

A request costs `per_request_ms`, plus `per_record_ms` for every record operation it
performs (create, update, the create or update an upsert turns into, delete, list-member
add or remove, activity write) plus `per_row_ms` for every row it returns. The cost is
applied as real latency: the handler thread sleeps for what the model says minus what the
emulator itself spent, inside the accounted section of `app.py`, so parallel requests
overlap as on a real server and the time counts against the execution-time limit
(`protection.py`). Calibration and sources: docs/dataverse-webapi.md §Server time.

Counting is per thread: `app.py` opens a `metering()` scope around each Web API request
(a `$batch` runs its parts in the same thread), and the write/read paths call `charge()`,
which does nothing outside such a scope (admin routes, seeding).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

RECORD_KINDS = ("create", "update", "delete", "list_member", "activity")


@dataclass(frozen=True)
class Profile:
    name: str = "off"
    per_request_ms: float = 0.0
    per_record_ms: float = 0.0
    per_row_ms: float = 0.0
    # False: charge the modelled time against the limits without sleeping (tests).
    sleep: bool = True

    @property
    def enabled(self) -> bool:
        return bool(self.per_request_ms or self.per_record_ms or self.per_row_ms)

    def cost_ms(self, counts: Counter[str]) -> float:
        if not self.enabled:
            return 0.0
        records = sum(counts[k] for k in RECORD_KINDS)
        return self.per_request_ms + records * self.per_record_ms + counts["read"] * self.per_row_ms

    def with_overrides(self, data: dict[str, Any]) -> Profile:
        changes: dict[str, Any] = {}
        for f in fields(self):
            if f.name in data and data[f.name] is not None and f.name != "name":
                changes[f.name] = bool(data[f.name]) if f.name == "sleep" else float(data[f.name])
        return replace(self, **changes) if changes else self

    def describe(self) -> dict[str, Any]:
        return {**asdict(self), "enabled": self.enabled}


# `default`: calibrated on third-party UpsertMultiple measurements against a developer
# environment (ppds-sdk, see docs/dataverse-webapi.md §Server time): ~85–98 ms per record
# per request thread whatever the batch size and parallelism → 90 ms. `fast`: the same
# project's later GUID-keyed run (~25 ms per record). Reads and the per-request overhead
# are estimates, not measurements.
PROFILES: dict[str, Profile] = {
    "off": Profile("off"),
    "default": Profile("default", per_request_ms=10.0, per_record_ms=90.0, per_row_ms=0.5),
    "fast": Profile("fast", per_request_ms=10.0, per_record_ms=25.0, per_row_ms=0.2),
}


def profile(spec: str | Profile | None, **overrides: Any) -> Profile:
    """A named profile (`off`, `default`, `fast`) or a Profile, with optional overrides."""
    if spec is None:
        spec = "off"
    if isinstance(spec, str):
        if spec not in PROFILES:
            raise ValueError(f"unknown server-time profile {spec!r} "
                             f"(one of {', '.join(PROFILES)})")
        spec = PROFILES[spec]
    return spec.with_overrides(overrides)


_local = threading.local()


@contextmanager
def metering() -> Iterator[Counter[str]]:
    """Count this thread's record operations and rows read until the block ends."""
    outer = getattr(_local, "counts", None)
    counts: Counter[str] = Counter()
    _local.counts = counts
    try:
        yield counts
    finally:
        _local.counts = outer


def charge(kind: str, n: int = 1) -> None:
    counts: Counter[str] | None = getattr(_local, "counts", None)
    if counts is not None:
        counts[kind] += n


class Ledger:
    """What was charged, per `org/web server/user` key (GET /_admin/server-time)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict[str, float]] = {}

    def add(self, key: str, counts: Counter[str], modelled_ms: float, charged_ms: float) -> None:
        with self._lock:
            row = self._rows.setdefault(key, dict.fromkeys(
                ("requests", "records", "rows_read", "modelled_ms", "charged_ms"), 0.0))
            row["requests"] += 1
            row["records"] += sum(counts[k] for k in RECORD_KINDS)
            row["rows_read"] += counts["read"]
            row["modelled_ms"] += modelled_ms
            row["charged_ms"] += charged_ms

    def clear(self) -> None:
        with self._lock:
            self._rows.clear()

    def describe(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {k: {n: round(v, 3) if n.endswith("_ms") else int(v) for n, v in row.items()}
                    for k, row in self._rows.items()}
