"""SQLite storage of the Campaign resources.

One table per resource, named after it, with an `AUTOINCREMENT` row id (never reused, so a stale
PKey cannot reach a newer record), the row's PKey, one column per stored field (item sub-fields
flattened, e.g. `location_city`; enumerations hold their stored value; links the target's PKey)
and, for opt-out booleans, `<field>_changed`: when that attribute last changed.
Strings compare case-sensitively, as on Campaign's PostgreSQL.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from crm_sandbox.clock import Clock
from crm_sandbox.seeding import swap_in

from . import datamodel, enumerations, logschema, subscriptions
from .dates import stamp
from .pkeys import Sealer
from .schema import (
    BOOLEAN,
    DOUBLE,
    ENUM,
    INTEGER,
    LINK,
    RESOURCES,
    Resource,
    storage_fields,
)

_SQL_TYPES = {BOOLEAN: "INTEGER", INTEGER: "INTEGER", DOUBLE: "REAL"}


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return f'"{name}"'


def changed_column(name: str) -> str:
    """Column holding the last change time of opt-out attribute `name`."""
    return f"{name}_changed"


def columns(resource: Resource) -> list[str]:
    """All storage columns of `resource`, in table order."""
    out = ["id", "pkey", *(f.column for f in storage_fields(resource))]
    return out + [changed_column(n) for n in resource.opt_outs]


def table_ddl(resource: Resource) -> str:
    """CREATE TABLE of a resource (enumerations: the column type of their basetype)."""
    cols = ["id INTEGER PRIMARY KEY AUTOINCREMENT", "pkey TEXT NOT NULL"]
    for f in storage_fields(resource):
        sql_type = _SQL_TYPES.get(f.kind, "TEXT")
        if f.kind == ENUM and f.enum is not None:
            sql_type = "INTEGER" if f.enum.numeric else "TEXT"
        cols.append(f"{q(f.column)} {sql_type}")
    cols += [f"{q(changed_column(n))} TEXT" for n in resource.opt_outs]
    return f"CREATE TABLE IF NOT EXISTS {q(resource.name)} ({', '.join(cols)})"


def index_statements(resource: Resource) -> list[str]:
    """Return DDL: unique identification key (non-null), indexes for orders, filters, links."""
    name = resource.name
    stmts = []
    if resource.key:
        stmts.append(
            f"CREATE UNIQUE INDEX IF NOT EXISTS {name}__key ON {q(name)} ({q(resource.key)})"
            f" WHERE {q(resource.key)} IS NOT NULL"
        )
    for f in storage_fields(resource):
        if f.name != resource.key and (f.sortable or f.kind == LINK or f.name == "email"):
            stmts.append(
                f"CREATE INDEX IF NOT EXISTS {name}__{f.column} ON {q(name)} ({q(f.column)})"
            )
    return stmts


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in (
        "journal_mode=WAL",
        "synchronous=NORMAL",
        "temp_store=MEMORY",
        "cache_size=-262144",
        "mmap_size=1073741824",
    ):
        conn.execute(f"PRAGMA {pragma}")
    return conn


class DuplicateKey(Exception):
    """An insert or update hit the unique identification key."""


class Store:
    """The Campaign instance's data (one connection: handlers never await mid-write)."""

    def __init__(self, path: Path, clock: Clock, sealer: Sealer) -> None:
        """Open (and create if needed) the database at `path`."""
        self.path = path
        self.clock = clock
        self.sealer = sealer
        self._open()

    def _open(self) -> None:
        self.conn = _connect(self.path)
        self.create_schema(self.conn)
        self.model = datamodel.DataModel(self.conn)
        self.sizes = {
            name: int(self.conn.execute(f"SELECT COUNT(*) FROM {q(name)}").fetchone()[0])
            for name in self.model.resources
        }

    def replace(self, fresh: Path) -> None:
        """Swap in a database file built elsewhere (a reseed) and reopen."""
        self.close()
        swap_in(self.path, fresh)
        self._open()

    @staticmethod
    def create_schema(conn: sqlite3.Connection, *, indexes: bool = True) -> None:
        """Create missing seeded tables (and indexes unless a bulk load follows).

        Also the data model's own tables: published definitions and stored enumerations (the
        schema's ones inserted when missing).
        """
        for resource in RESOURCES.values():
            conn.execute(table_ddl(resource))
            if indexes:
                for stmt in index_statements(resource):
                    conn.execute(stmt)
        conn.execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT)")
        datamodel.create_table(conn)
        enumerations.create_table(conn)
        logschema.create_tables(conn)
        subscriptions.create_table(conn)

    def meta(self, key: str) -> str | None:
        """Return a value of the sandbox's own key/value table (seed parameters)."""
        row = self.conn.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a value of the sandbox's own key/value table."""
        self.conn.execute("INSERT OR REPLACE INTO _meta (key, value) VALUES (?, ?)", (key, value))

    # --- rows -------------------------------------------------------------------------------

    def get(self, resource: Resource, row_id: int) -> dict[str, Any] | None:
        """One row as {column: value}, or None."""
        cur = self.conn.execute(f"SELECT * FROM {q(resource.name)} WHERE id = ?", (row_id,))
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def find_key(self, resource: Resource, value: str) -> int | None:
        """Row id of the record whose identification key is `value`."""
        assert resource.key is not None
        sql = f"SELECT id FROM {q(resource.name)} WHERE {q(resource.key)} = ?"
        row = self.conn.execute(sql, (value,)).fetchone()
        return None if row is None else int(row[0])

    def _stamp_opt_outs(
        self, resource: Resource, values: dict[str, Any], before: Mapping[str, Any], now: str
    ) -> None:
        for name in resource.opt_outs:
            if name in values and bool(values[name]) != bool(before.get(name)):
                values[changed_column(name)] = now

    def insert(self, resource: Resource, values: Mapping[str, Any]) -> dict[str, Any]:
        """Create a record (defaults, stamps, PKey) and return its row."""
        row: dict[str, Any] = {
            f.column: f.default for f in storage_fields(resource) if f.default is not None
        }
        row.update(values)
        now = stamp(self.clock.time())
        row["created"] = row["lastModified"] = now
        self._stamp_opt_outs(resource, row, {}, now)
        seq = self.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = ?", (resource.name,)
        ).fetchone()
        row["id"] = (int(seq[0]) if seq else 0) + 1
        row["pkey"] = self.sealer.pkey(resource.code, row["id"])
        names = list(row)
        sql = (
            f"INSERT INTO {q(resource.name)} ({', '.join(map(q, names))})"
            f" VALUES ({', '.join('?' * len(names))})"
        )
        try:
            self.conn.execute(sql, [row[n] for n in names])
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(str(exc)) from None
        self.sizes[resource.name] += 1
        return row

    def update(
        self, resource: Resource, current: Mapping[str, Any], values: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        """Apply the columns that differ from `current`; the new row, or None if identical."""
        changes = {k: v for k, v in values.items() if current.get(k) != v}
        if not changes:
            return None
        now = stamp(self.clock.time())
        changes["lastModified"] = now
        self._stamp_opt_outs(resource, changes, current, now)
        sets = ", ".join(f"{q(n)} = ?" for n in changes)
        try:
            self.conn.execute(
                f"UPDATE {q(resource.name)} SET {sets} WHERE id = ?",
                [*changes.values(), current["id"]],
            )
        except sqlite3.IntegrityError as exc:
            raise DuplicateKey(str(exc)) from None
        return {**current, **changes}

    def delete(self, resource: Resource, row: Mapping[str, Any]) -> None:
        """Delete a record; links pointing at it are emptied."""
        self.conn.execute(f"DELETE FROM {q(resource.name)} WHERE id = ?", (row["id"],))
        subscriptions.forget(self.conn, resource, int(row["id"]))
        self.sizes[resource.name] -= 1
        for other in self.model.resources.values():
            for f in other.fields:
                if f.kind == LINK and f.target == resource.name:
                    self.conn.execute(
                        f"UPDATE {q(other.name)} SET {q(f.column)} = NULL WHERE {q(f.column)} = ?",
                        (row["pkey"],),
                    )

    def close(self) -> None:
        """Close the connection."""
        self.conn.close()
