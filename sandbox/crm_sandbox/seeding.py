"""Seed pieces shared by both vendors: name lists, the time span, and the fast bulk build.

A seed builds a fresh SQLite file (no journal, no sync, one transaction, indexes after the load)
and then swaps it in for the live database, which is much faster than deleting and inserting.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

# Seeded timestamps lie in the two years before this instant (fixed for reproducibility).
SEED_EPOCH = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
SPAN = 730 * 86400

FIRST = [
    "Ada",
    "Alan",
    "Anna",
    "Ben",
    "Carla",
    "Chen",
    "Clara",
    "David",
    "Elena",
    "Emma",
    "Farid",
    "Fatima",
    "George",
    "Grace",
    "Hannah",
    "Hugo",
    "Ines",
    "Ivan",
    "Jack",
    "Julia",
    "Karim",
    "Kate",
    "Lars",
    "Lea",
    "Liam",
    "Lucia",
    "Marco",
    "Maria",
    "Mia",
    "Noah",
    "Nora",
    "Olga",
    "Omar",
    "Paula",
    "Pedro",
    "Priya",
    "Quinn",
    "Rosa",
    "Ryan",
    "Sara",
    "Sofia",
    "Tariq",
    "Tom",
    "Uma",
    "Victor",
    "Vera",
    "Wei",
    "Xenia",
    "Yara",
    "Yusuf",
    "Zoe",
    "Ahmed",
    "Bianca",
    "Diego",
    "Eva",
    "Felix",
    "Hana",
    "Jonas",
    "Laila",
    "Mateo",
]
LAST = [
    "Adams",
    "Baker",
    "Bauer",
    "Becker",
    "Chen",
    "Costa",
    "Dubois",
    "Evans",
    "Fischer",
    "Garcia",
    "Gomez",
    "Hansen",
    "Hoffmann",
    "Ito",
    "Jansen",
    "Jones",
    "Kim",
    "Klein",
    "Kowalski",
    "Lambert",
    "Lee",
    "Lopez",
    "Martin",
    "Meyer",
    "Moreau",
    "Müller",
    "Nakamura",
    "Nguyen",
    "O'Brien",
    "Olsen",
    "Patel",
    "Peters",
    "Rossi",
    "Santos",
    "Schmidt",
    "Schulz",
    "Silva",
    "Smith",
    "Suzuki",
    "Tanaka",
    "Taylor",
    "Thomas",
    "Wagner",
    "Walker",
    "Weber",
    "Williams",
    "Wilson",
    "Wolf",
    "Wong",
    "Young",
    "Zimmermann",
    "Novak",
    "Horvat",
    "Rahman",
    "Haddad",
    "Okafor",
    "Mensah",
    "Dlamini",
    "Kaya",
    "Yilmaz",
]


class SwappableStore(Protocol):
    """A store whose database file can be replaced by a freshly built one."""

    @property
    def path(self) -> Path:
        """The live database file."""
        ...

    def replace(self, fresh: Path) -> None:
        """Swap in `fresh` (see `swap_in`) and reopen."""
        ...


@contextmanager
def fresh_database(store: SwappableStore, signature: str) -> Iterator[sqlite3.Connection]:
    """Yield a connection to a new file in one transaction; on success swap it in for `store`.

    The file's `_meta` table (created by the caller's schema) gets `seed = signature`.
    """
    fresh = store.path.with_name(store.path.name + ".seeding")
    fresh.unlink(missing_ok=True)
    conn = sqlite3.connect(fresh, isolation_level=None)
    try:
        for pragma in ("journal_mode=OFF", "synchronous=OFF", "cache_size=-262144"):
            conn.execute(f"PRAGMA {pragma}")
        conn.execute("BEGIN")
        yield conn
        conn.execute("INSERT INTO _meta VALUES ('seed', ?)", (signature,))
        conn.execute("COMMIT")
        conn.execute("ANALYZE")
    finally:
        conn.close()
    store.replace(fresh)


def swap_in(path: Path, fresh: Path) -> None:
    """Replace the (closed) database at `path` by `fresh`, dropping stale WAL files."""
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    os.replace(fresh, path)
