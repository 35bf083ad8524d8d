"""The on-disk table behind a key index: one SQLite file per Campaign resource and key.

Rows are Campaign records (PKey, key, href, values as read or written), plus the records
without a key by each `adopt_by` value. Only a batch's keys are ever in memory. The file
also holds what the index was built for (`identity`) and how far it is known to be complete
(`watermark`, `built_at`); see `keyindex` for how those are used.

Not thread-safe: the key index serialises access.
"""

from __future__ import annotations

import datetime
import fcntl
import sqlite3
import typing as t

import msgspec

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

#: Bump when the tables change: an older file is then rebuilt, never misread.
FORMAT = "1"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS record (
    id INTEGER PRIMARY KEY,
    pkey TEXT UNIQUE,  -- NULL: an import file creates it (`+pkey`: find those by key)
    key TEXT,
    href TEXT NOT NULL,
    doc BLOB
);
CREATE INDEX IF NOT EXISTS record_key ON record (key) WHERE key IS NOT NULL;
CREATE TABLE IF NOT EXISTS unlinked (
    field TEXT NOT NULL, value TEXT NOT NULL, pkey TEXT NOT NULL,
    PRIMARY KEY (field, value, pkey)
);
CREATE INDEX IF NOT EXISTS unlinked_pkey ON unlinked (pkey);
"""


class KeyIndexLockedError(Exception):
    """Another run holds the key index file (runs of one job must not overlap)."""


class Row(t.NamedTuple):
    """One record as stored."""

    pkey: str | None
    href: str
    values: dict[str, t.Any]


class KeyStore:
    """One SQLite file, locked while open."""

    def __init__(self, path: Path, *, durable: bool) -> None:
        """Open (or create) the file and lock it; `durable`: survive a machine dying."""
        self.path = path
        self._lock_file = path.with_suffix(path.suffix + ".lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            msg = f"the key index {path} is in use by another run of this target"
            raise KeyIndexLockedError(msg) from exc
        self.conn = sqlite3.connect(path, check_same_thread=False, isolation_level="DEFERRED")
        try:
            self.conn.execute("PRAGMA journal_mode=" + ("WAL" if durable else "OFF"))
            self.conn.execute("PRAGMA synchronous=" + ("NORMAL" if durable else "OFF"))
            self.conn.executescript(SCHEMA)
            self.conn.execute("SELECT count(*) FROM meta").fetchone()
        except sqlite3.DatabaseError:
            self.close()
            raise
        self._encoder = msgspec.json.Encoder()

    # --- meta -----------------------------------------------------------------------------

    def meta(self, name: str) -> str | None:
        """Return a meta value, None when unset."""
        row = self.conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return row[0] if row else None

    def set_meta(self, **values: str) -> None:
        """Set meta values (committed with the next `commit`)."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", values.items()
        )

    def time_meta(self, name: str) -> datetime.datetime | None:
        """Return a meta value written by `set_time_meta`."""
        value = self.meta(name)
        return datetime.datetime.fromisoformat(value) if value else None

    def set_time_meta(self, name: str, moment: datetime.datetime) -> None:
        """Set a meta value to an aware time."""
        self.set_meta(**{name: moment.isoformat()})

    # --- records --------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every record and meta value (before a full read)."""
        self.conn.execute("DELETE FROM meta")
        self.conn.execute("DELETE FROM record")
        self.conn.execute("DELETE FROM unlinked")

    def upsert(
        self,
        pkey: str,
        key: str | None,
        href: str,
        values: dict[str, t.Any] | None,
        unlinked: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Store a record as Campaign holds it; `unlinked`: its (field, value)s without a key.

        A record of this key created by an import file (no PKey yet) is replaced by it.
        """
        self.conn.execute("DELETE FROM unlinked WHERE pkey = ?", (pkey,))
        if key is not None:
            self.conn.execute("DELETE FROM record WHERE key = ? AND +pkey IS NULL", (key,))
        self.conn.execute(
            "INSERT INTO record (pkey, key, href, doc) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (pkey) DO UPDATE SET key = excluded.key, href = excluded.href, "
            "doc = excluded.doc",
            (pkey, key, href, self._encode(values)),
        )
        self.conn.executemany(
            "INSERT OR IGNORE INTO unlinked (field, value, pkey) VALUES (?, ?, ?)",
            ((name, value, pkey) for name, value in unlinked),
        )

    def put_pending(self, key: str, values: dict[str, t.Any]) -> None:
        """Store a record an import file creates (its PKey is read later)."""
        self.conn.execute("DELETE FROM record WHERE key = ? AND +pkey IS NULL", (key,))
        self.conn.execute(
            "INSERT INTO record (pkey, key, href, doc) VALUES (NULL, ?, '', ?)",
            (key, self._encode(values)),
        )

    def by_key(self, key: str, limit: int = 2) -> list[Row]:
        """Return up to `limit` records holding `key`."""
        rows = self.conn.execute(
            "SELECT pkey, href, doc FROM record WHERE key = ? LIMIT ?", (key, limit)
        ).fetchall()
        return [Row(pkey, href, self._decode(doc)) for pkey, href, doc in rows]

    def by_pkey(self, pkey: str) -> Row | None:
        """Return the record with this PKey."""
        row = self.conn.execute(
            "SELECT pkey, href, doc FROM record WHERE pkey = ?", (pkey,)
        ).fetchone()
        return Row(row[0], row[1], self._decode(row[2])) if row else None

    def count_key(self, key: str) -> int:
        """How many records hold `key`."""
        return int(
            self.conn.execute("SELECT count(*) FROM record WHERE key = ?", (key,)).fetchone()[0]
        )

    def remove_key(self, key: str) -> None:
        """Forget the records holding `key` (deleted)."""
        self.conn.execute(
            "DELETE FROM unlinked WHERE pkey IN (SELECT pkey FROM record WHERE key = ?)", (key,)
        )
        self.conn.execute("DELETE FROM record WHERE key = ?", (key,))

    def remove_pending(self, key: str) -> None:
        """Forget a record an import file did not create after all."""
        self.conn.execute("DELETE FROM record WHERE key = ? AND +pkey IS NULL", (key,))

    def remove_pending_all(self) -> None:
        """Forget every record an import file was to create and that was not read since."""
        self.conn.execute("DELETE FROM record WHERE pkey IS NULL")

    def unlinked_pkeys(self, field: str, value: str, limit: int | None = 2) -> list[str]:
        """Return (up to `limit`) records without a key whose `field` holds `value`."""
        rows = self.conn.execute(
            "SELECT pkey FROM unlinked WHERE field = ? AND value = ? ORDER BY pkey LIMIT ?",
            (field, value, -1 if limit is None else limit),
        ).fetchall()
        return [row[0] for row in rows]

    def claim(self, pkey: str) -> None:
        """Make a record without a key no adoption candidate any more, by any field."""
        self.conn.execute("DELETE FROM unlinked WHERE pkey = ?", (pkey,))

    def counts(self) -> tuple[int, int, int]:
        """Return (records read from Campaign, records with a key, records pending an import)."""
        read, keyed, pending = self.conn.execute(
            "SELECT count(pkey), count(key), count(*) - count(pkey) FROM record"
        ).fetchone()
        return int(read), int(keyed), int(pending)

    def unlinked_count(self) -> int:
        """How many records without a key are adoption candidates."""
        return int(self.conn.execute("SELECT count(DISTINCT pkey) FROM unlinked").fetchone()[0])

    def duplicated_keys(self, limit: int = 20) -> Iterator[tuple[str, int]]:
        """Yield keys held by several records, with how many hold each."""
        yield from self.conn.execute(
            "SELECT key, count(*) FROM record WHERE key IS NOT NULL GROUP BY key "
            "HAVING count(*) > 1 ORDER BY key LIMIT ?",
            (limit,),
        )

    def duplicated_key_count(self) -> int:
        """How many keys several records hold."""
        return int(
            self.conn.execute(
                "SELECT count(*) FROM (SELECT key FROM record WHERE key IS NOT NULL "
                "GROUP BY key HAVING count(*) > 1)"
            ).fetchone()[0]
        )

    # --- transactions ---------------------------------------------------------------------

    def commit(self) -> None:
        """Make what was stored since the last commit durable."""
        self.conn.commit()

    def rollback(self) -> None:
        """Forget what was stored since the last commit."""
        self.conn.rollback()

    def close(self) -> None:
        """Close the file (uncommitted changes are dropped) and release the lock."""
        self.conn.close()
        fcntl.flock(self._lock_file, fcntl.LOCK_UN)
        self._lock_file.close()

    def _encode(self, values: dict[str, t.Any] | None) -> bytes | None:
        return self._encoder.encode(values) if values is not None else None

    @staticmethod
    def _decode(doc: bytes | None) -> dict[str, t.Any]:
        return t.cast("dict[str, t.Any]", msgspec.json.decode(doc)) if doc else {}
