"""The server-time run's arithmetic (``sync_bench.py --server-time``): what the emulator
says about its capacity, the computed lower bound of a run, and the extra application
users a run spreads its bulk work over."""

from __future__ import annotations

from typing import Any

from sync_bench_emulator import Emulator

# Service protection per user and web server (docs/dataverse-webapi.md §Service protection):
# 1,200 s of execution time in a 300 s window, i.e. at most 4 requests' worth running at once
# on average.
EXECUTION_BUDGET_S, WINDOW_S = 1200.0, 300.0
# The emulator's full application users, in the order ``--app-users`` takes them.
APP_USERS = ("CLIENT", "SECOND_CLIENT", "THIRD_CLIENT")


def capacity(emu: Emulator) -> dict[str, Any]:
    return dict(emu.session.get(emu.base + "/_admin/server-time", timeout=60).json())


def lower_bound(cap: dict[str, Any], degree: int, users: int) -> tuple[float, int, float]:
    """(seconds, record operations, parallelism) — the least time the CRM needs for the
    record operations the run performed (the ledger's count, every web server and user):
    each costs ``per_record_ms`` of server time, and at most ``parallelism`` requests'
    worth of server time passes per second: the smaller of the requests in flight
    (``degree``: N users × the dop hint, or 1 for the sequential engine) and what the
    execution-time budget allows (1,200 s per 300 s per user and web server, times web
    servers and ``users``)."""
    records = sum(int(row["records"]) for row in cap["charged"].values())
    per_record_s = float(cap["profile"]["per_record_ms"]) / 1000
    budget = EXECUTION_BUDGET_S / WINDOW_S * cap["web_servers"] * users
    parallelism = min(float(degree), budget)
    return records * per_record_s / parallelism, records, parallelism


def add_app_users(tenant: Any, n: int) -> None:
    """The emulator's second and third application user, as an admin adds them and an
    integration check passes them (orgsettings/app_users.py)."""
    from django.utils import timezone

    from dynamics_emulator import credentials
    from orgsettings.app_users import add_app_user
    from orgsettings.models import AdditionalAppUser

    for name in APP_USERS[1:n]:
        add_app_user(tenant, getattr(credentials, f"{name}_ID"),
                     getattr(credentials, f"{name}_SECRET"), user=None)
    AdditionalAppUser.objects.update(check_passed_at=timezone.now())


def per_user(cap: dict[str, Any]) -> dict[str, int]:
    """Record operations per application user (the ledger's key: org/web server/user)."""
    out: dict[str, int] = {}
    for key, row in cap["charged"].items():
        user = key.split("/")[2][:8]
        out[user] = out.get(user, 0) + int(row["records"])
    return out
