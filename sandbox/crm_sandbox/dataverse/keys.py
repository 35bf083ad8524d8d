"""Entity keys in URLs: `contacts(<guid>)`, `contacts(contactid=<guid>)`, alternate keys."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import BAD_REQUEST, ENTITY_KEY_NOT_DEFINED, DataverseError
from .schema import Table

_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_PAIR = re.compile(r"\s*([A-Za-z_]\w*)\s*=\s*('(?:[^']|'')*'|[^,']+)\s*(?:,|$)")


def is_guid(text: str) -> bool:
    """Return True for a bare GUID."""
    return bool(_GUID.match(text))


@dataclass(frozen=True)
class EntityKey:
    """A primary key (`id`) or alternate key values (`values`, storage column → value)."""

    id: str | None = None
    values: dict[str, Any] | None = None
    text: str = ""  # as written in the URL, echoed in OData-EntityId


def invalid_key(table: Table) -> DataverseError:
    """Dataverse's error for key names that match no declared or alternate key."""
    resource = f"Microsoft.Dynamics.CRM.{table.logical_name}"
    return DataverseError(
        400,
        BAD_REQUEST,
        f"The key in the request URI is not valid for resource '{resource}'. Ensure that the "
        "names and number of key properties match the declared or alternate key properties for "
        f"the resource '{resource}'.",
    )


def check_key_active(table: Table, columns: Iterable[str]) -> None:
    """Reject a created alternate key whose index job has not made it Active (yet).

    The platform answers EntityKeyNotDefined while a key is Pending (or Failed): the key is
    declared in metadata but not usable.
    """
    if frozenset(columns) in {frozenset(k) for k in table.inactive_keys}:
        raise DataverseError(
            400,
            ENTITY_KEY_NOT_DEFINED,
            f"The specified key attributes are not a defined key for the {table.logical_name} "
            "entity",
        )


def _value(raw: str) -> Any:
    raw = raw.strip()
    if raw.startswith("'"):
        return raw[1:-1].replace("''", "'")
    if is_guid(raw):
        return raw.lower()
    if raw in ("true", "false"):
        return raw == "true"
    try:
        return int(raw)
    except ValueError:
        try:
            return float(raw)
        except ValueError:
            return raw


def parse_key(table: Table, text: str) -> EntityKey:
    """Parse the text between the parentheses of `<set>(…)`."""
    text = text.strip()
    if is_guid(text):
        return EntityKey(id=text.lower(), text=text.lower())
    pairs: dict[str, Any] = {}
    pos = 0
    while pos < len(text):
        match = _PAIR.match(text, pos)
        if match is None:
            raise invalid_key(table)
        name, raw = match.group(1), match.group(2)
        column = table.column(name)
        if column is None or column.read_name != name:
            raise invalid_key(table)
        pairs[column.logical_name] = _value(raw)
        pos = match.end()
    if not pairs:
        raise invalid_key(table)
    if list(pairs) == [table.primary_id] and isinstance(pairs[table.primary_id], str):
        pk = str(pairs[table.primary_id]).lower()
        if not is_guid(pk):
            raise invalid_key(table)
        return EntityKey(id=pk, text=pk)
    check_key_active(table, pairs)
    if tuple(sorted(pairs)) not in {tuple(sorted(k)) for k in table.alternate_keys}:
        raise invalid_key(table)
    return EntityKey(values=pairs, text=text)
