"""Run-time switches under `/_admin` (no auth, loopback): change tracking, service
protection limits, fault injection. `POST /_admin/reset` restores data only; the test
fixture's `EmulatorServer.reset()` also restores these settings.

GET  /_admin/tracking
POST /_admin/tracking  {"org": "contoso", "entity": "lead", "enabled": false,
                        "retention_days": 7}
GET  /_admin/limits                       limits, refused counts, window counts
POST /_admin/limits    {"requests": 6000, "window_seconds": 300, "concurrent": 52,
                        "execution_ms": 1200000, "retry_after": 0, "enabled": true}
POST /_admin/limits/reset                 start values, empty windows
GET  /_admin/faults                       rules, pending fail_next, injected counters
POST /_admin/faults    {"seed": 1, "enabled": true,
                        "rules": [{"method": "GET", "path": "contacts", "p429": 0.1,
                                   "p503": 0.05, "pdrop": 0.01, "pslow": 0.2,
                                   "slow_ms": 300, "retry_after": 1}],
                        "fail_next": [{"method": "*", "path": "WhoAmI", "count": 2,
                                       "status": 429, "retry_after": 0}]}
POST /_admin/faults/reset
GET  /_admin/server-time                  profile, web servers, dop hint, what was charged
                                          per "org/wsN/systemuserid" (requests, records,
                                          rows_read, modelled_ms, charged_ms)
POST /_admin/server-time {"profile": "default", "per_request_ms": 10, "per_record_ms": 90,
                          "per_row_ms": 0.5, "sleep": true, "web_servers": 4,
                          "dop_hint": 5}
POST /_admin/server-time/reset            start values, empty ledger
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from dynamics_emulator import server_time
from dynamics_emulator.http_types import Request, Response

if TYPE_CHECKING:
    from dynamics_emulator.app import Emulator


def _json(data: Any, status: int = 200) -> Response:
    return Response.json(data, status, odata=False)


def tracking_state(emu: Emulator) -> dict[str, Any]:
    return {org.name: {"retention_days": org.change_retention_days,
                       "entities": {e.name: e.change_tracking
                                    for e in org.schema.by_name.values()}}
            for org in emu.orgs.values() if org.has_web_api}


def capacity_state(emu: Emulator) -> dict[str, Any]:
    return {"profile": emu.server_time.describe(), "web_servers": emu.balancer.count,
            "dop_hint": emu.dop_hint, "charged": emu.ledger.describe()}


def configure_capacity(emu: Emulator, body: dict[str, Any]) -> None:
    base = body.get("profile") or emu.server_time
    emu.server_time = server_time.profile(base, **body)
    if "web_servers" in body:
        emu.balancer.configure(int(body["web_servers"]))
    if "dop_hint" in body:
        emu.dop_hint = int(body["dop_hint"])


def handle(emu: Emulator, req: Request, parts: list[str]) -> Response | None:
    """The answer for a control route, or None when `parts` is not one."""
    method = req.method
    body: dict[str, Any] = (req.json() or {}) if method == "POST" else {}
    if parts == ["tracking"]:
        if method == "POST":
            org = emu.orgs.get(str(body.get("org", "")))
            if org is None:
                return _json({"error": "unknown org"}, 404)
            if "entity" in body:
                ent = org.schema.by_name.get(str(body["entity"]))
                if ent is None:
                    return _json({"error": "unknown entity"}, 404)
                ent.change_tracking = bool(body.get("enabled", True))
            if "retention_days" in body:
                org.change_retention_days = float(body["retention_days"])
        return _json(tracking_state(emu))
    if parts == ["limits"]:
        if method == "POST":
            emu.protection.limits.update(body)
        return _json(emu.protection.describe())
    if parts == ["limits", "reset"] and method == "POST":
        emu.protection.reset()
        return _json(emu.protection.describe())
    if parts == ["faults"]:
        if method == "POST":
            try:
                emu.faults.configure(body)
            except (TypeError, ValueError) as err:
                return _json({"error": str(err)}, 400)
        return _json(emu.faults.describe())
    if parts == ["server-time"]:
        if method == "POST":
            try:
                configure_capacity(emu, body)
            except (TypeError, ValueError) as err:
                return _json({"error": str(err)}, 400)
        return _json(capacity_state(emu))
    if parts == ["server-time", "reset"] and method == "POST":
        emu.reset_capacity()
        return _json(capacity_state(emu))
    if parts == ["faults", "reset"] and method == "POST":
        emu.faults.reset(emu.fault_seed)
        return _json(emu.faults.describe())
    return None
