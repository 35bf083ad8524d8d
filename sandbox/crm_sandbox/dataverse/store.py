"""SQLite storage of the Dataverse tables, with org-wide row versions and delete tombstones.

One rowid table per schema `Table` (unique index on the primary key), one column per attribute
(`<lookup>` holds the GUID and `<lookup>__target` the logical name of the referenced table).
Every write takes the next value of a single org-wide version counter (`versionnumber`, also the
ETag) and stamps `modifiedon`; deletes leave a tombstone with their own version. Change
tracking reads both.

Two connections: the writer (all writes, serialised by the caller) and a reader, so queries see
only committed data while a `$batch` change set is open.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

from crm_sandbox.clock import Clock
from crm_sandbox.seeding import swap_in

from .schema import (
    BIGINT,
    BOOLEAN,
    DECIMAL,
    DOUBLE,
    INTEGER,
    KEY_ACTIVE,
    KEY_FAILED,
    KEY_PENDING,
    MEMO,
    MONEY,
    PICKLIST,
    STATE,
    STATUS,
    STRING,
    TABLES,
    Column,
    Table,
)
from .table_codec import table_from_json, table_to_json

_SQL_TYPES = {
    STRING: "TEXT COLLATE NOCASE",  # Dataverse compares and sorts strings case-insensitively
    MEMO: "TEXT COLLATE NOCASE",
    INTEGER: "INTEGER",
    BIGINT: "INTEGER",
    PICKLIST: "INTEGER",
    STATE: "INTEGER",
    STATUS: "INTEGER",
    BOOLEAN: "INTEGER",
    MONEY: "REAL",
    DECIMAL: "REAL",
    DOUBLE: "REAL",
}
NOT_NULL = frozenset({"createdon", "modifiedon", "versionnumber", "statecode", "statuscode"})
SYSTEM_STAMPED = frozenset({"createdon", "modifiedon", "versionnumber"})


def q(name: str) -> str:
    """Quote an SQL identifier."""
    return f'"{name}"'


def target_column(column: Column) -> str:
    """Storage column holding the referenced table of a lookup."""
    return f"{column.logical_name}__target"


def storage_columns(table: Table) -> list[tuple[str, str]]:
    """(name, SQL type) of every storage column of `table`."""
    out: list[tuple[str, str]] = []
    for column in table.columns:
        if column.is_lookup:
            out += [(column.logical_name, "TEXT"), (target_column(column), "TEXT")]
        elif column.is_primary_id:
            out.append((column.logical_name, "TEXT NOT NULL"))
        else:
            out.append((column.logical_name, _SQL_TYPES.get(column.attribute_type, "TEXT")))
    return out


def index_statements(table: Table) -> list[str]:
    """Indexes for paging on the usual order keys, change tracking and lookups."""
    name, pk = table.logical_name, table.primary_id
    stmts = [
        f"CREATE UNIQUE INDEX IF NOT EXISTS {name}__pk ON {q(name)} ({q(pk)})",
        f"CREATE UNIQUE INDEX IF NOT EXISTS {name}__version ON {q(name)} (versionnumber)",
        f"CREATE INDEX IF NOT EXISTS {name}__modifiedon ON {q(name)} (modifiedon, {q(pk)})",
        f"CREATE INDEX IF NOT EXISTS {name}__createdon ON {q(name)} (createdon, {q(pk)})",
    ]
    stmts += [
        f"CREATE INDEX IF NOT EXISTS {name}__{c.logical_name} ON {q(name)} ({q(c.logical_name)})"
        for c in table.columns
        if c.is_lookup and c.logical_name != "ownerid"
    ]
    stmts += [
        f"CREATE INDEX IF NOT EXISTS {name}__key{i} ON {q(name)} ({', '.join(map(q, key))})"
        for i, key in enumerate(table.alternate_keys)
    ]
    stmts += [
        unique_key_statement(table, key.logical_name, key.attributes)
        for key in table.key_definitions
        if key.status == KEY_ACTIVE
    ]
    return stmts


def unique_key_statement(table: Table, key_name: str, attributes: Sequence[str]) -> str:
    """Return the unique index behind a created alternate key (what its index job builds)."""
    name = table.logical_name
    return (
        f"CREATE UNIQUE INDEX IF NOT EXISTS {q(f'{name}__ukey_{key_name}')}"
        f" ON {q(name)} ({', '.join(map(q, attributes))})"
    )


def _connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA temp_store=MEMORY")
    conn.execute("PRAGMA cache_size=-262144")
    conn.execute("PRAGMA mmap_size=1073741824")
    return conn


CUSTOM_TABLES = "_custom_tables"
# System jobs (bulk delete): their asyncoperation and bulkdeleteoperation, see `systemjobs`.
SYSTEM_JOBS = "_systemjob"
SYSTEM_JOB_COLUMNS = (
    "asyncoperationid TEXT PRIMARY KEY, bulkdeleteoperationid TEXT NOT NULL, name TEXT,"
    " ownerid TEXT, statecode INTEGER, statuscode INTEGER, createdon TEXT, modifiedon TEXT,"
    " startedon TEXT, completedon TEXT, postponeuntil TEXT, due REAL, queryset TEXT,"
    " successcount INTEGER, failurecount INTEGER, message TEXT, versionnumber INTEGER"
)


class Store:
    """The organisation's data.

    The tables are the seeded ones given to the constructor plus the tables created through the
    Web API, whose definitions live in the database itself (`_custom_tables`), so a restarted
    sandbox with the same state dir (and a reseed) keeps them. `created` holds every definition
    kept there: created tables, and seeded tables that got alternate keys through the Web API
    (only their keys are read back, the rest comes from `schema.py`).
    """

    def __init__(self, path: Path, clock: Clock, tables: Sequence[Table] = TABLES) -> None:
        """Open (and create if needed) the database at `path`."""
        self.path = path
        self.clock = clock
        self.static_tables = tuple(tables)
        self.created: dict[str, Table] = {}
        self._set_tables()
        self._open()

    def _set_tables(self) -> None:
        static = [t for t in self.static_tables if t.logical_name not in self.created]
        self.tables = (*static, *self.created.values())
        self.by_name = {t.logical_name: t for t in self.tables}

    def _open(self) -> None:
        self.writer = _connect(self.path)
        self._load_created()
        self.create_schema(self.writer)
        self.reader = _connect(self.path)
        self.version = self._max_version()

    def _load_created(self) -> None:
        self.writer.execute(
            f"CREATE TABLE IF NOT EXISTS {CUSTOM_TABLES} (name TEXT PRIMARY KEY, definition TEXT)"
        )
        rows = self.writer.execute(f"SELECT definition FROM {CUSTOM_TABLES} ORDER BY rowid")
        static = {t.logical_name: t for t in self.static_tables}
        self.created = {}
        for stored in map(table_from_json, (r[0] for r in rows)):
            if stored.created:
                self.created[stored.logical_name] = stored
            elif stored.logical_name in static:  # a seeded table with keys added: keep only those
                self.created[stored.logical_name] = replace(
                    static[stored.logical_name],
                    alternate_keys=stored.alternate_keys,
                    key_definitions=stored.key_definitions,
                )
        self._set_tables()

    def replace(self, fresh: Path) -> None:
        """Swap in a database file built elsewhere (a reseed) and reopen the connections."""
        self.close()
        swap_in(self.path, fresh)
        self._open()

    # --- schema -----------------------------------------------------------------------------

    def create_schema(self, conn: sqlite3.Connection, *, indexes: bool = True) -> None:
        """Create missing tables (and their indexes unless a bulk load follows)."""
        for table in self.tables:
            cols = ", ".join(f"{q(n)} {t}" for n, t in storage_columns(table))
            conn.execute(f"CREATE TABLE IF NOT EXISTS {q(table.logical_name)} ({cols})")
            if indexes:
                for stmt in index_statements(table):
                    conn.execute(stmt)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS _tombstone (entity TEXT NOT NULL, id TEXT NOT NULL,"
            " version INTEGER NOT NULL, deletedon TEXT NOT NULL)"
        )
        conn.execute("CREATE INDEX IF NOT EXISTS _tombstone_v ON _tombstone (entity, version)")
        conn.execute("CREATE TABLE IF NOT EXISTS _meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.execute(f"CREATE TABLE IF NOT EXISTS {SYSTEM_JOBS} ({SYSTEM_JOB_COLUMNS})")
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {CUSTOM_TABLES} (name TEXT PRIMARY KEY, definition TEXT)"
        )
        for table in self.created.values():
            self._save_definition(conn, table)

    @staticmethod
    def _save_definition(conn: sqlite3.Connection, table: Table) -> None:
        conn.execute(
            f"INSERT INTO {CUSTOM_TABLES} VALUES (?, ?) ON CONFLICT(name) DO UPDATE"
            " SET definition = excluded.definition",
            (table.logical_name, table_to_json(table)),
        )

    # --- tables created through the Web API -------------------------------------------------

    def add_table(self, table: Table) -> None:
        """Create a new table (any leftover storage of that name is dropped first)."""
        name = table.logical_name
        self.writer.execute(f"DROP TABLE IF EXISTS {q(name)}")
        self.writer.execute("DELETE FROM _tombstone WHERE entity = ?", (name,))
        cols = ", ".join(f"{q(n)} {t}" for n, t in storage_columns(table))
        self.writer.execute(f"CREATE TABLE {q(name)} ({cols})")
        for stmt in index_statements(table):
            self.writer.execute(stmt)
        self._store_definition(table)

    def change_table(self, table: Table) -> None:
        """Replace a stored table definition, adding storage for columns it did not have."""
        existing = {
            r[1] for r in self.writer.execute(f"PRAGMA table_info({q(table.logical_name)})")
        }
        for name, sql_type in storage_columns(table):
            if name not in existing:
                sql_type = sql_type.replace(" NOT NULL", "")
                self.writer.execute(
                    f"ALTER TABLE {q(table.logical_name)} ADD COLUMN {q(name)} {sql_type}"
                )
        self._store_definition(table)

    def _store_definition(self, table: Table) -> None:
        self._save_definition(self.writer, table)
        self.created[table.logical_name] = table
        self._set_tables()

    def keys_due(self) -> bool:
        """Return True when a created key's index job is due (see `activate_due_keys`)."""
        now = self.clock.time()
        return any(
            k.status == KEY_PENDING and k.ready_at <= now
            for t in self.created.values()
            for k in t.key_definitions
        )

    def activate_due_keys(self) -> None:
        """Finish due index jobs: build the unique index (Active), or Failed on duplicates."""
        now = self.clock.time()
        for table in list(self.created.values()):
            keys, active = [], list(table.alternate_keys)
            for key in table.key_definitions:
                if key.status == KEY_PENDING and key.ready_at <= now:
                    status = KEY_ACTIVE
                    try:
                        self.writer.execute(
                            unique_key_statement(table, key.logical_name, key.attributes)
                        )
                        active.append(key.attributes)
                    except sqlite3.IntegrityError:
                        status = KEY_FAILED
                    key = replace(key, status=status)
                keys.append(key)
            if keys != list(table.key_definitions):
                changed = replace(table, key_definitions=tuple(keys), alternate_keys=tuple(active))
                for stmt in index_statements(changed):
                    self.writer.execute(stmt)
                self._store_definition(changed)

    def _max_version(self) -> int:
        parts = [f"SELECT MAX(versionnumber) AS v FROM {q(t.logical_name)}" for t in self.tables]
        parts.append("SELECT MAX(version) AS v FROM _tombstone")
        row = self.writer.execute(f"SELECT MAX(v) FROM ({' UNION ALL '.join(parts)})")
        return int(row.fetchone()[0] or 0)

    def meta(self, key: str) -> str | None:
        """Return a value from the sandbox's own key/value table (seed parameters)."""
        row = self.reader.execute("SELECT value FROM _meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Store a sandbox key/value."""
        self.writer.execute("INSERT OR REPLACE INTO _meta VALUES (?, ?)", (key, value))

    # --- transactions -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Atomic unit on the writer connection; nests (SAVEPOINTs) inside an open change set."""
        self.writer.execute("SAVEPOINT w")
        version = self.version
        try:
            yield
        except BaseException:
            self.writer.execute("ROLLBACK TO w")
            self.writer.execute("RELEASE w")
            self.version = version
            raise
        self.writer.execute("RELEASE w")

    def next_version(self) -> int:
        """Take the next org-wide row version."""
        self.version += 1
        return self.version

    # --- rows -------------------------------------------------------------------------------

    def table(self, logical_name: str) -> Table:
        """Return schema of a table by logical name."""
        return self.by_name[logical_name]

    def get(self, table: Table, pk: str, *, writer: bool = False) -> dict[str, Any] | None:
        """One row as {storage column: value}, or None."""
        conn = self.writer if writer else self.reader
        cur = conn.execute(
            f"SELECT * FROM {q(table.logical_name)} WHERE {q(table.primary_id)} = ?", (pk.lower(),)
        )
        row = cur.fetchone()
        if row is None:
            return None
        return dict(zip([d[0] for d in cur.description], row, strict=True))

    def exists(self, logical_name: str, pk: str) -> bool:
        """Return True when `pk` is a row of the table `logical_name` (read through the writer)."""
        table = self.by_name.get(logical_name)
        if table is None:
            return False
        sql = f"SELECT 1 FROM {q(logical_name)} WHERE {q(table.primary_id)} = ?"
        return self.writer.execute(sql, (pk.lower(),)).fetchone() is not None

    def find_by_key(self, table: Table, key: Mapping[str, Any]) -> str | None:
        """Primary key of the row matching an alternate key, through the writer."""
        where = " AND ".join(f"{q(n)} = ?" for n in key)
        sql = f"SELECT {q(table.primary_id)} FROM {q(table.logical_name)} WHERE {where}"
        row = self.writer.execute(sql, tuple(key.values())).fetchone()
        return None if row is None else str(row[0])

    def _computed(self, table: Table, row: dict[str, Any]) -> None:
        if table.primary_name == "fullname" and ("firstname" in row or "lastname" in row):
            parts = [row.get("firstname"), row.get("lastname")]
            row["fullname"] = " ".join(p for p in parts if p) or None

    def insert(self, table: Table, values: Mapping[str, Any], *, owner: str) -> dict[str, Any]:
        """Create a row (defaults, owner, stamps, version) and return it."""
        row: dict[str, Any] = {}
        for column in table.columns:
            if column.default is not None:
                row[column.logical_name] = column.default
        if table.column("ownerid") is not None:
            row["ownerid"], row["ownerid__target"] = owner, "systemuser"
        row.update(values)
        stamp = self.clock.stamp()
        row["createdon"] = row["modifiedon"] = stamp
        row["versionnumber"] = self.next_version()
        self._computed(table, row)
        names = list(row)
        sql = (
            f"INSERT INTO {q(table.logical_name)} ({', '.join(map(q, names))})"
            f" VALUES ({', '.join('?' * len(names))})"
        )
        self.writer.execute(sql, [row[n] for n in names])
        return row

    def update(self, table: Table, pk: str, values: Mapping[str, Any]) -> dict[str, Any] | None:
        """Change columns of an existing row (new version, modifiedon); None when absent."""
        current = self.get(table, pk, writer=True)
        if current is None:
            return None
        changes = {k: v for k, v in values.items() if k not in SYSTEM_STAMPED}
        if "firstname" in changes or "lastname" in changes:
            merged = {**current, **changes}
            self._computed(table, merged)
            changes["fullname"] = merged.get("fullname")
        changes["modifiedon"] = self.clock.stamp()
        changes["versionnumber"] = self.next_version()
        sets = ", ".join(f"{q(n)} = ?" for n in changes)
        self.writer.execute(
            f"UPDATE {q(table.logical_name)} SET {sets} WHERE {q(table.primary_id)} = ?",
            [*changes.values(), pk.lower()],
        )
        current.update(changes)
        return current

    def delete(self, table: Table, pk: str) -> bool:
        """Delete a row and leave a tombstone for change tracking; False when absent."""
        cur = self.writer.execute(
            f"DELETE FROM {q(table.logical_name)} WHERE {q(table.primary_id)} = ?", (pk.lower(),)
        )
        if cur.rowcount == 0:
            return False
        self.writer.execute(
            "INSERT INTO _tombstone VALUES (?, ?, ?, ?)",
            (table.logical_name, pk.lower(), self.next_version(), self.clock.stamp()),
        )
        return True

    def primary_names(self, logical_name: str, ids: Iterable[str]) -> dict[str, str | None]:
        """Primary name of each referenced row (for lookup FormattedValue annotations)."""
        table = self.by_name.get(logical_name)
        wanted = list(dict.fromkeys(ids))
        if table is None or not wanted:
            return {}
        out: dict[str, str | None] = {}
        for start in range(0, len(wanted), 900):
            chunk = wanted[start : start + 900]
            sql = (
                f"SELECT {q(table.primary_id)}, {q(table.primary_name)} FROM {q(logical_name)}"
                f" WHERE {q(table.primary_id)} IN ({', '.join('?' * len(chunk))})"
            )
            out.update(self.reader.execute(sql, chunk).fetchall())
        return out

    def counts(self) -> dict[str, int]:
        """Row count per table (entity set name → count)."""
        return {
            t.entity_set_name: self.reader.execute(
                f"SELECT COUNT(*) FROM {q(t.logical_name)}"
            ).fetchone()[0]
            for t in self.tables
        }

    def close(self) -> None:
        """Close both connections."""
        self.reader.close()
        self.writer.close()
