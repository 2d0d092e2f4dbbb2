"""Several web servers behind a load balancer, with Azure's affinity cookie.

Dataverse enforces the service-protection limits per web server, and most environments
have more than one; a response sets `ARRAffinity`, and a client that sends it back is
routed to the same server, while one without it (Microsoft advises disabling the cookie
for parallel bulk loads) is spread over all of them (docs/dataverse-webapi.md §Web servers).
Here the balancer is round robin per organisation (deterministic for tests); the cookie
value is a stable hex digest per org and server, so it survives emulator restarts.
"""

from __future__ import annotations

import hashlib
import itertools
import threading

from dynamics_emulator.http_types import Request, Response

COOKIE = "ARRAffinity"
COOKIE_SAMESITE = "ARRAffinitySameSite"


def affinity_value(org: str, index: int) -> str:
    return hashlib.sha256(f"dynamics-emulator/{org}/web-server-{index}".encode()).hexdigest()


def request_cookies(req: Request) -> dict[str, str]:
    jar: dict[str, str] = {}
    for part in (req.headers.get("Cookie") or "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            jar.setdefault(name.strip(), value.strip())
    return jar


class LoadBalancer:
    def __init__(self, count: int = 1) -> None:
        self._lock = threading.Lock()
        self._next: dict[str, itertools.count[int]] = {}
        self.count = max(1, int(count))

    def configure(self, count: int) -> None:
        with self._lock:
            self.count = max(1, int(count))
            self._next.clear()

    def route(self, req: Request, org: str) -> tuple[int, bool]:
        """(web server index, whether the client came without a valid affinity cookie)."""
        jar = request_cookies(req)
        value = jar.get(COOKIE) or jar.get(COOKIE_SAMESITE)
        with self._lock:
            count = self.count
            if value:
                for index in range(count):
                    if affinity_value(org, index) == value:
                        return index, False
            counter = self._next.setdefault(org, itertools.count())
            return next(counter) % count, True

    @staticmethod
    def set_cookie(resp: Response, org: str, index: int, secure: bool) -> None:
        value = affinity_value(org, index)
        flags = "; secure" if secure else ""
        # As Dataverse (via Azure App Service) sends them, but with path=/<org> instead of
        # path=/: a real org has a host name of its own, here the orgs share one.
        resp.headers.add("Set-Cookie", f"{COOKIE}={value}; path=/{org}{flags}; HttpOnly")
        if secure:
            resp.headers.add("Set-Cookie", f"{COOKIE_SAMESITE}={value}; path=/{org}; HttpOnly; "
                                           "SameSite=None; secure")
