"""The `tables` setting: which streams go to which Dataverse table, and how.

`tables` maps a stream name to `{"table", "key", "columns", "lookups", "choices_by_label",
"deletes", "existing"}`. `table_errors` checks its shape at start-up (settings check, exit 2);
`parse_tables` turns a checked setting into `TableSpec`s. Whether the table and columns exist is
checked against Dataverse's metadata when the stream's sink starts (`table_sink`).
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass, field

if t.TYPE_CHECKING:
    from collections.abc import Collection, Mapping

ENTRY_KEYS = ("table", "key", "columns", "lookups", "choices_by_label", "deletes", "existing")
#: What an upsert does to a row that exists: update it, or leave it alone (create-only loads).
EXISTING = ("update", "skip")
LOOKUP_KEYS = ("table", "key")


@dataclass(frozen=True)
class Lookup:
    """A record field holding the key value of a row of another table (bound by key)."""

    table: str
    key: str


@dataclass(frozen=True)
class TableSpec:
    """One entry of `tables`: where a stream's records go and how they are written."""

    stream: str
    table: str
    key: tuple[str, ...]
    columns: dict[str, str] = field(default_factory=dict)
    lookups: dict[str, Lookup] = field(default_factory=dict)
    choices_by_label: tuple[str, ...] = ()
    deletes: bool = False
    existing: str = "update"

    def column(self, record_field: str) -> str:
        """Return the column a record field is written to (`columns`, else the same name)."""
        return self.columns.get(record_field, record_field)


def _key_columns(value: t.Any) -> tuple[str, ...]:
    """`"accountnumber"`, `"a,b"` or `["a", "b"]` → the key's columns."""
    parts = value.split(",") if isinstance(value, str) else value
    return tuple(str(part).strip() for part in parts if str(part).strip())


def _is_str_map(value: t.Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) and v.strip() for v in value.values())


def _entry_errors(stream: str, entry: t.Any) -> list[str]:
    where = f"tables.{stream}"
    if not isinstance(entry, dict):
        return [f"{where} must be an object with table and key"]
    errors = [
        f"{where}: unknown key '{name}' (allowed: {', '.join(ENTRY_KEYS)})"
        for name in entry
        if name not in ENTRY_KEYS
    ]
    if not isinstance(entry.get("table"), str) or not entry["table"].strip():
        errors.append(f"{where}.table is required: the table's logical name")
    key = entry.get("key")
    valid_key = isinstance(key, str) or (
        isinstance(key, list) and all(isinstance(part, str) for part in key)
    )
    if not valid_key or not _key_columns(key):
        errors.append(
            f"{where}.key is required: the alternate key column(s) or the primary id column"
        )
    if "columns" in entry and not _is_str_map(entry["columns"]):
        errors.append(f"{where}.columns must map record fields to column names")
    lookups = entry.get("lookups", {})
    if not isinstance(lookups, dict):
        errors.append(f"{where}.lookups must map record fields to {{table, key}}")
        lookups = {}
    for name, lookup in lookups.items():
        if not isinstance(lookup, dict) or not _is_str_map(lookup):
            errors.append(f"{where}.lookups.{name} must be {{table, key}}")
            continue
        errors += [
            f"{where}.lookups.{name}: unknown key '{k}' (allowed: table, key)"
            for k in lookup
            if k not in LOOKUP_KEYS
        ]
        errors += [
            f"{where}.lookups.{name}.{k} is required" for k in LOOKUP_KEYS if k not in lookup
        ]
    choices = entry.get("choices_by_label", [])
    if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
        errors.append(f"{where}.choices_by_label must be a list of choice column names")
    if not isinstance(entry.get("deletes", False), bool):
        errors.append(f"{where}.deletes must be true or false")
    if entry.get("existing", "update") not in EXISTING:
        errors.append(f"{where}.existing must be one of {', '.join(EXISTING)}")
    return errors


def table_errors(config: Mapping[str, t.Any], own_streams: Collection[str]) -> list[str]:
    """Return the problems of the `tables` setting (none when it is unset).

    `own_streams` are the streams with a sink of their own: naming one in `tables` is an error.
    """
    tables = config.get("tables")
    if tables is None:
        return []
    if not isinstance(tables, dict):
        return ["tables must map stream names to {table, key, ...}"]
    errors = []
    for stream, entry in tables.items():
        if stream in own_streams:
            errors.append(
                f"tables.{stream}: stream '{stream}' has its own sink "
                f"({', '.join(own_streams)} cannot be in tables)"
            )
        errors += _entry_errors(stream, entry)
    return errors


def parse_tables(config: Mapping[str, t.Any]) -> dict[str, TableSpec]:
    """Return the `tables` setting (already checked by `table_errors`) as specs by stream."""
    specs = {}
    for stream, entry in (config.get("tables") or {}).items():
        specs[stream] = TableSpec(
            stream=stream,
            table=entry["table"].strip(),
            key=_key_columns(entry["key"]),
            columns=dict(entry.get("columns") or {}),
            lookups={
                name: Lookup(lookup["table"], lookup["key"])
                for name, lookup in (entry.get("lookups") or {}).items()
            },
            choices_by_label=tuple(entry.get("choices_by_label") or ()),
            deletes=bool(entry.get("deletes", False)),
            existing=entry.get("existing", "update"),
        )
    return specs
