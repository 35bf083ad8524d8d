"""Stored enumerations (`xtk:enum`): the database rows behind every enumeration field.

Campaign Standard's REST API reads enumerations but cannot write them; Campaign Classic/v8's
SOAP `xtk:session#Write` can (see `soap`). One row per enumeration in `xtkEnum`, its values as
JSON. The schema's static enumerations are inserted when missing; a reseed keeps the stored
ones (they are configuration, not data).

Write semantics follow Adobe's `xtk:session#Write` documentation: reconciliation on `@name`,
`_operation` = insert | insertOrUpdate (default) | update (nothing if missing) | delete | none,
and "XML collection elements are replaced unless `_operation` is set on each element": value
elements all carrying `_operation` are merged one by one (Replace=No), otherwise the sent values
replace the collection (Replace=Yes).
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass

from .schema import ENUMERATIONS, Enumeration, EnumValue

TABLE = "xtkEnum"
OPERATIONS = ("insert", "insertOrUpdate", "update", "delete", "none")
BASETYPES = ("byte", "short", "long", "string")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_:]{0,63}$")


class EnumError(ValueError):
    """A Write the enumeration store refuses (becomes a SOAP fault)."""


@dataclass(frozen=True)
class ValueChange:
    """One `<value>` element of a Write: None = attribute not sent."""

    name: str
    label: str | None = None
    value: str | None = None
    enabled: bool | None = None
    operation: str | None = None


@dataclass(frozen=True)
class EnumChange:
    """One `<enum>` element of a Write."""

    name: str
    label: str | None = None
    basetype: str | None = None
    operation: str = "insertOrUpdate"
    values: tuple[ValueChange, ...] = ()


def create_table(conn: sqlite3.Connection) -> None:
    """Create `xtkEnum` and insert the schema's enumerations that are not stored yet."""
    conn.execute(
        f'CREATE TABLE IF NOT EXISTS "{TABLE}" (name TEXT PRIMARY KEY, label TEXT NOT NULL, '
        'basetype TEXT NOT NULL, "values" TEXT NOT NULL)'
    )
    for enum in ENUMERATIONS:
        conn.execute(f'INSERT OR IGNORE INTO "{TABLE}" VALUES (?, ?, ?, ?)', _row(enum))


def _row(enum: Enumeration) -> tuple[str, str, str, str]:
    values = [
        {"name": v.name, "label": v.label, "value": v.value, "enabled": v.enabled}
        for v in enum.values
    ]
    return enum.id, enum.label, enum.basetype, json.dumps(values)


def load(conn: sqlite3.Connection) -> dict[str, Enumeration]:
    """Every stored enumeration by name."""
    out = {}
    for name, label, basetype, values in conn.execute(f'SELECT * FROM "{TABLE}" ORDER BY name'):
        parsed = tuple(
            EnumValue(v["label"], v["name"], v["value"], v["enabled"]) for v in json.loads(values)
        )
        out[name] = Enumeration(name, parsed, label, basetype)
    return out


def save(conn: sqlite3.Connection, enum: Enumeration) -> None:
    """Insert or replace one enumeration."""
    conn.execute(f'INSERT OR REPLACE INTO "{TABLE}" VALUES (?, ?, ?, ?)', _row(enum))


def delete(conn: sqlite3.Connection, name: str) -> None:
    """Remove one enumeration."""
    conn.execute(f'DELETE FROM "{TABLE}" WHERE name = ?', (name,))


def _check_operation(operation: str | None) -> None:
    if operation is not None and operation not in OPERATIONS:
        raise EnumError(f"Invalid operation '{operation}' (one of {', '.join(OPERATIONS)}).")


def _stored(enum_name: str, numeric: bool, raw: str | None, fallback: int | str) -> int | str:
    if raw is None:
        return fallback
    if not numeric:
        return raw
    try:
        return int(raw)
    except ValueError:
        raise EnumError(
            f"Value '{raw}' of enumeration '{enum_name}' is not an integer (numeric basetype)."
        ) from None


def _value(
    enum_name: str, numeric: bool, change: ValueChange, old: EnumValue | None, next_int: int
) -> EnumValue:
    """Return the value after `change` (a new one: the next integer, or its name as text)."""
    if not change.name or len(change.name) > 64 or any(ord(c) < 32 for c in change.name):
        raise EnumError(f"Invalid value name '{change.name}' in enumeration '{enum_name}'.")
    fallback = old.value if old else (next_int if numeric else change.name)
    return EnumValue(
        label=change.label if change.label is not None else (old.label if old else change.name),
        name=change.name,
        value=_stored(enum_name, numeric, change.value, fallback),
        enabled=change.enabled if change.enabled is not None else (old.enabled if old else True),
    )


def _next_int(values: list[EnumValue]) -> int:
    ints = [v.value for v in values if isinstance(v.value, int)]
    return max(ints) + 1 if ints else 0


def _merge(
    enum_name: str, numeric: bool, old: list[EnumValue], changes: tuple[ValueChange, ...]
) -> list[EnumValue]:
    values = list(old)
    for change in changes:
        _check_operation(change.operation)
        at = next((i for i, v in enumerate(values) if v.name == change.name), None)
        current = values[at] if at is not None else None
        op = change.operation or "insertOrUpdate"
        if op == "none" or (op == "update" and current is None):
            continue
        if op == "delete":
            if at is not None:
                del values[at]
            continue
        if op == "insert" and current is not None:
            raise EnumError(f"Value '{change.name}' already exists in enumeration '{enum_name}'.")
        new = _value(enum_name, numeric, change, current, _next_int(values))
        if at is None:
            values.append(new)
        else:
            values[at] = new
    return values


def _replace(
    enum_name: str, numeric: bool, old: list[EnumValue], changes: tuple[ValueChange, ...]
) -> list[EnumValue]:
    by_name = {v.name: v for v in old}
    values: list[EnumValue] = []
    for change in changes:
        _check_operation(change.operation)
        if change.operation in ("delete", "none"):
            continue
        if any(v.name == change.name for v in values):
            raise EnumError(f"Value '{change.name}' is sent twice for enumeration '{enum_name}'.")
        # a new value's integer comes after every value kept or dropped (no reuse)
        values.append(
            _value(enum_name, numeric, change, by_name.get(change.name), _next_int(old + values))
        )
    return values


def apply(current: Enumeration | None, change: EnumChange) -> Enumeration | None:
    """Return the enumeration after one Write element (`current`: unchanged, None: deleted)."""
    _check_operation(change.operation)
    if not _NAME.match(change.name):
        raise EnumError(f"Invalid enumeration name '{change.name}'.")
    op = change.operation
    if op == "none" or (op == "update" and current is None):
        return current
    if op == "delete":
        return None
    if op == "insert" and current is not None:
        raise EnumError(f"The enumeration '{change.name}' already exists.")
    basetype = change.basetype or (current.basetype if current else "string")
    if basetype not in BASETYPES:
        raise EnumError(f"Invalid basetype '{basetype}' (one of {', '.join(BASETYPES)}).")
    if current is not None and basetype != current.basetype:
        raise EnumError(
            f"The basetype of enumeration '{change.name}' cannot change "
            f"('{current.basetype}' to '{basetype}')."
        )
    numeric = basetype != "string"
    old = list(current.values) if current else []
    if not change.values:
        values = old  # an enum element without value elements leaves the values alone
    elif all(v.operation is not None for v in change.values):
        values = _merge(change.name, numeric, old, change.values)
    else:
        values = _replace(change.name, numeric, old, change.values)
    stored = [v.value for v in values]
    if len(set(stored)) != len(stored):
        raise EnumError(f"Two values of enumeration '{change.name}' share a stored value.")
    label = (
        change.label if change.label is not None else (current.label if current else change.name)
    )
    return Enumeration(change.name, tuple(values), label, basetype)
