"""Top-level dispatch: `Emulator.handle(request) -> response`, independent of HTTP.

Routes: `/_admin/…` (inspection), `/<tenant>/…` (token service), `/<org>/api/data/vX.Y/…`.
`before_hooks` see every Web API request after authentication (request accounting now,
throttling and fault injection in part 2) and may answer it themselves.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from dynamics_emulator import admin, extra_orgs, ntlm, webapi
from dynamics_emulator.auth import TokenService
from dynamics_emulator.clock import Clock
from dynamics_emulator.faults import Faults
from dynamics_emulator.http_types import (
    MAX_URL_CHARS,
    DataverseError,
    Request,
    Response,
    url_too_long,
)
from dynamics_emulator.orgs import Ctx, Org, load_caller
from dynamics_emulator.persistence import DataDir
from dynamics_emulator.protection import Limits, ServiceProtection
from dynamics_emulator.seed import NTLM_USERS, build_apps, build_orgs, populate
from dynamics_emulator.server_time import Ledger, Profile, metering
from dynamics_emulator.server_time import profile as server_time_profile
from dynamics_emulator.soap import endpoint as soap_endpoint
from dynamics_emulator.soap.execute_multiple import Gate
from dynamics_emulator.web_servers import LoadBalancer

Hook = Callable[[Request, Org, str], Response | None]
# x-ms-dop-hint: what developer environments report (docs/dataverse-webapi.md §Web servers).
DOP_HINT = 5
LEGACY_404 = (b"<!DOCTYPE html><html><head><title>404 - File or directory not found.</title>"
              b"</head><body><h2>404 - File or directory not found.</h2></body></html>")


class Emulator:
    def __init__(self, seed: str = "demo", token_lifetime: int = 3600,
                 state_dir: Path | None = None, limits: Limits | None = None,
                 fault_seed: int = 0, data_dir: Path | None = None,
                 server_time: str | Profile | None = None, web_servers: int = 1,
                 dop_hint: int = DOP_HINT) -> None:
        # --data-dir: a new dir is seeded, an existing one reopened (persistence.py).
        self.data = DataDir(data_dir, seed) if data_dir is not None else None
        self.seed = self.data.seed if self.data else seed
        self.clock = Clock()
        self.orgs: dict[str, Org] = {o.name: o for o in build_orgs()}
        for org in self.orgs.values():
            if self.data is None or not self.data.open_org(org):
                populate(org, self.seed)
                if self.data is not None:
                    self.data.save_org(org)
        self.tokens = TokenService(build_apps(), token_lifetime,
                                   lambda: self.clock.now().timestamp(),
                                   self.data.token_key() if self.data else None)
        self.counters: Counter[str] = Counter()
        self._counter_lock = threading.Lock()
        self.before_hooks: list[Hook] = [self._count]
        self.protection = ServiceProtection(self.clock, limits)
        self.faults = Faults(fault_seed)
        self.execute_multiple_gate = Gate()  # ExecuteMultiple's own concurrency limit
        self.fault_seed = fault_seed
        # Cost model and capacity (server_time.py, web_servers.py); reset_settings restores.
        self.server_time = server_time_profile(server_time)
        self.balancer = LoadBalancer(web_servers)
        self.dop_hint = int(dop_hint)
        self.ledger = Ledger()
        self._capacity_defaults = (self.server_time, self.balancer.count, self.dop_hint)
        self.change_retention_days = 7.0  # default for every org; --change-retention-days
        self._tracking_defaults = {o.name: {e.name: e.change_tracking
                                            for e in o.schema.by_name.values()}
                                   for o in self.orgs.values()}
        if state_dir is not None:
            ntlm.install_user_file(state_dir / "ntlm_users.txt", NTLM_USERS)
        extra_orgs.restore(self)  # organisations created through /_admin/orgs (--data-dir)
        if self.data is not None:
            self.data.commit()
            self.data.load_settings(self)

    def register_org(self, org: Org) -> None:
        """Serve an organisation created at run time (extra_orgs.py). A new dict, not an
        insert: request threads iterate `orgs` without a lock."""
        self._tracking_defaults[org.name] = {e.name: e.change_tracking
                                             for e in org.schema.by_name.values()}
        self.orgs = {**self.orgs, org.name: org}

    def load_settings(self) -> None:
        """Clock offset and change-tracking switches kept in the data dir, if any."""
        if self.data is not None:
            self.data.load_settings(self)

    def save_settings(self) -> None:
        if self.data is not None:
            self.data.save_settings(self)

    def close(self) -> None:
        """Release the data dir (its files stay); in memory there is nothing to do."""
        if self.data is not None:
            self.data.close(self)

    def reset(self, org_name: str | None = None) -> None:
        for org in self.orgs.values():
            if org_name in (None, org.name) and org.snapshot is not None:
                org.store.restore(org.snapshot)

    def reset_settings(self) -> None:
        """Limits, faults, capacity and change-tracking switches back to their start values."""
        self.protection.reset()
        self.faults.reset(self.fault_seed)
        self.execute_multiple_gate.reset()
        self.reset_capacity()
        for org in self.orgs.values():
            org.change_retention_days = self.change_retention_days
            for ent in org.schema.by_name.values():
                ent.change_tracking = self._tracking_defaults[org.name][ent.name]

    def reset_capacity(self) -> None:
        """Server-time profile, web servers and dop hint back to their start values."""
        self.server_time, count, self.dop_hint = self._capacity_defaults
        self.balancer.configure(count)
        self.ledger.clear()

    def _count(self, req: Request, org: Org, route: str) -> Response | None:
        with self._counter_lock:
            self.counters[f"{org.name} {req.method} {route}"] += 1
        return None

    def handle(self, req: Request) -> Response:
        try:
            return self._handle(req)
        except DataverseError as err:
            return err.to_response()

    def _handle(self, req: Request) -> Response:
        parts = req.path.split("/")
        head = parts[1] if len(parts) > 1 else ""
        if head == "_admin":
            resp = admin.handle(self, req, parts[2:])
            if req.method != "GET":
                self.save_settings()  # /_admin/clock, /_admin/tracking (--data-dir)
            return resp
        if req.url_length > MAX_URL_CHARS:
            return url_too_long()  # refused in front of everything (docs §URL length)
        injected, req.delay_ms = self.faults.check(req)
        if injected is not None:
            return soap_endpoint.adapt_injected(req, injected)
        if head in self.tokens.tenants:
            if req.delay_ms:
                time.sleep(req.delay_ms / 1000)
            rest = "/".join(parts[2:])
            if rest == "v2.0/.well-known/openid-configuration" and req.method == "GET":
                return self.tokens.openid_configuration(req, head)
            if rest == "oauth2/v2.0/token" and req.method == "POST":
                return self.tokens.token(req, head, self.orgs)
            return Response.json({"error": "not_found"}, 404, odata=False)
        org = self.orgs.get(head.lower())
        if org is None:
            return self.tokens.unknown_org_challenge(req)
        return self._org_request(req, org, parts[2:])

    def _org_request(self, req: Request, org: Org, parts: list[str]) -> Response:
        # The load balancer picks a web server before anything else (web_servers.py).
        server, new_client = self.balancer.route(req, org.name)
        try:
            resp = self._on_web_server(req, org, parts, server)
        except DataverseError as err:
            resp = err.to_response()
        if new_client:
            self.balancer.set_cookie(resp, org.name, server, req.scheme == "https")
        return resp

    def _on_web_server(self, req: Request, org: Org, parts: list[str],
                       server: int) -> Response:
        if soap_endpoint.is_service(parts):  # the Organization Service (soap/endpoint.py)
            return soap_endpoint.serve(self, req, org, parts, server)
        user_id, denied = self._authenticate(req, org)
        if denied is not None:
            return denied
        assert user_id is not None
        if not org.has_web_api or parts[:2] != ["api", "data"] or len(parts) < 3:
            resp = Response(status=404, body=LEGACY_404)
            resp.headers.set("Content-Type", "text/html")
            return resp
        version = parts[2]
        if version not in org.api_versions:
            raise DataverseError(404, "0x8006088a",
                                 f"Resource not found for the segment '{version}'.")
        path = "/".join(parts[3:])
        return self.metered(req, org, server, user_id, webapi.route_name(path), version,
                            lambda make_ctx: webapi.dispatch(make_ctx(), path))

    def metered(self, req: Request, org: Org, server: int, user_id: str, route: str,
                version: str, work: Callable[[Callable[[], Ctx]], Response],
                refused_as: Callable[[Response], Response] | None = None) -> Response:
        """Accounting, service protection and server time around one authenticated request
        (Web API and Organization Service alike); `refused_as` reshapes a 429."""
        for hook in self.before_hooks:
            early = hook(req, org, route)
            if early is not None:
                return early
        # Service protection: per org, web server and user; $batch and bulk count once.
        user_key = f"{org.name}/ws{server}/{user_id}"
        refused = self.protection.enter(user_key)
        if refused is not None:
            refused.headers.set("x-ms-dop-hint", str(self.dop_hint))
            return refused_as(refused) if refused_as else refused
        cost = self.server_time
        start = time.perf_counter()
        with metering() as counts:
            try:
                # An injected slow response stays inside the accounted (concurrent) time.
                if req.delay_ms:
                    time.sleep(req.delay_ms / 1000)
                resp = work(lambda: Ctx(org, load_caller(org, user_id), req, version,
                                        self.clock))
            finally:
                # The modelled server time, as latency in this thread (parallel requests
                # overlap) and as execution time (server_time.py); failed requests pay
                # for the work they did.
                modelled = cost.cost_ms(counts)
                spent = (time.perf_counter() - start) * 1000
                if cost.sleep and modelled > spent:
                    time.sleep((modelled - spent) / 1000)
                elapsed = max((time.perf_counter() - start) * 1000, modelled)
                self.protection.leave(user_key, elapsed)
                if cost.enabled:
                    self.ledger.add(user_key, counts, modelled, elapsed)
        # Server time for benchmarks and diagnostics (the real service sends no such header).
        resp.headers.set("Server-Timing", f"app;dur={elapsed:.2f}")
        resp.headers.set("x-ms-dop-hint", str(self.dop_hint))
        if self.protection.limits.enabled:
            burst, seconds = self.protection.remaining(user_key)
            resp.headers.set("x-ms-ratelimit-burst-remaining-xrm-requests", str(burst))
            resp.headers.set("x-ms-ratelimit-time-remaining-xrm-requests", f"{seconds:,.2f}")
        return resp

    def authenticate(self, req: Request, org: Org) -> tuple[str | None, Response | None]:
        return self._authenticate(req, org)

    def _authenticate(self, req: Request, org: Org) -> tuple[str | None, Response | None]:
        """The caller's systemuserid, or the challenge to send back."""
        if org.kind == "online":
            header = req.headers.get("Authorization") or ""
            claims = self.tokens.verify(header[7:], org) if header.startswith("Bearer ") else None
            if claims is None:
                return None, self.tokens.challenge(req, org)
            user = org.cached("app", claims["appid"], lambda: org.store.scalar(
                "SELECT systemuserid FROM systemuser WHERE applicationid = ?", (claims["appid"],)))
            if user is None:
                raise DataverseError(403, "0x80072560",
                                     "The user is not a member of the organization.")
            return str(user), None
        if org.claims_only:
            return None, ntlm.claims_challenge(f"adfs.{org.domain or 'example'}.example".lower())
        principal, challenge = ntlm.authenticate(req)
        if challenge is not None:
            return None, challenge
        user = org.store.scalar("SELECT systemuserid FROM systemuser WHERE domainname = ?",
                                (principal,))
        if user is None:
            raise DataverseError(401, "0x80040220", "The caller is not a user of this org.")
        return str(user), None
