"""Tables created through the Web API, as JSON: how they persist in the state dir's database."""

from __future__ import annotations

import json
from dataclasses import asdict, fields
from typing import Any

from .schema import BooleanOptionSet, Column, KeyDefinition, Option, OptionSet, Table


def _option_set_to_json(option_set: OptionSet | BooleanOptionSet | None) -> dict[str, Any] | None:
    if option_set is None:
        return None
    kind = "boolean" if isinstance(option_set, BooleanOptionSet) else "choice"
    return {"kind": kind, **asdict(option_set)}


def _option_set_from_json(data: dict[str, Any] | None) -> OptionSet | BooleanOptionSet | None:
    if data is None:
        return None
    values = {k: v for k, v in data.items() if k != "kind"}
    if data["kind"] == "boolean":
        return BooleanOptionSet(**values)
    values["options"] = tuple(Option(**o) for o in values["options"])
    return OptionSet(**values)


def _column_to_json(column: Column) -> dict[str, Any]:
    data = {f.name: getattr(column, f.name) for f in fields(column)}
    data["option_set"] = _option_set_to_json(column.option_set)
    data["targets"] = list(column.targets)
    return data


def _column_from_json(data: dict[str, Any]) -> Column:
    values = dict(data)
    values["option_set"] = _option_set_from_json(values.get("option_set"))
    values["targets"] = tuple(values.get("targets", ()))
    return Column(**values)


def table_to_json(table: Table) -> str:
    """Serialise a created table (columns, keys and their index status)."""
    data: dict[str, Any] = {
        f.name: getattr(table, f.name) for f in fields(table) if not f.name.startswith("_")
    }
    data["columns"] = [_column_to_json(c) for c in table.columns]
    data["alternate_keys"] = [list(k) for k in table.alternate_keys]
    data["key_definitions"] = [
        {**asdict(k), "attributes": list(k.attributes)} for k in table.key_definitions
    ]
    return json.dumps(data)


def table_from_json(text: str) -> Table:
    """Rebuild a table written by `table_to_json`."""
    data = json.loads(text)
    data["columns"] = tuple(_column_from_json(c) for c in data["columns"])
    data["alternate_keys"] = tuple(tuple(k) for k in data["alternate_keys"])
    data["key_definitions"] = tuple(
        KeyDefinition(**{**k, "attributes": tuple(k["attributes"])})
        for k in data["key_definitions"]
    )
    return Table(**data)
