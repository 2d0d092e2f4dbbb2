"""Organisations, app registrations and the per-request context."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dynamics_emulator.clock import Clock
from dynamics_emulator.collation import DEFAULT as DEFAULT_COLLATION
from dynamics_emulator.http_types import DataverseError, Request
from dynamics_emulator.schema.model import Entity
from dynamics_emulator.schema.registry import Schema, build_schema
from dynamics_emulator.storage import Store

NS = uuid.UUID("6f1d8f56-3c52-4a8e-9f3e-1d0c2b7a9e10")


def stable_id(*parts: object) -> str:
    """Deterministic GUIDs, so seeds and metadata ids are the same on every start."""
    return str(uuid.uuid5(NS, "/".join(str(p) for p in parts)))


@dataclass
class Org:
    name: str
    kind: str  # online | onprem | legacy
    version: str  # what RetrieveVersion answers
    api_versions: tuple[str, ...]
    org_id: str
    tenant_id: str | None = None  # online: the directory the tokens come from
    domain: str | None = None  # on-premise: NTLM domain
    schema: Schema = field(init=False)
    store: Store = field(init=False)
    snapshot: sqlite3.Connection | None = None
    change_retention_days: float = 7.0  # organization.ExpireChangeTrackingInDays
    # SQL collation from the base language (collation.py); fixed when the org is created.
    collation: str = DEFAULT_COLLATION
    # Customer Insights – Journeys installed: the consent tables exist (schema/journeys.py).
    journeys: bool = False
    # On-premise with claims-based authentication / IFD only: Windows sign-in is not
    # offered, the server asks for a bearer token from AD FS (docs/organization-service.md).
    claims_only: bool = False

    def __post_init__(self) -> None:
        self.schema = build_schema(change_tracking=self.kind == "online",
                                   journeys_consent=self.journeys)
        self.store = Store(self.schema, self.collation)
        self._cache: dict[tuple[str, str], tuple[int, Any]] = {}

    def cached(self, kind: str, key: str, compute: Callable[[], Any]) -> Any:
        """Per-request look-ups (caller, privileges) memoised until the next write."""
        generation = self.store.generation
        hit = self._cache.get((kind, key))
        if hit is not None and hit[0] == generation:
            return hit[1]
        value = compute()
        self._cache[(kind, key)] = (generation, value)
        return value

    @property
    def has_web_api(self) -> bool:
        return self.kind != "legacy"

    @property
    def supports_representation(self) -> bool:
        major, minor = (int(p) for p in self.version.split(".")[:2])
        return (major, minor) >= (8, 2)

    @property
    def is_v9(self) -> bool:
        return self.version.startswith("9.")


@dataclass(frozen=True)
class AppRegistration:
    client_id: str
    secret: str
    tenant_id: str
    name: str


@dataclass
class Caller:
    user_id: str
    business_unit_id: str
    privileges: dict[str, str]  # privilege name -> privilege id
    role_count: int
    access_mode: int


@dataclass
class Ctx:
    """Everything a Web API handler needs about one request."""

    org: Org
    caller: Caller
    request: Request
    api_version: str  # e.g. "v9.2"
    clock: Clock

    @property
    def base_url(self) -> str:
        return f"{self.request.origin}/{self.org.name}/api/data/{self.api_version}/"

    def prefer(self) -> dict[str, str]:
        prefs: dict[str, str] = {}
        for header in [self.request.headers.get("Prefer") or ""]:
            for part in header.split(","):
                part = part.strip()
                if not part:
                    continue
                key, _, value = part.partition("=")
                prefs[key.strip().lower()] = value.strip().strip('"')
        # include-annotations can hold commas inside its quotes: re-read it whole.
        raw = self.request.headers.get("Prefer") or ""
        marker = "odata.include-annotations="
        if marker in raw:
            rest = raw.split(marker, 1)[1]
            value = rest[1:].split('"', 1)[0] if rest.startswith('"') else rest.split(",")[0]
            prefs["odata.include-annotations"] = value
        return prefs

    def require(self, op: str, ent: Entity) -> None:
        """Raise the real 403 shape when the caller's roles lack prv<Op><Entity>."""
        name = f"prv{op}{ent.schema_name}"
        if name in self.caller.privileges or "*" in self.caller.privileges:
            return
        c = self.caller
        raise DataverseError(
            403, "0x80042f09",
            f"Principal user (Id={c.user_id}, type=8, roleCount={c.role_count}, "
            f"privilegeCount={len(c.privileges)}, accessMode={c.access_mode}), is missing {name} "
            f"privilege (Id={stable_id('privilege', name)}) on OTC={ent.otc} for entity "
            f"'{ent.name}'. context.Caller={c.user_id}",
        )


def load_caller(org: Org, user_id: str) -> Caller:
    caller: Caller = org.cached("caller", user_id, lambda: _load_caller(org, user_id))
    return caller


def _load_caller(org: Org, user_id: str) -> Caller:
    store = org.store
    user = store.fetch('SELECT businessunitid, accessmode, isdisabled FROM systemuser '
                       'WHERE systemuserid = ?', (user_id,))
    if not user or user[0]["isdisabled"]:
        raise DataverseError(403, "0x80072560", "The user is not a member of the organization.")
    rows = store.fetch(
        "SELECT DISTINCT p.privilegeid, p.name, r.name AS rolename FROM role r "
        "JOIN roleprivileges rp ON rp.roleid = r.roleid "
        "JOIN privilege p ON p.privilegeid = rp.privilegeid "
        "WHERE r.roleid IN (SELECT roleid FROM systemuserroles WHERE systemuserid = ?) "
        "OR r.roleid IN (SELECT tr.roleid FROM teamroles tr JOIN teammembership tm "
        "ON tm.teamid = tr.teamid WHERE tm.systemuserid = ?)", (user_id, user_id))
    roles: set[Any] = {r["rolename"] for r in rows}
    privileges = {r["name"]: r["privilegeid"] for r in rows}
    if "System Administrator" in roles:
        privileges["*"] = ""
    return Caller(user_id, user[0]["businessunitid"], privileges, len(roles),
                  user[0]["accessmode"] or 0)
