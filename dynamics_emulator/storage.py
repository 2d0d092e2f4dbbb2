"""SQLite storage: one table per entity with real columns, transactions, row versions.

One database per organisation, in memory or (`--data-dir`, persistence.py) in a file
in WAL mode, guarded by a re-entrant lock (SQLite
connections are not safe to share across threads without it). `transaction()`
nests through savepoints, so a `$batch` changeset (part 2) can roll back as a unit.
Every write bumps an organisation-wide row version and appends to `changelog`,
which is what change tracking (part 2) will read.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dynamics_emulator import collation
from dynamics_emulator.schema.model import Attr, Entity
from dynamics_emulator.schema.registry import Schema
from dynamics_emulator.schema.security import INTERSECTS

_SQL_TYPES = {
    "Integer": "INTEGER", "BigInt": "INTEGER", "Boolean": "INTEGER", "Picklist": "INTEGER",
    "State": "INTEGER", "Status": "INTEGER", "Decimal": "REAL", "Money": "REAL", "Double": "REAL",
}
INDEXED = ("emailaddress1", "emailaddress2", "emailaddress3", "modifiedon", "versionnumber",
           "applicationid", "domainname")
UNINDEXED = ("createdby", "modifiedby", "owningbusinessunit")
# File databases (--data-dir): WAL with synchronous=NORMAL commits without an fsync per
# transaction — durable across a killed process (what the emulator promises), not across a
# power cut. The page cache and mmap keep reads close to the in-memory speed.
FILE_PRAGMAS = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL",
                "PRAGMA cache_size=-65536", "PRAGMA mmap_size=268435456",
                "PRAGMA temp_store=MEMORY")


def columns_of(attr: Attr) -> list[str]:
    return [attr.name, f"{attr.name}_t"] if attr.is_lookup else [attr.name]


def _column_sql(attr: Attr) -> list[str]:
    sql_type = _SQL_TYPES.get(attr.kind, "TEXT")
    # Text follows the organisation's collation (collation.py); ids and dates are ASCII.
    collate = "" if sql_type != "TEXT" else (
        f" COLLATE {collation.NAME}" if attr.kind in ("String", "Memo") else " COLLATE NOCASE")
    cols = [f'"{attr.name}" {sql_type}{collate}']
    if attr.is_lookup:
        cols.append(f'"{attr.name}_t" TEXT')
    return cols


class Store:
    def __init__(self, schema: Schema, text_collation: str = collation.DEFAULT) -> None:
        self.schema = schema
        self.lock = threading.RLock()
        self.text_collation = text_collation
        self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        collation.install(self.conn, text_collation)
        self.conn.row_factory = sqlite3.Row
        self._depth = 0
        # Bumped by every write path (and rollbacks): read caches key on it (orgs.py).
        self.generation = 0
        self._create()

    def _create(self) -> None:
        cur = self.conn.cursor()
        cur.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER)")
        cur.execute("INSERT INTO meta VALUES ('version', 1000)")
        cur.execute("CREATE TABLE changelog (seq INTEGER PRIMARY KEY AUTOINCREMENT, "
                    "entity TEXT, id TEXT, op TEXT, version INTEGER)")
        cur.execute("CREATE INDEX ix_changelog ON changelog (entity, version)")
        for ent in self.schema.by_name.values():
            self._create_entity(cur, ent)
        for table in INTERSECTS:
            self._create_intersect(cur, table)

    @staticmethod
    def _create_entity(cur: sqlite3.Cursor, ent: Entity) -> None:
        cols: list[str] = []
        for attr in ent.attrs.values():
            cols.extend(_column_sql(attr))
        cols[0] += " PRIMARY KEY"
        cur.execute(f'CREATE TABLE "{ent.name}" ({", ".join(cols)})')
        for key_name, key_cols in ent.keys.items():
            cols_sql = ", ".join(f'"{c}"' for c in key_cols)
            cur.execute(f'CREATE UNIQUE INDEX "uk_{ent.name}_{key_name}" '
                        f'ON "{ent.name}" ({cols_sql})')
        if ent.name == "listmember":
            cur.execute('CREATE UNIQUE INDEX ix_listmember_pair ON listmember (listid, entityid)')

    @staticmethod
    def _create_intersect(cur: sqlite3.Cursor, table: str) -> None:
        left, right = INTERSECTS[table]
        cur.execute(f'CREATE TABLE "{table}" ("{left}" TEXT, "{right}" TEXT, '
                    f'PRIMARY KEY ("{left}", "{right}"))')
        cur.execute(f'CREATE INDEX "ix_{table}_{right}" ON "{table}" ("{right}")')

    # -- files (--data-dir) ------------------------------------------------------------
    @staticmethod
    def connect_file(path: Path, text_collation: str = collation.DEFAULT) -> sqlite3.Connection:
        conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # The tables' text columns and indexes name the collation: every connection needs it.
        collation.install(conn, text_collation)
        for pragma in FILE_PRAGMAS:
            conn.execute(pragma)
        return conn

    def copy_to_file(self, path: Path) -> None:
        """Write the whole database to `path` atomically (temporary file, then rename)."""
        tmp = path.with_name(path.name + ".tmp")
        for stale in (tmp, *_companions(path)):
            stale.unlink(missing_ok=True)
        target = sqlite3.connect(tmp)
        with self.lock:
            self.conn.backup(target)
        target.close()
        os.replace(tmp, path)

    def open_file(self, path: Path) -> None:
        """Switch to the database file `path` (made by `copy_to_file` in this or an
        earlier run); columns and tables the schema gained since are added."""
        conn = self.connect_file(path, self.text_collation)
        conn.row_factory = sqlite3.Row
        self.migrate(conn, self.schema)
        with self.lock:
            old, self.conn = self.conn, conn
            self.generation += 1
        old.close()
        self.create_indexes()

    @classmethod
    def migrate(cls, conn: sqlite3.Connection, schema: Schema) -> None:
        cur = conn.cursor()
        tables = {r[0] for r in cur.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        for ent in schema.by_name.values():
            if ent.name not in tables:
                cls._create_entity(cur, ent)
                continue
            have = {r[1] for r in cur.execute(f'PRAGMA table_info("{ent.name}")')}
            for attr in ent.attrs.values():
                for name, sql in zip(columns_of(attr), _column_sql(attr), strict=True):
                    if name not in have:
                        cur.execute(f'ALTER TABLE "{ent.name}" ADD COLUMN {sql}')
        for table in INTERSECTS:
            if table not in tables:
                cls._create_intersect(cur, table)

    def create_indexes(self) -> None:
        """Secondary indexes, created after the bulk seed (inserting into them is the slow part)."""
        with self.lock:
            for ent in self.schema.by_name.values():
                for attr in ent.attrs.values():
                    if attr.name in INDEXED or (attr.is_lookup and attr.name not in UNINDEXED):
                        self.conn.execute(f'CREATE INDEX IF NOT EXISTS "ix_{ent.name}_{attr.name}" '
                                          f'ON "{ent.name}" ("{attr.name}")')

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.lock:
            name = f"sp{self._depth}"
            self._depth += 1
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self.generation += 1
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                raise
            else:
                self.conn.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1

    def next_version(self) -> int:
        with self.lock:
            self.conn.execute("UPDATE meta SET value = value + 1 WHERE key = 'version'")
            row = self.conn.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
            return int(row[0])

    def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(r) for r in self.conn.execute(sql, params).fetchall()]

    def scalar(self, sql: str, params: Sequence[Any] = ()) -> Any:
        with self.lock:
            row = self.conn.execute(sql, params).fetchone()
            return row[0] if row else None

    def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        with self.lock:
            self.generation += 1
            return self.conn.execute(sql, params).rowcount

    def get(self, ent: Entity, key: str) -> dict[str, Any] | None:
        rows = self.fetch(f'SELECT * FROM "{ent.name}" WHERE "{ent.primary_id}" = ?', (key,))
        return rows[0] if rows else None

    def find_by_key(self, ent: Entity, values: dict[str, Any]) -> dict[str, Any] | None:
        where = " AND ".join(f'"{c}" = ?' for c in values)
        rows = self.fetch(f'SELECT * FROM "{ent.name}" WHERE {where}', list(values.values()))
        return rows[0] if rows else None

    def insert(self, ent: Entity, row: dict[str, Any]) -> None:
        cols = ", ".join(f'"{c}"' for c in row)
        marks = ", ".join("?" for _ in row)
        with self.transaction():
            self.conn.execute(f'INSERT INTO "{ent.name}" ({cols}) VALUES ({marks})',
                              list(row.values()))
            self._log(ent.name, str(row[ent.primary_id]), "upsert", row.get("versionnumber"))

    def insert_many(self, ent: Entity, cols: list[str], rows: list[tuple[Any, ...]]) -> None:
        """Bulk path for seeding: no change log entries (seed data predates any delta token)."""
        if not rows:
            return
        names = ", ".join(f'"{c}"' for c in cols)
        sql = f'INSERT INTO "{ent.name}" ({names}) VALUES ({", ".join("?" for _ in cols)})'
        with self.transaction():
            self.generation += 1
            self.conn.executemany(sql, rows)

    def update(self, ent: Entity, key: str, changes: dict[str, Any]) -> None:
        sets = ", ".join(f'"{c}" = ?' for c in changes)
        with self.transaction():
            self.conn.execute(f'UPDATE "{ent.name}" SET {sets} WHERE "{ent.primary_id}" = ?',
                              [*changes.values(), key])
            self._log(ent.name, key, "upsert", changes.get("versionnumber"))

    def delete(self, ent: Entity, key: str) -> None:
        with self.transaction():
            self.conn.execute(f'DELETE FROM "{ent.name}" WHERE "{ent.primary_id}" = ?', (key,))
            self._log(ent.name, key, "delete", self.next_version())

    def _log(self, entity: str, key: str, op: str, version: Any) -> None:
        self.generation += 1
        if version is None:
            version = self.next_version()  # every logged change is newer than any token
        self.conn.execute("INSERT INTO changelog (entity, id, op, version) VALUES (?, ?, ?, ?)",
                          (entity, key, op, version))

    def snapshot(self) -> sqlite3.Connection:
        copy = sqlite3.connect(":memory:", check_same_thread=False)
        with self.lock:
            self.conn.backup(copy)
        return copy

    def restore(self, snapshot: sqlite3.Connection) -> None:
        # One step (pages=-1), so a file database gets the whole snapshot in one commit.
        with self.lock:
            self.generation += 1
            snapshot.backup(self.conn)

    def close(self) -> None:
        with self.lock:
            self.conn.close()


def _companions(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]
