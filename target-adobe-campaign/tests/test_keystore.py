"""The key index's SQLite file: every look-up by key uses the key's index (no table scan).

A scan per record makes a million-record load quadratic: a statement on `pkey IS NULL` let
SQLite pick the PKey index and walk every pending row for each new one.
"""

from __future__ import annotations

import inspect
import typing as t

import pytest
from target_adobe_campaign import keystore
from target_adobe_campaign.keystore import KeyStore

if t.TYPE_CHECKING:
    from pathlib import Path

BY_KEY = [
    "SELECT pkey, href, doc FROM record WHERE key = ? LIMIT 2",
    "SELECT count(*) FROM record WHERE key = ?",
    "DELETE FROM record WHERE key = ? AND +pkey IS NULL",
    "DELETE FROM record WHERE key = ?",
]


@pytest.fixture
def store(tmp_path: Path) -> t.Iterator[KeyStore]:
    opened = KeyStore(tmp_path / "index.sqlite", durable=False)
    yield opened
    opened.close()


@pytest.mark.parametrize("statement", BY_KEY)
def test_statements_by_key_search_the_key_index(store: KeyStore, statement: str) -> None:
    params = ("k",) if statement.count("?") == 1 else ("k", 2)
    plan = store.conn.execute(f"EXPLAIN QUERY PLAN {statement}", params).fetchall()
    assert any("INDEX record_key (key=?)" in str(step) for step in plan), plan


def test_the_statements_checked_are_those_the_store_runs() -> None:
    source = inspect.getsource(keystore)
    for statement in BY_KEY:
        assert statement.replace("LIMIT 2", "LIMIT ?") in source


def test_a_pending_record_is_replaced_by_the_record_read(store: KeyStore) -> None:
    store.put_pending("k", {"externalId": "k"})
    assert store.counts() == (0, 1, 1)
    store.upsert("@p", "k", "profile/@p", {"externalId": "k", "PKey": "@p"})
    assert store.counts() == (1, 1, 0)
    (row,) = store.by_key("k")
    assert row.pkey == "@p"
