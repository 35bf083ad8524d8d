"""Turn SQLite rows into Web API entity JSON (lookups as `_x_value`, annotations on request)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .paging import Preferences
from .protocol import encode_json
from .schema import (
    BOOLEAN,
    DATETIME,
    DECIMAL,
    DOUBLE,
    INTEGER,
    MONEY,
    BooleanOptionSet,
    Column,
    OptionSet,
    Table,
)
from .store import Store, q, target_column

_MAX_SQL_ARGS = 120  # stay below SQLite's default SQLITE_MAX_FUNCTION_ARG (127)

FORMATTED = "OData.Community.Display.V1.FormattedValue"
NAVIGATION = "Microsoft.Dynamics.CRM.associatednavigationproperty"
LOGICAL_NAME = "Microsoft.Dynamics.CRM.lookuplogicalname"


def _format_datetime(value: str, date_only: bool) -> str:
    """`2023-04-07T21:59:01Z` → `4/7/2023 9:59 PM` (the sandbox user's zone is UTC)."""
    year, month, day = int(value[0:4]), int(value[5:7]), int(value[8:10])
    if date_only:
        return f"{month}/{day}/{year}"
    hour, minute = int(value[11:13]), value[14:16]
    return f"{month}/{day}/{year} {hour % 12 or 12}:{minute} {'AM' if hour < 12 else 'PM'}"


def formatter(column: Column) -> Callable[[Any], str | None] | None:
    """FormattedValue function for a non-lookup column, or None when it has none."""
    options = column.option_set
    if isinstance(options, BooleanOptionSet):
        return lambda v: options.true_label if v else options.false_label
    if isinstance(options, OptionSet):
        if column.is_multiselect:
            return lambda v: "; ".join(
                options.label_of(int(x)) or x for x in str(v).split(",") if x.strip()
            )
        return lambda v: options.label_of(int(v))
    kind, precision = column.attribute_type, column.precision or 2
    if kind == MONEY:
        return lambda v: f"{'-' if v < 0 else ''}${abs(v):,.{precision}f}"
    if kind in (DECIMAL, DOUBLE):
        return lambda v: f"{v:,.{precision}f}"
    if kind == INTEGER:
        return lambda v: f"{v:,}"
    if kind == DATETIME:
        date_only = column.date_only
        return lambda v: _format_datetime(v, date_only)
    return None


class Projection:
    """The `$select` projection of a table and how to render its rows."""

    def __init__(self, table: Table, columns: Sequence[Column], prefs: Preferences) -> None:
        """Plan SELECT columns for `columns` (+ version and primary key)."""
        self.table = table
        pk = table.column(table.primary_id)
        assert pk is not None
        self.columns = [*columns, *([] if pk in columns else [pk])]
        self.formatted = prefs.wants(FORMATTED)
        self.navigation = prefs.wants(NAVIGATION)
        self.logical = prefs.wants(LOGICAL_NAME)
        self.annotated = self.formatted or self.navigation or self.logical
        sql = ["versionnumber"]
        for column in self.columns:
            sql.append(column.logical_name)
            if column.is_lookup:
                sql.append(target_column(column))
        self.sql_columns = sql
        self.select_sql = ", ".join(q(c) for c in sql)
        # Fast path: keys aligned with the SELECT list; lookup target columns dropped afterwards.
        self._keys = ["@odata.etag"]
        for column in self.columns:
            self._keys.append(column.read_name)
            if column.is_lookup:
                self._keys.append(f"\0{column.logical_name}")
        self._booleans = [c.read_name for c in self.columns if c.attribute_type == BOOLEAN]
        self._drop = [k for k in self._keys if k.startswith("\0")]
        # Without annotations SQLite renders each entity's JSON itself (json_object, in C): the
        # hot path for big pages. Lookups need only their GUID there.
        self.in_sql = not self.annotated and 2 * len(self.columns) + 2 <= _MAX_SQL_ARGS
        self.select_list = self._json_sql() if self.in_sql else self.select_sql

    def _json_sql(self) -> str:
        args = ["'@odata.etag'", "'W/\"' || versionnumber || '\"'"]
        for column in self.columns:
            value = q(column.logical_name)
            if column.attribute_type == BOOLEAN:
                value = f"json(CASE {value} WHEN 1 THEN 'true' WHEN 0 THEN 'false' END)"
            args += [f"'{column.read_name}'", value]
        return f"json_object({', '.join(args)})"

    def render_json(self, rows: Sequence[Sequence[Any]], store: Store) -> list[bytes]:
        """Entity JSON documents for rows SELECTed with `select_list` (+ trailing key columns)."""
        if self.in_sql:
            return [row[0].encode() for row in rows]
        return [encode_json(record) for record in self.render(rows, store)]

    def render(self, rows: Sequence[Sequence[Any]], store: Store) -> list[dict[str, Any]]:
        """Entity JSON objects for SELECTed rows."""
        if self.annotated:
            return self._render_annotated(rows, store)
        keys, booleans, drop = self._keys, self._booleans, self._drop
        out = []
        for row in rows:
            record = dict(zip(keys, row))  # noqa: B905 - trailing order-key columns ignored
            record["@odata.etag"] = f'W/"{row[0]}"'
            for key in booleans:
                value = record[key]
                if value is not None:
                    record[key] = value == 1
            for key in drop:
                del record[key]
            out.append(record)
        return out

    def _render_annotated(
        self, rows: Sequence[Sequence[Any]], store: Store
    ) -> list[dict[str, Any]]:
        names: dict[tuple[str, str], str | None] = {}
        if self.formatted:
            wanted: dict[str, set[str]] = {}
            for row in rows:
                i = 1
                for column in self.columns:
                    if column.is_lookup and row[i] is not None:
                        wanted.setdefault(row[i + 1], set()).add(row[i])
                    i += 2 if column.is_lookup else 1
            for target, ids in wanted.items():
                found = store.primary_names(target, ids)
                names.update({(target, k): v for k, v in found.items()})
        formatters = [None if c.is_lookup else formatter(c) for c in self.columns]
        out = []
        for row in rows:
            record: dict[str, Any] = {"@odata.etag": f'W/"{row[0]}"'}
            i = 1
            for column, fmt in zip(self.columns, formatters, strict=True):
                value = row[i]
                key = column.read_name
                if column.is_lookup:
                    target = row[i + 1]
                    i += 2
                    if value is not None:
                        if self.formatted:
                            record[f"{key}@{FORMATTED}"] = names.get((target, value))
                        if self.navigation:
                            record[f"{key}@{NAVIGATION}"] = column.navigation_property(target)
                        if self.logical:
                            record[f"{key}@{LOGICAL_NAME}"] = target
                    record[key] = value
                    continue
                i += 1
                if column.attribute_type == BOOLEAN and value is not None:
                    value = value == 1
                if fmt is not None and value is not None and self.formatted:
                    record[f"{key}@{FORMATTED}"] = fmt(value)
                record[key] = value
            out.append(record)
        return out
