"""Fault injection (admin-controlled): random faults per route, and exact "fail next N".

Rules match a method (or "*") and a regular expression searched in the request path
(e.g. `contoso/api/data/v9\\.2/contacts`). Random faults draw from one seeded
`random.Random`, so a given seed and request sequence always inject the same faults.
Dropped connections are answered with `DROP`, which the HTTP server turns into a
closed socket without any response bytes.
"""

from __future__ import annotations

import random
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from dynamics_emulator.http_types import Request, Response
from dynamics_emulator.protection import throttled

DROP = Response(status=0)  # sentinel: close the connection without answering


@dataclass
class Rule:
    method: str
    path: str
    p429: float = 0.0
    p503: float = 0.0
    pdrop: float = 0.0
    pslow: float = 0.0
    slow_ms: int = 0
    retry_after: float = 1.0
    pattern: re.Pattern[str] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.pattern = re.compile(self.path)

    def matches(self, req: Request) -> bool:
        return self.method in ("*", req.method) and self.pattern.search(req.path) is not None

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "pattern"}


@dataclass
class FailNext(Rule):
    count: int = 1
    status: int = 503
    # A broken answer instead of an error (with ``status``, usually 200): "html" (a proxy's
    # error page), "not_json", "truncated" (a cut-off JSON document) or "no_value" (a
    # collection without its ``value``). Empty: the error answer of ``status``.
    body: str = ""


_BROKEN = {
    "html": ("text/html", b"<html><head><title>502 Bad Gateway</title></head><body><h1>"
                          b"Bad Gateway</h1><p>nginx</p></body></html>"),
    "not_json": ("application/json", b"this is not JSON"),
    "truncated": ("application/json", b'{"@odata.context":"x","value":[{"contactid":"'),
    "no_value": ("application/json", b'{"@odata.context":"x"}'),
}


def _broken(status: int, kind: str) -> Response:
    ctype, body = _BROKEN[kind]
    resp = Response(status=status, body=body)
    resp.headers.set("Content-Type", ctype)
    return resp


def _fault(status: int, retry_after: float) -> Response:
    if status == 429:
        return throttled("0x80072322", "Number of requests exceeded the limit of 6000 over time "
                                       "window of 300 seconds.", retry_after)
    resp = Response.json({"error": {"code": "0x80040216" if status >= 500 else "0x0",
                                    "message": "The service is temporarily unavailable."
                                    if status == 503 else f"Injected fault {status}."}}, status)
    if status == 503:
        resp.headers.set("Retry-After", str(int(retry_after)))
    return resp


class Faults:
    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self.reset(seed)

    def reset(self, seed: int = 0) -> None:
        self.enabled = True
        self.seed = seed
        self.rng = random.Random(seed)  # noqa: S311 - deterministic on purpose
        self.rules: list[Rule] = []
        self.fail_next: list[FailNext] = []
        self.injected: Counter[str] = Counter()

    def configure(self, data: dict[str, Any]) -> None:
        with self._lock:
            if "seed" in data:
                self.seed = int(data["seed"])
                self.rng = random.Random(self.seed)  # noqa: S311
            if "enabled" in data:
                self.enabled = bool(data["enabled"])
            if "rules" in data:
                self.rules = [Rule(**r) for r in data["rules"]]
            for item in data.get("fail_next", []):
                self.fail_next.append(FailNext(**item))

    def check(self, req: Request) -> tuple[Response | None, int]:
        """(The injected answer or None to serve normally, delay in ms to add)."""
        if not self.enabled or (not self.rules and not self.fail_next):
            return None, 0
        delay = 0
        with self._lock:
            for rule in self.fail_next:
                if rule.count > 0 and rule.matches(req):
                    rule.count -= 1
                    self.injected[f"fail_next {rule.body or rule.status}"] += 1
                    if rule.body:
                        return _broken(rule.status, rule.body), 0
                    return (DROP if rule.status == 0 else _fault(rule.status, rule.retry_after)), 0
            for r in self.rules:
                if not r.matches(req):
                    continue
                roll = self.rng.random()
                for kind, p in (("429", r.p429), ("503", r.p503), ("drop", r.pdrop)):
                    if roll < p:
                        self.injected[kind] += 1
                        return (DROP if kind == "drop" else _fault(int(kind), r.retry_after)), 0
                    roll -= p
                if roll < r.pslow:
                    self.injected["slow"] += 1
                    delay = max(delay, r.slow_ms)
        return None, delay

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {"enabled": self.enabled, "seed": self.seed,
                    "rules": [r.describe() for r in self.rules],
                    "fail_next": [r.describe() for r in self.fail_next if r.count > 0],
                    "injected": dict(self.injected)}
