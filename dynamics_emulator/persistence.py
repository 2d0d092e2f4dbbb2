"""`--data-dir DIR`: the organisations' data survives a restart (even after SIGKILL).

Layout of DIR:

    emulator.json          manifest, written last: {"format": 1, "seed": "demo"}
    <org>.sqlite (+ -wal, -shm)   the live database of each organisation (WAL mode)
    <org>.seed.sqlite      the seeded state, what `reset()` goes back to
    token.key              the token-signing key: bearer tokens outlive a restart
    settings.json          emulator clock offset, change-tracking switches (/_admin)
    orgs.json              organisations created through /_admin/orgs (extra_orgs.py)
    emulator.lock          flock held by the running emulator: one per DIR

A DIR without `emulator.json` is new: the organisations are seeded in memory (as without
the option, so seeding is as fast), then copied to their files, then the manifest is
written. A start that dies half-way therefore seeds again next time. A DIR with the
manifest is reopened: `--seed` is ignored, the manifest's seed is what `reset()` restores.

Everything committed is in the file: records and their `versionnumber`, the change log
behind delta tokens, list members and N:N links, the organisation-wide row version. Every
write request is one SQLite transaction (webapi.dispatch), a `$batch` changeset is one
savepoint (batch.py), so a write cut off by a kill is either all there or not at all.
Not kept (they come from the command line again, as after a service restart): request
counters, service-protection windows, fault-injection rules.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import sqlite3
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dynamics_emulator import collation
from dynamics_emulator.clock import parse_dt
from dynamics_emulator.orgs import Org
from dynamics_emulator.storage import Store

if TYPE_CHECKING:
    from dynamics_emulator.app import Emulator

FORMAT = 1
MANIFEST = "emulator.json"


def _write_atomic(path: Path, data: bytes, mode: int = 0o644) -> None:
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, path)


class DataDir:
    def __init__(self, path: str | Path, seed: str) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        # One emulator per DIR: the lock goes with the process (also on SIGKILL).
        self._lock = (self.path / "emulator.lock").open("a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock.close()
            raise RuntimeError(f"{self.path} is in use by another emulator") from None
        manifest = self._read_json(self.path / MANIFEST)
        self.reopened = manifest is not None
        self.requested_seed = seed
        self.seed = str(manifest["seed"]) if manifest else seed
        if not self.reopened:  # left over from a dir whose manifest was removed
            (self.path / "settings.json").unlink(missing_ok=True)
        if manifest is not None and manifest.get("format") != FORMAT:
            raise RuntimeError(f"{self.path}: data format {manifest.get('format')!r}, this "
                               f"emulator writes {FORMAT}; use a new --data-dir")

    @staticmethod
    def _read_json(path: Path) -> dict[str, Any] | None:
        try:
            data = json.loads(path.read_text("utf-8"))
        except (FileNotFoundError, json.JSONDecodeError):
            return None
        return data if isinstance(data, dict) else None

    def _files(self, org: Org) -> tuple[Path, Path]:
        return self.path / f"{org.name}.sqlite", self.path / f"{org.name}.seed.sqlite"

    def open_org(self, org: Org) -> bool:
        """Reopen the organisation's files; False when it must be seeded (then `save_org`)."""
        live, seeded = self._files(org)
        if not (self.reopened and live.exists() and seeded.exists()):
            return False
        org.store.open_file(live)
        org.snapshot = self._snapshot(org, seeded)
        return True

    def save_org(self, org: Org) -> None:
        """After seeding in memory: the seed snapshot and the live database to their files."""
        live, seeded = self._files(org)
        org.store.copy_to_file(seeded)
        org.store.copy_to_file(live)
        org.store.open_file(live)
        if org.snapshot is not None:
            org.snapshot.close()
        org.snapshot = self._snapshot(org, seeded)

    @staticmethod
    def _snapshot(org: Org, path: Path) -> sqlite3.Connection:
        # Only read (reset), so no WAL: a plain file next to the live one.
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        collation.install(conn, org.store.text_collation)
        Store.migrate(conn, org.schema)
        return conn

    def commit(self) -> None:
        """The data dir is complete: later starts reopen it."""
        if not self.reopened:
            _write_atomic(self.path / MANIFEST,
                          json.dumps({"format": FORMAT, "seed": self.seed}).encode())

    def close(self, emu: Emulator) -> None:
        """Close the databases and release DIR (EmulatorServer.stop)."""
        for org in emu.orgs.values():
            org.store.close()
            if org.snapshot is not None:
                org.snapshot.close()
        self._lock.close()

    def token_key(self) -> bytes:
        path = self.path / "token.key"
        with contextlib.suppress(FileNotFoundError):
            key = path.read_bytes()
            if len(key) == 32:
                return key
        key = secrets.token_bytes(32)
        _write_atomic(path, key, 0o600)
        return key

    # -- run-time settings -------------------------------------------------------------
    def save_settings(self, emu: Emulator) -> None:
        data = {"clock_offset_seconds": emu.clock.offset_seconds,
                "tracking": {org.name: {"retention_days": org.change_retention_days,
                                        "entities": {e.name: e.change_tracking
                                                     for e in org.schema.by_name.values()}}
                             for org in emu.orgs.values()}}
        _write_atomic(self.path / "settings.json", json.dumps(data, indent=1).encode())

    def load_settings(self, emu: Emulator) -> None:
        data = self._read_json(self.path / "settings.json") or {}
        emu.clock.set_offset(float(data.get("clock_offset_seconds", 0)))
        for name, tracking in (data.get("tracking") or {}).items():
            org = emu.orgs.get(name)
            if org is None:
                continue
            org.change_retention_days = float(tracking.get("retention_days",
                                                           org.change_retention_days))
            for ent_name, enabled in (tracking.get("entities") or {}).items():
                ent = org.schema.by_name.get(ent_name)
                if ent is not None:
                    ent.change_tracking = bool(enabled)
        # The clock never goes backwards (clock.py): not behind anything already written.
        stamps = [t for t in (_latest_change(org) for org in emu.orgs.values()) if t]
        if stamps:
            emu.clock.not_before(max(stamps))


def _latest_change(org: Org) -> datetime | None:
    stamps = [org.store.scalar(f'SELECT MAX(modifiedon) FROM "{ent.name}"')
              for ent in org.schema.by_name.values() if "modifiedon" in ent.attrs]
    found = [s for s in stamps if s]
    return parse_dt(max(found)) if found else None
