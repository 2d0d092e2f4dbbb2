"""Seeds: organisations, identities, security roles and (for demo/bench) business data.

All ids and values come from fixed seeds, so every start produces the same data.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from dynamics_emulator.clock import fmt_dt
from dynamics_emulator.orgs import AppRegistration, Org, stable_id
from dynamics_emulator.schema.model import Entity

TENANT_ID = "2f5c7a9e-1b3d-4e6f-8a0c-2e4f6a8b0c1d"
CLIENT_ID = "6b1f3c5d-7e9a-4b2c-8d0e-1f3a5c7e9b20"
CLIENT_SECRET = "mwx-demo-secret-1"
LIMITED_CLIENT_ID = "8c2e4a6f-0b1d-4c3e-9f5a-7b9d1f3e5a71"
LIMITED_CLIENT_SECRET = "mwx-limited-secret-1"
# A second application user with the same full role: its own service-protection budget.
SECOND_CLIENT_ID = "a4e6c8f0-2d3f-4e5a-9b7c-9d1f3b5d7c93"
SECOND_CLIENT_SECRET = "mwx-second-secret-1"
# A third one, so benchmarks and tests can spread bulk work over one to three users.
THIRD_CLIENT_ID = "c7a9e1b3-5f6d-4a8b-8c2e-3f5b7d9e1a04"
THIRD_CLIENT_SECRET = "mwx-third-secret-1"
ORPHAN_CLIENT_ID = "9d3f5b7a-1c2e-4d4f-8a6b-8c0e2a4f6b82"  # registered, no application user
ORPHAN_CLIENT_SECRET = "mwx-orphan-secret-1"
NTLM_DOMAIN = "FABRIKAM"
NTLM_USERS = [("FABRIKAM", "crmadmin", "Pass@word1"), ("FABRIKAM", "mwxsync", "Sync@2016!"),
              ("FABRIKAM", "reader", "Reader@2016!")]
PRIV_ENTITIES = ["contact", "account", "lead", "list", "campaign", "campaignactivity",
                 "mwx_emailreaction", "systemuser", "team", "businessunit", "role", "listmember",
                 "task", "asyncoperation", "bulkdeleteoperation"]
# Customer Insights – Journeys tables (only in organisations that have them): consent first.
JOURNEYS_ENTITIES = ["msdynmkt_contactpointconsent4", "msdynmkt_purpose", "msdynmkt_topic"]
# Privileges that belong to no table (prvBulkDelete: docs/dataverse-webapi.md §Bulk delete).
MISC_PRIVILEGES = ["prvBulkDelete"]
OPS = ["Create", "Read", "Write", "Delete", "Append", "AppendTo", "Assign", "Share"]
EPOCH = datetime(2024, 1, 8, 9, 0, tzinfo=UTC)


def build_orgs() -> list[Org]:
    return [
        Org("contoso", "online", "9.2.25044.00181",
            ("v9.0", "v9.1", "v9.2", "v8.0", "v8.1", "v8.2"), stable_id("org", "contoso"),
            tenant_id=TENANT_ID, journeys=True),
        Org("fabrikam", "onprem", "8.2.2.112", ("v8.0", "v8.1", "v8.2"),
            stable_id("org", "fabrikam"), domain=NTLM_DOMAIN),
        # CRM 2016 RTM: the Web API exists, but only as v8.0 (version detection).
        Org("crm80", "onprem", "8.0.1.79", ("v8.0",), stable_id("org", "crm80"),
            domain=NTLM_DOMAIN),
        Org("legacy2015", "legacy", "7.1.0.2014", (), stable_id("org", "legacy2015"),
            domain=NTLM_DOMAIN),
        # CRM 2013 SP1: the Organization Service only (docs/organization-service.md).
        Org("legacy2013", "legacy", "6.1.0.581", (), stable_id("org", "legacy2013"),
            domain=NTLM_DOMAIN),
        # CRM 2015 set up for claims-based authentication / IFD only (no Windows sign-in).
        Org("legacyifd", "legacy", "7.1.0.2014", (), stable_id("org", "legacyifd"),
            domain=NTLM_DOMAIN, claims_only=True),
    ]


def build_apps() -> list[AppRegistration]:
    return [AppRegistration(CLIENT_ID, CLIENT_SECRET, TENANT_ID, "mailworx CRM Connector"),
            AppRegistration(LIMITED_CLIENT_ID, LIMITED_CLIENT_SECRET, TENANT_ID,
                            "mailworx limited"),
            AppRegistration(SECOND_CLIENT_ID, SECOND_CLIENT_SECRET, TENANT_ID,
                            "mailworx CRM Connector 2"),
            AppRegistration(THIRD_CLIENT_ID, THIRD_CLIENT_SECRET, TENANT_ID,
                            "mailworx CRM Connector 3"),
            AppRegistration(ORPHAN_CLIENT_ID, ORPHAN_CLIENT_SECRET, TENANT_ID, "not in any org")]


@dataclass
class Builder:
    """Accumulates rows per entity and writes them with bulk inserts."""

    org: Org
    rng: random.Random
    version: int = 1000

    def __post_init__(self) -> None:
        self.rows: dict[str, list[dict[str, Any]]] = {}
        self.links: list[tuple[str, str, str]] = []  # (intersect table, left, right)
        self.admin_id = stable_id(self.org.name, "user", "admin")
        self.root_bu = stable_id(self.org.name, "bu", "root")
        self.templates: dict[str, dict[str, Any]] = {}

    def _template(self, ent_name: str) -> dict[str, Any]:
        """Defaults shared by every row of an entity (computed once: bench speed)."""
        if ent_name not in self.templates:
            ent = self.org.schema.entity(ent_name)
            tpl: dict[str, Any] = {"createdby": self.admin_id, "createdby_t": "systemuser",
                                   "modifiedby": self.admin_id, "modifiedby_t": "systemuser"}
            tpl.update({a.name: 0 for a in ent.attrs.values() if a.kind == "Boolean"})
            if "statecode" in ent.attrs:
                tpl.update(statecode=0, statuscode=ent.attrs["statecode"].options[0].default_status)
            if "ownerid" in ent.attrs:
                tpl.update(ownerid=self.admin_id, ownerid_t="systemuser",
                           owningbusinessunit=self.root_bu, owningbusinessunit_t="businessunit")
            if ent.is_activity:
                tpl["activitytypecode"] = ent.name
            self.templates[ent_name] = tpl
        return self.templates[ent_name]

    def row(self, ent_name: str, ident: str, values: dict[str, Any],
            when: datetime | None = None, owner: str | None = None) -> dict[str, Any]:
        ent = self.org.schema.entity(ent_name)
        self.version += 1
        stamp = fmt_dt(when) if when else "2024-01-08T09:00:00Z"
        row = dict(self._template(ent_name))
        row.update({ent.primary_id: ident, "createdon": stamp, "modifiedon": stamp,
                    "versionnumber": self.version})
        if owner:
            row["ownerid"] = owner
        if "statecode" in values and "statuscode" not in values:
            row["statuscode"] = ent.attrs["statecode"].option(values["statecode"]).default_status  # type: ignore[union-attr]
        row.update(values)
        if "fullname" in ent.attrs and "fullname" not in values:
            row["fullname"] = " ".join(p for p in (row.get("firstname"), row.get("lastname")) if p)
        self.rows.setdefault(ent_name, []).append(row)
        return row

    def org_id(self, *parts: object) -> str:
        return stable_id(self.org.name, *parts)

    def flush(self) -> None:
        store = self.org.store
        for ent_name, rows in self.rows.items():
            ent: Entity = self.org.schema.entity(ent_name)
            cols: list[str] = sorted(set().union(*map(dict.keys, rows)))
            store.insert_many(ent, cols, [tuple(map(r.get, cols)) for r in rows])
        for table, left, right in self.links:
            store.execute(f'INSERT OR IGNORE INTO "{table}" VALUES (?, ?)', (left, right))
        store.execute("UPDATE meta SET value = ? WHERE key = 'version'", (self.version,))
        store.execute("UPDATE list SET membercount = (SELECT COUNT(*) FROM listmember m "
                      "WHERE m.listid = list.listid)")
        self.rows.clear()
        self.links.clear()


def seed_security(b: Builder, online: bool) -> dict[str, str]:
    """Business units, privileges, roles, users and teams. Returns role ids by name."""
    org = b.org.name
    b.row("businessunit", b.root_bu, {"name": org})
    for bu in ("Sales Germany", "Sales UK"):
        b.row("businessunit", stable_id(org, "bu", bu),
              {"name": bu, "parentbusinessunitid": b.root_bu,
               "parentbusinessunitid_t": "businessunit"})
    privs: dict[str, str] = {}
    journeys = [e for e in JOURNEYS_ENTITIES if e in b.org.schema.by_name]
    for ent_name in PRIV_ENTITIES + journeys:
        schema_name = b.org.schema.entity(ent_name).schema_name
        for op in OPS:
            name = f"prv{op}{schema_name}"
            privs[name] = stable_id("privilege", name)
            b.row("privilege", privs[name], {"name": name, "canbeglobal": 1, "canbelocal": 1,
                                             "canbebasic": 1, "canbedeep": 1})
    for name in MISC_PRIVILEGES:
        privs[name] = stable_id("privilege", name)
        b.row("privilege", privs[name], {"name": name, "canbeglobal": 1, "canbelocal": 0,
                                         "canbebasic": 0, "canbedeep": 0})
    # The emulator's choice: the connector's admin role may also work with tasks and
    # run bulk delete jobs (and read the system jobs they create).
    mwx = ["contact", "account", "lead", "list", "campaign", "campaignactivity",
           "mwx_emailreaction", "listmember", "task"]
    readers = ["systemuser", "team", "businessunit", "role", "asyncoperation",
               "bulkdeleteoperation", *journeys[1:]]
    # Where Journeys is installed the connector's roles also write contact point consent;
    # binding a row to its purpose needs AppendTo on the purpose (docs/crm-solution.md §7).
    mwx += journeys[:1]
    binds = [f"prvAppendTo{b.org.schema.entity(e).schema_name}" for e in journeys[1:2]]
    user_ops = {"contact": OPS[:3] + OPS[4:6], "account": OPS[:3] + OPS[4:6],
                "lead": OPS[:3] + OPS[4:6], "list": ["Read", "Write", "Append", "AppendTo"],
                "campaign": ["Read", "Write"], "campaignactivity": ["Read", "Write"],
                "mwx_emailreaction": ["Create", "Read", "Write", "Append"],
                "listmember": ["Create", "Read"],
                **{e: ["Create", "Read", "Write", "Append"] for e in journeys[:1]}}
    role_privs = {
        "System Administrator": list(privs),
        "mailworx Administrator": [f"prv{op}{b.org.schema.entity(e).schema_name}"
                                   for e in mwx for op in OPS] +
                                  [f"prvRead{b.org.schema.entity(e).schema_name}"
                                   for e in readers] + MISC_PRIVILEGES + binds,
        "mailworx User": [f"prv{op}{b.org.schema.entity(e).schema_name}"
                          for e, ops in user_ops.items() for op in ops] +
                         [f"prvRead{b.org.schema.entity(e).schema_name}" for e in readers]
                         + binds,
        "Salesperson": ["prvReadContact", "prvReadAccount", "prvReadLead"],
    }
    roles: dict[str, str] = {}
    for role_name, granted in role_privs.items():
        roles[role_name] = stable_id(org, "role", role_name)
        b.row("role", roles[role_name], {"name": role_name, "businessunitid": b.root_bu,
                                         "businessunitid_t": "businessunit"})
        b.links.extend(("roleprivileges", roles[role_name], privs[p]) for p in granted)
    users: list[tuple[str, str, str, str, str | None, str | None]] = [
        ("admin", "CRM", "Admin", "System Administrator", "admin@contoso.onmicrosoft.com",
         f"{NTLM_DOMAIN}\\crmadmin")]
    if online:
        users += [("app", "# mailworx", "Connector", "mailworx Administrator", None, None),
                  ("limited", "# mailworx", "Limited", "mailworx User", None, None),
                  ("app2", "# mailworx", "Connector 2", "mailworx Administrator", None, None),
                  ("app3", "# mailworx", "Connector 3", "mailworx Administrator", None, None)]
    else:
        users += [("mwxsync", "mailworx", "Sync", "mailworx User", None, f"{NTLM_DOMAIN}\\mwxsync"),
                  ("reader", "Read", "Only", "Salesperson", None, f"{NTLM_DOMAIN}\\reader")]
    users += [("anna", "Anna", "Berger", "Salesperson", "anna.berger@contoso.example", None),
              ("john", "John", "Smith", "Salesperson", "john.smith@contoso.example", None),
              ("gone", "Gerhard", "Ausgeschieden", "Salesperson", None, None)]
    for key, first, last, role_name, email, domain in users:
        ident = b.admin_id if key == "admin" else stable_id(org, "user", key)
        app_id = {"app": CLIENT_ID, "limited": LIMITED_CLIENT_ID,
                  "app2": SECOND_CLIENT_ID, "app3": THIRD_CLIENT_ID}.get(key)
        b.row("systemuser", ident, {
            "firstname": first, "lastname": last, "internalemailaddress": email,
            "domainname": domain or email or f"{key}@{org}.example", "applicationid": app_id,
            "businessunitid": b.root_bu, "businessunitid_t": "businessunit",
            "isdisabled": int(key == "gone"), "accessmode": 4 if app_id else 0})
        b.links.append(("systemuserroles", ident, roles[role_name]))
    for team, bu in ((org, b.root_bu), ("Marketing DACH", stable_id(org, "bu", "Sales Germany")),
                     ("Marketing UK", stable_id(org, "bu", "Sales UK"))):
        tid = stable_id(org, "team", team)
        b.row("team", tid, {"name": team, "businessunitid": bu, "businessunitid_t": "businessunit",
                            "teamtype": 0, "isdefault": int(team == org)})
        b.links.append(("teamroles", tid, roles["Salesperson"]))
        b.links.append(("teammembership", tid, stable_id(org, "user", "anna")))
    return roles


def seed_journeys(b: Builder) -> None:
    """The purposes a new Customer Insights – Journeys compliance profile brings (solution
    data, so in every seed mode): commercial mail is checked non-restrictively,
    transactional mail not at all (docs/crm-solution.md §7). No consent rows."""
    for key, name, kind, model in (
            ("commercial", "Commercial communications", 534120000, 534120001),
            ("transactional", "Transactional communications", 534120001, 534120002)):
        b.row("msdynmkt_purpose", b.org_id("purpose", key), {
            "msdynmkt_name": name, "msdynmkt_type": kind, "msdynmkt_enforcementmodel": model,
            "msdynmkt_topiccount": 0})


def org_user(org: Org, key: str) -> str:
    return stable_id(org.name, "user", key)


def fast_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def populate(org: Org, mode: str) -> None:
    """Fill one organisation for a seed mode: empty | demo | bench:N."""
    from dynamics_emulator import seed_data

    b = Builder(org, random.Random(f"{org.name}-20240108"))  # noqa: S311 - fixture data, not secrets
    seed_security(b, online=org.kind == "online")
    if org.journeys:
        seed_journeys(b)
    if mode == "demo":
        seed_data.demo(b, 100 if org.kind == "online" else 15)
    elif mode.startswith("bench:") and (org.kind == "online" or org.name == "legacy2015"):
        # legacy2015 too: bench/sync_bench.py --org legacy2015 (the SOAP client).
        seed_data.bench(b, int(mode.split(":", 1)[1]))
    elif mode not in ("empty",) and not mode.startswith("bench:"):
        raise ValueError(f"unknown seed {mode!r}: use demo, empty or bench:N")
    b.flush()
    org.store.create_indexes()
    org.snapshot = org.store.snapshot()
