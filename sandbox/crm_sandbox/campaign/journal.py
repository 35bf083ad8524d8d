"""The I/O Events journal of the sandbox's one event registration: storage, positions, expiry.

Events are appended in units (one admin action = one unit, like the "storage units" Adobe's
journal persists groups of events in); a batch never spans two units, so `limit` is an upper
bound only. Positions are opaque (sealed journal epoch + sequence number): a reseed starts a
new journal whose positions are unrelated to the old one's.

Expiry: events written more than `journal_retention_days` ago (sandbox clock) are purged from
the beginning. A position is expired when events after it have been purged (`since` would skip
them); the position of the newest purged event itself stays usable when nothing after it was
lost, so the `next` link of a 204 on a fully expired journal keeps working.
"""

from __future__ import annotations

import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec

if TYPE_CHECKING:
    from .runtime import Runtime

_SEQ = struct.Struct(">Q")
_EPOCH = "journal_epoch"
_PURGED = "journal_purged_through"
_encoder = msgspec.json.Encoder()
DEFAULT_BATCH = 500  # events in a batch when the client gives no `limit`
MAX_BATCH = 10_000  # whatever the `limit`


class BadPosition(Exception):
    """A `since` value that is not a position of this journal's kind at all (400)."""


class ExpiredPosition(Exception):
    """A position whose following events expired, or of a former journal (410)."""


@dataclass(frozen=True)
class Entry:
    """One journal event: sequence number and CloudEvent."""

    seq: int
    event: dict[str, Any]


class Journal:
    """Reads and writes the `_journal` table of the Campaign store."""

    def __init__(self, rt: Runtime) -> None:
        """Work on the runtime's store (its connection changes on a reseed), clock and settings."""
        self.rt = rt

    def _epoch(self) -> bytes:
        store = self.rt.store
        value = store.meta(_EPOCH)
        if value is None:
            value = secrets.token_hex(8)
            store.set_meta(_EPOCH, value)
        return bytes.fromhex(value)

    def purged_through(self) -> int:
        """Sequence number of the newest purged event (0: none)."""
        return int(self.rt.store.meta(_PURGED) or 0)

    def end(self) -> int:
        """Sequence number of the newest event ever written (0: none)."""
        row = self.rt.store.conn.execute(
            "SELECT seq FROM sqlite_sequence WHERE name = '_journal'"
        ).fetchone()
        return int(row[0]) if row else 0

    # --- positions ---------------------------------------------------------------------------

    def position(self, seq: int) -> str:
        """Opaque position of event `seq` (URL-safe, no `@`)."""
        return self.rt.sealer.seal(b"journal", self._epoch() + _SEQ.pack(seq))[1:]

    def parse(self, position: str) -> int:
        """Sequence number of a usable position; BadPosition or ExpiredPosition otherwise."""
        payload = self.rt.sealer.open(b"journal", "@" + position)
        if payload is None or len(payload) != 16:
            raise BadPosition(position)
        seq = int(_SEQ.unpack(payload[8:])[0])
        if payload[:8] != self._epoch() or seq < self.purged_through() or seq > self.end():
            raise ExpiredPosition(position)
        return seq

    # --- writing and expiry ------------------------------------------------------------------

    def append(self, events: Sequence[tuple[str, dict[str, Any]]]) -> int:
        """Append (type, CloudEvent) pairs as one unit; return how many were written."""
        if not events:
            return 0
        conn = self.rt.store.conn
        unit = int(conn.execute("SELECT COALESCE(MAX(unit), 0) + 1 FROM _journal").fetchone()[0])
        now = self.rt.clock.time()
        conn.executemany(
            "INSERT INTO _journal (unit, written, type, event) VALUES (?, ?, ?, ?)",
            [(unit, now, kind, _encoder.encode(event).decode()) for kind, event in events],
        )
        return len(events)

    def purge(self) -> int:
        """Drop events older than the retention; return how many."""
        conn = self.rt.store.conn
        cutoff = self.rt.clock.time() - self.rt.settings.journal_retention_days * 86400
        row = conn.execute("SELECT MAX(seq) FROM _journal WHERE written < ?", (cutoff,)).fetchone()
        if row[0] is None:
            return 0
        last = int(row[0])
        dropped = conn.execute("DELETE FROM _journal WHERE seq <= ?", (last,)).rowcount
        self.rt.store.set_meta(_PURGED, str(max(last, self.purged_through())))
        return int(dropped)

    # --- reading -----------------------------------------------------------------------------

    def read(self, after: int, limit: int | None) -> list[Entry]:
        """Events after sequence `after`: at most `limit` (capped), all from the same unit."""
        rows = self.rt.store.conn.execute(
            "SELECT seq, unit, event FROM _journal WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, min(limit or DEFAULT_BATCH, MAX_BATCH)),
        ).fetchall()
        unit = rows[0][1] if rows else None
        return [Entry(int(s), msgspec.json.decode(e)) for s, u, e in rows if u == unit]

    def stats(self) -> dict[str, Any]:
        """Return counts per type and the oldest/newest positions (after purging)."""
        self.purge()
        conn = self.rt.store.conn
        by_type = dict(conn.execute("SELECT type, COUNT(*) FROM _journal GROUP BY type"))
        first, last = conn.execute("SELECT MIN(seq), MAX(seq) FROM _journal").fetchone()
        return {
            "count": sum(by_type.values()),
            "by_type": by_type,
            "oldest_position": None if first is None else self.position(int(first)),
            "newest_position": None if last is None else self.position(int(last)),
            "end_position": self.position(self.end()),
            "purged_through": self.purged_through(),
            "retention_days": self.rt.settings.journal_retention_days,
        }
