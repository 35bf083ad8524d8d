"""QueryExpression (the Web API's complex type, as BulkDelete's `QuerySet` carries it) → SQL.

A QueryExpression names a table (`EntityName`) and `Criteria`: a FilterExpression with
`FilterOperator` (And/Or), `Conditions` (ConditionExpression: `AttributeName`, `Operator`, `Values`
as `[{"Type": "System.String", "Value": "…"}]`) and nested `Filters`. Conditions are turned into
the `$filter` syntax tree and compiled by `odata.FilterCompiler`, so types, case-insensitive
strings and wildcards behave exactly as in `$filter`. `ColumnSet` is irrelevant to a delete.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from odata_query import ast

from .errors import BAD_REQUEST, DataverseError
from .odata import FilterCompiler, edm_type
from .schema import Column, Table, table_by_logical_name

# Best reading of the platform's QueryBuilder errors (QueryBuilderNoEntity/NoAttribute).
NO_ENTITY = "0x80041102"
NO_ATTRIBUTE = "0x80041103"
NOT_IMPLEMENTED = ""  # the sandbox's own 501 answers carry no Dataverse code

_COMPARE: dict[str, type[ast._Comparator]] = {
    "Equal": ast.Eq,
    "NotEqual": ast.NotEq,
    "GreaterThan": ast.Gt,
    "GreaterEqual": ast.GtE,
    "LessThan": ast.Lt,
    "LessEqual": ast.LtE,
}
_TEXT_CALLS = {
    "BeginsWith": ("startswith", False),
    "DoesNotBeginWith": ("startswith", True),
    "EndsWith": ("endswith", False),
    "DoesNotEndWith": ("endswith", True),
}
_OLDER_THAN: dict[str, Callable[[int], timedelta]] = {
    "OlderThanXMinutes": lambda n: timedelta(minutes=n),
    "OlderThanXHours": lambda n: timedelta(hours=n),
    "OlderThanXDays": lambda n: timedelta(days=n),
    "OlderThanXWeeks": lambda n: timedelta(weeks=n),
}


def bad(message: str) -> DataverseError:
    """400 for a malformed QueryExpression."""
    return DataverseError(400, BAD_REQUEST, message)


def _literal(column: Column, raw: Any) -> ast._Literal:
    """Return a condition value as a `$filter` literal of the column's type."""
    value = raw.get("Value") if isinstance(raw, Mapping) else raw
    if value is None:
        return ast.Null()
    kind = edm_type(column)
    try:
        if kind in ("Edm.Int32", "Edm.Int64"):
            return ast.Integer(str(int(value)))
        if kind in ("Edm.Decimal", "Edm.Double"):
            return ast.Float(str(float(value)))
        if kind == "Edm.Boolean":
            return ast.Boolean("true" if str(value).lower() in ("true", "1") else "false")
        if kind == "Edm.DateTimeOffset":
            return ast.DateTime(
                datetime.fromisoformat(str(value).replace("Z", "+00:00")).isoformat()
            )
        if kind == "Edm.Date":
            return ast.Date(str(value)[:10])
        if kind == "Edm.Guid":
            return ast.GUID(str(value))
    except ValueError:
        raise bad(
            f"The value '{value}' is not valid for attribute '{column.logical_name}'."
        ) from None
    return ast.String(str(value))


def _like(name: ast.Identifier, pattern: str, negate: bool) -> ast._Node:
    """`Like`/`NotLike` with a leading and/or trailing `%` (the forms `$filter` can express)."""
    if pattern.endswith("%") and pattern.startswith("%") and len(pattern) > 1:
        node: ast._Node = ast.Call(ast.Identifier("contains"), [name, ast.String(pattern[1:-1])])
    elif pattern.endswith("%"):
        node = ast.Call(ast.Identifier("startswith"), [name, ast.String(pattern[:-1])])
    elif pattern.startswith("%"):
        node = ast.Call(ast.Identifier("endswith"), [name, ast.String(pattern[1:])])
    elif "%" not in pattern and "_" not in pattern:
        node = ast.Compare(ast.Eq(), name, ast.String(pattern))
    else:
        raise DataverseError(
            501, NOT_IMPLEMENTED, "The sandbox does not implement Like patterns with inner '%'."
        )
    return ast.UnaryOp(ast.Not(), node) if negate else node


def _condition(table: Table, data: Any, now: datetime) -> ast._Node:
    if not isinstance(data, Mapping):
        raise bad("A ConditionExpression must be an object.")
    attribute = data.get("AttributeName")
    column = table.column(attribute) if isinstance(attribute, str) else None
    if column is None or column.logical_name != attribute:
        raise DataverseError(
            400,
            NO_ATTRIBUTE,
            f"'{table.logical_name}' entity doesn't contain attribute with Name = '{attribute}' "
            "and NameMapping = 'Logical'.",
        )
    name = ast.Identifier(column.read_name)
    operator = str(data.get("Operator", "Equal"))
    raw_values = data.get("Values") or []
    if not isinstance(raw_values, list):
        raise bad("'Values' must be an array.")
    values = [_literal(column, v) for v in raw_values]
    if operator in ("Null", "NotNull"):
        return ast.Compare(ast.Eq() if operator == "Null" else ast.NotEq(), name, ast.Null())
    if operator in ("In", "NotIn"):
        node: ast._Node = ast.Compare(ast.In(), name, ast.List(values))
        return ast.UnaryOp(ast.Not(), node) if operator == "NotIn" else node
    if operator in ("Between", "NotBetween") and len(values) == 2:
        low = ast.Compare(ast.GtE(), name, values[0])
        node = ast.BoolOp(ast.And(), low, ast.Compare(ast.LtE(), name, values[1]))
        return ast.UnaryOp(ast.Not(), node) if operator == "NotBetween" else node
    if len(values) != 1:
        raise bad(f"The '{operator}' condition operator takes one value.")
    (value,) = values
    if operator in _COMPARE:
        return ast.Compare(_COMPARE[operator](), name, value)
    if operator in _TEXT_CALLS:
        function, negate = _TEXT_CALLS[operator]
        node = ast.Call(ast.Identifier(function), [name, value])
        return ast.UnaryOp(ast.Not(), node) if negate else node
    if operator in ("Like", "NotLike") and isinstance(value, ast.String):
        return _like(name, value.val, operator == "NotLike")
    if operator in _OLDER_THAN and isinstance(value, ast.Integer):
        cutoff = now - _OLDER_THAN[operator](int(value.val))
        return ast.Compare(ast.Lt(), name, ast.DateTime(cutoff.isoformat()))
    raise DataverseError(
        501, NOT_IMPLEMENTED, f"The sandbox does not implement the '{operator}' condition operator."
    )


def _filter(table: Table, data: Any, now: datetime) -> ast._Node | None:
    if data is None:
        return None
    if not isinstance(data, Mapping):
        raise bad("A FilterExpression must be an object.")
    operator = str(data.get("FilterOperator", "And"))
    if operator not in ("And", "Or"):
        raise bad(f"The filter operator '{operator}' is not valid.")
    parts = [_condition(table, c, now) for c in data.get("Conditions") or []]
    parts += [n for f in data.get("Filters") or [] if (n := _filter(table, f, now)) is not None]
    if not parts:
        return None
    node = parts[0]
    for part in parts[1:]:
        node = ast.BoolOp(ast.And() if operator == "And" else ast.Or(), node, part)
    return node


def compile_query(
    query: Any, tables: Sequence[Table], now: datetime
) -> tuple[Table, str, list[Any]]:
    """(table, SQL condition, parameters) selecting the rows a QueryExpression matches."""
    if not isinstance(query, Mapping):
        raise bad("Each item of 'QuerySet' must be a QueryExpression object.")
    name = query.get("EntityName")
    table = table_by_logical_name(name, tuple(tables)) if isinstance(name, str) else None
    if table is None:
        raise DataverseError(
            400,
            NO_ENTITY,
            f"The entity with a name = '{name}' with namemapping = 'Logical' was not found in "
            "the MetadataCache.",
        )
    if query.get("LinkEntities"):
        raise DataverseError(
            501, NOT_IMPLEMENTED, "The sandbox does not implement LinkEntities in a QuerySet."
        )
    node = _filter(table, query.get("Criteria"), now)
    if node is None:
        return table, "1", []
    compiler = FilterCompiler(table, f"QuerySet {name}")
    return table, compiler.compile(node), compiler.params
