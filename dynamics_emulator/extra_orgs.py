"""More online organisations at run time: `POST /_admin/orgs` and `--orgs N`.

A real customer has an organisation of their own; benchmarks with many tenants need as
many, each with its own storage, so no tenant sees another's records (a marketing list
marked for mailworx in one organisation must not be adopted by the next tenant, S1).

    POST /_admin/orgs  {"name": "t07", "like": "contoso", "seed": "empty"}

`like` names an existing online organisation: the new one takes its version, API
versions, directory (so the same app registrations get tokens for it), collation and
Journeys tables; it gets its own organisation id, its own database, its own URL prefix
`/<name>/api/data/v9.2/`, its own service-protection windows and server-time ledger
(both keyed by organisation). `seed` is `empty`, `demo` or `bench:N` as for `--seed`.

With `--data-dir` the created organisations are listed in `orgs.json` (written after the
organisation's files), so a restart reopens them.
"""

from __future__ import annotations

import json
import re
import threading
from typing import TYPE_CHECKING, Any

from dynamics_emulator.orgs import Org, stable_id
from dynamics_emulator.seed import populate

if TYPE_CHECKING:
    from dynamics_emulator.app import Emulator

# Lower case only: the front end lower-cases the org segment of every path (app.py).
_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")
RECORD = "orgs.json"
_lock = threading.Lock()


class OrgError(ValueError):
    """Bad input for a new organisation (answered 400)."""


def _check_seed(seed: str) -> str:
    if seed in ("empty", "demo"):
        return seed
    if seed.startswith("bench:") and seed[6:].isdigit():
        return seed
    raise OrgError(f"unknown seed {seed!r}: use empty, demo or bench:N")


def create(emu: Emulator, body: Any) -> Org:
    """Validate a `POST /_admin/orgs` body and create the organisation."""
    if not isinstance(body, dict):
        raise OrgError("the body must be a JSON object with name, like and seed")
    name, like = str(body.get("name") or ""), str(body.get("like") or "contoso")
    seed = _check_seed(str(body.get("seed") or "empty"))
    if not _NAME.match(name):
        raise OrgError(
            f"invalid name {name!r}: lower-case letters, digits and '-', "
            "starting with a letter, at most 63 characters"
        )
    with _lock:
        if name in emu.orgs or name in emu.tokens.tenants:
            raise OrgError(f"an organisation named {name!r} exists already")
        template = emu.orgs.get(like)
        if template is None or template.kind != "online":
            online = ", ".join(o.name for o in emu.orgs.values() if o.kind == "online")
            raise OrgError(f"unknown template {like!r}: name an online organisation ({online})")
        org = add(emu, name, template, seed)
        _record(emu, {"name": name, "like": like, "seed": seed})
    return org


def add(emu: Emulator, name: str, template: Org, seed: str) -> Org:
    """A copy of `template`'s shape with its own data; reopened from the data dir if there."""
    org = Org(
        name,
        template.kind,
        template.version,
        template.api_versions,
        stable_id("org", name),
        tenant_id=template.tenant_id,
        collation=template.collation,
        journeys=template.journeys,
    )
    org.change_retention_days = emu.change_retention_days
    if emu.data is None or not emu.data.open_org(org):
        populate(org, seed)
        if emu.data is not None:
            emu.data.save_org(org)
    emu.register_org(org)
    return org


def add_numbered(emu: Emulator, count: int, seed: str = "empty") -> list[Org]:
    """`--orgs N`: t00, t01, … like contoso (names that exist already are kept)."""
    width = max(2, len(str(count - 1)))
    made = []
    for i in range(count):
        name = f"t{i:0{width}d}"
        if name not in emu.orgs:
            made.append(create(emu, {"name": name, "like": "contoso", "seed": seed}))
    return made


def restore(emu: Emulator) -> None:
    """At start with a data dir: the organisations created in earlier runs."""
    if emu.data is None or not emu.data.reopened:  # a new dir: leftovers are not ours
        return
    for spec in _recorded(emu):
        template = emu.orgs.get(spec["like"])
        if spec["name"] not in emu.orgs and template is not None:
            add(emu, spec["name"], template, spec["seed"])


def _recorded(emu: Emulator) -> list[dict[str, str]]:
    assert emu.data is not None
    try:
        specs = json.loads((emu.data.path / RECORD).read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return []
    return [s for s in specs if isinstance(s, dict)] if isinstance(specs, list) else []


def _record(emu: Emulator, spec: dict[str, str]) -> None:
    if emu.data is None:
        return
    from dynamics_emulator.persistence import _write_atomic

    specs = [*_recorded(emu), spec]
    _write_atomic(emu.data.path / RECORD, json.dumps(specs, indent=1).encode())
