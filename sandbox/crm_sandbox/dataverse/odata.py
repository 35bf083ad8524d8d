"""OData system query options → SQL, the way Dataverse interprets them.

`$filter` is parsed with odata-query's grammar; the AST is compiled here (not with its stock SQL
visitor) because Dataverse differs: string comparisons and functions are case-insensitive,
wildcards inside `contains`/`startswith`/`endswith` are honoured, datetimes and GUIDs are
unquoted literals matched against our text storage, lookups are addressed as `_x_value`, and
errors carry ODataLib's messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from odata_query import ast, exceptions
from odata_query.grammar import ODataLexer, ODataParser
from odata_query.visitor import NodeVisitor

from .errors import BAD_REQUEST, PROPERTY_NOT_FOUND, DataverseError
from .schema import (
    BIGINT,
    BOOLEAN,
    DATETIME,
    DECIMAL,
    DOUBLE,
    INTEGER,
    MEMO,
    MONEY,
    PICKLIST,
    STATE,
    STATUS,
    STRING,
    UNIQUEIDENTIFIER,
    Column,
    Table,
)
from .store import q

_EDM = {
    STRING: "Edm.String",
    MEMO: "Edm.String",
    INTEGER: "Edm.Int32",
    PICKLIST: "Edm.Int32",
    STATE: "Edm.Int32",
    STATUS: "Edm.Int32",
    BIGINT: "Edm.Int64",
    DECIMAL: "Edm.Decimal",
    MONEY: "Edm.Decimal",
    DOUBLE: "Edm.Double",
    BOOLEAN: "Edm.Boolean",
    DATETIME: "Edm.DateTimeOffset",
    UNIQUEIDENTIFIER: "Edm.Guid",
}
_NUMERIC = {"Edm.Int32", "Edm.Int64", "Edm.Decimal", "Edm.Double"}
_OPS = {
    ast.Eq: ("=", "Equal"),
    ast.NotEq: ("!=", "NotEqual"),
    ast.Lt: ("<", "LessThan"),
    ast.LtE: ("<=", "LessThanOrEqual"),
    ast.Gt: (">", "GreaterThan"),
    ast.GtE: (">=", "GreaterThanOrEqual"),
}


def edm_type(column: Column) -> str:
    """Return the Edm type of a column's value in the Web API."""
    if column.is_lookup:
        return "Edm.Guid"
    if column.attribute_type == DATETIME and column.date_only:
        return "Edm.Date"
    if column.is_multiselect:
        return "Edm.String"
    return _EDM.get(column.attribute_type, "Edm.String")


def property_not_found(table: Table, name: str) -> DataverseError:
    """Dataverse's error for an unknown (or wrongly cased) property name."""
    return DataverseError(
        400,
        PROPERTY_NOT_FOUND,
        f"Could not find a property named '{name}' on type "
        f"'Microsoft.Dynamics.CRM.{table.logical_name}'.",
    )


def resolve(table: Table, name: str) -> Column:
    """Return the column a query option names (only Web API names, `_x_value` for lookups)."""
    column = table.column(name)
    if column is None or column.read_name != name:
        raise property_not_found(table, name)
    return column


def parse_select(table: Table, value: str | None) -> list[Column]:
    """`$select` → columns in request order; no `$select` means every column."""
    if not value:
        return list(table.columns)
    out: list[Column] = []
    for name in (part.strip() for part in value.split(",")):
        column = resolve(table, name)
        if column not in out:
            out.append(column)
    return out


@dataclass(frozen=True)
class OrderKey:
    """One `$orderby` key."""

    column: Column
    descending: bool = False


def parse_orderby(table: Table, value: str | None) -> list[OrderKey]:
    """`$orderby=a desc,b` → keys; the primary key is appended for a total order."""
    keys: list[OrderKey] = []
    for part in (p.strip() for p in (value or "").split(",") if p.strip()):
        name, _, direction = part.partition(" ")
        direction = direction.strip().lower()
        if direction not in ("", "asc", "desc"):
            raise DataverseError(
                400, PROPERTY_NOT_FOUND, f"Syntax error at position {len(part)} in '{value}'."
            )
        keys.append(OrderKey(resolve(table, name.strip()), direction == "desc"))
    if not any(k.column.is_primary_id for k in keys):
        pk = table.column(table.primary_id)
        assert pk is not None
        keys.append(OrderKey(pk))
    else:  # keys after the unique primary key cannot change the order
        idx = next(i for i, k in enumerate(keys) if k.column.is_primary_id)
        keys = keys[: idx + 1]
    return keys


# --- $filter ----------------------------------------------------------------------------------

#: A string literal (`''` escapes a quote), matched so that an `@` inside it is left alone, or
#: a parameter alias.
_LITERAL_OR_ALIAS = re.compile(r"'(?:[^']|'')*'|@[A-Za-z_]\w*")


def substitute_aliases(text: str, params: Mapping[str, str]) -> str:
    """Replace parameter aliases (`@p1`) by their values from the query string.

    An `@` inside a string literal (`emailaddress1 eq 'a@example.com'`) is no alias.
    """

    def value(match: re.Match[str]) -> str:
        token = match.group(0)
        if token.startswith("'"):
            return token
        if token not in params:
            raise DataverseError(400, BAD_REQUEST, f"The parameter alias '{token}' is not defined.")
        return params[token]

    return _LITERAL_OR_ALIAS.sub(value, text) if "@" in text else text


def _unterminated(text: str) -> bool:
    """Return True when a quoted literal is still open at the end (`''` is an escaped quote)."""
    inside, i = False, 0
    while i < len(text):
        if text[i] == "'":
            if inside and text[i + 1 : i + 2] == "'":
                i += 1
            else:
                inside = not inside
        i += 1
    return inside


def parse_filter(text: str) -> ast._Node:
    """Parse `$filter` text, raising Dataverse's syntax errors."""
    if _unterminated(text):
        raise DataverseError(
            400,
            PROPERTY_NOT_FOUND,
            f"There is an unterminated literal at position {len(text)} in '{text}'.",
        )
    lexer, parser = ODataLexer(), ODataParser()
    try:
        return parser.parse(lexer.tokenize(text))
    except exceptions.TokenizingException as exc:
        token = exc.token
        if str(getattr(token, "value", "")).startswith("'"):
            message = f"There is an unterminated literal at position {len(text)} in '{text}'."
        else:
            message = f"Syntax error at position {getattr(token, 'index', 0)} in '{text}'."
        raise DataverseError(400, PROPERTY_NOT_FOUND, message) from None
    except exceptions.ParsingException as exc:
        position = len(text) if exc.eof or exc.token is None else exc.token.index
        raise DataverseError(
            400, PROPERTY_NOT_FOUND, f"Syntax error at position {position} in '{text}'."
        ) from None
    except exceptions.ODataException as exc:
        raise DataverseError(400, PROPERTY_NOT_FOUND, str(exc)) from None


def _literal_type(node: ast._Node) -> str | None:
    if isinstance(node, ast.String):
        return "Edm.String"
    if isinstance(node, ast.Integer):
        return "Edm.Int32" if abs(int(node.val)) < 2**31 else "Edm.Int64"
    if isinstance(node, ast.Float):
        return "Edm.Decimal"
    if isinstance(node, ast.Boolean):
        return "Edm.Boolean"
    if isinstance(node, ast.DateTime):
        return "Edm.DateTimeOffset"
    if isinstance(node, ast.Date):
        return "Edm.Date"
    if isinstance(node, ast.GUID):
        return "Edm.Guid"
    return None


def _compatible(column_type: str, literal_type: str) -> bool:
    if column_type == literal_type:
        return True
    if column_type in _NUMERIC and literal_type in _NUMERIC:
        return True
    dates = {"Edm.Date", "Edm.DateTimeOffset"}
    if column_type in dates and literal_type in dates:
        return True
    # Lookup filters accept quoted GUIDs (Microsoft's own examples quote them).
    return column_type == "Edm.Guid" and literal_type == "Edm.String"


def _datetime_value(node: ast._Node) -> tuple[str, bool]:
    """Storage text of a datetime literal, and whether it had a fractional second part."""
    if isinstance(node, ast.Date):
        return f"{node.val}T00:00:00Z", False
    raw = str(node.val)  # type: ignore[attr-defined]
    parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    parsed = parsed.astimezone(UTC)
    fraction = parsed.microsecond != 0
    return parsed.replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ"), fraction


class FilterCompiler(NodeVisitor):
    """Compile a `$filter` AST into an SQL boolean expression with `?` parameters."""

    def __init__(self, table: Table, text: str) -> None:
        """Compile against `table`; `text` is quoted in error messages."""
        self.table = table
        self.text = text
        self.params: list[Any] = []

    def compile(self, node: ast._Node) -> str:
        """Return SQL for the whole expression."""
        if isinstance(node, ast.Identifier):
            column = resolve(self.table, node.name)
            if column.attribute_type != BOOLEAN:
                raise self._error("The $filter expression must evaluate to a single boolean value.")
            return f"{q(column.logical_name)} = 1"
        return str(self.visit(node))

    def _error(self, message: str) -> DataverseError:
        return DataverseError(400, PROPERTY_NOT_FOUND, message)

    def _param(self, value: Any) -> str:
        self.params.append(value)
        return "?"

    def generic_visit(self, node: ast._Node) -> str:
        """Anything Dataverse's `$filter` does not support."""
        raise self._error(
            f"The query node {type(node).__name__} is not supported in '{self.text}'."
        )

    def visit_BoolOp(self, node: ast.BoolOp) -> str:
        """`and` / `or`, a chain of the same operator flattened into one level.

        SQLite's parser overflows on a few hundred nested parentheses, which a client's
        `contactid eq … or contactid eq …` over 200 ids would otherwise produce.
        """
        same_op = type(node.op)
        operands: list[ast._Node] = []
        pending: list[ast._Node] = [node]
        while pending:  # in order: left before right
            current = pending.pop()
            if isinstance(current, ast.BoolOp) and isinstance(current.op, same_op):
                pending += [current.right, current.left]
            else:
                operands.append(current)
        op = " AND " if same_op is ast.And else " OR "
        return "(" + op.join(self.compile(operand) for operand in operands) + ")"

    def visit_UnaryOp(self, node: ast.UnaryOp) -> str:
        """`not <expr>` (NULLs excluded, as in SQL Server)."""
        if not isinstance(node.op, ast.Not):
            return self.generic_visit(node)
        return f"(NOT COALESCE({self.compile(node.operand)}, 0))"

    def visit_Compare(self, node: ast.Compare) -> str:
        """eq/ne/gt/ge/lt/le and `in`, with Dataverse's type rules."""
        left, right = node.left, node.right
        if isinstance(node.comparator, ast.In):
            return self._in(left, right)
        if not isinstance(left, ast.Identifier) and isinstance(right, ast.Identifier):
            left, right = right, left  # literal on the left: mirror the comparison
            flip = {ast.Lt: ast.Gt, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.GtE: ast.LtE}
            comparator: ast._Node = flip.get(type(node.comparator), type(node.comparator))()
        else:
            comparator = node.comparator
        if not isinstance(left, ast.Identifier):
            raise self._error(f"The left side of a comparison must be a property in '{self.text}'.")
        column = resolve(self.table, left.name)
        sql_op, kind = _OPS[type(comparator)]  # type: ignore[index]
        col_sql = q(column.logical_name)
        if isinstance(right, ast.Identifier):
            other = resolve(self.table, right.name)
            if not _compatible(edm_type(column), edm_type(other)):
                raise self._incompatible(edm_type(column), edm_type(other), kind)
            return f"{col_sql} {sql_op} {q(other.logical_name)}"
        if isinstance(right, ast.Null):
            return f"{col_sql} IS {'NOT ' if sql_op == '!=' else ''}NULL"
        literal_type = _literal_type(right)
        if literal_type is None:
            return self.generic_visit(right)
        if not _compatible(edm_type(column), literal_type):
            raise self._incompatible(edm_type(column), literal_type, kind)
        return self._compare_literal(column, col_sql, sql_op, right)

    def _incompatible(self, a: str, b: str, kind: str) -> DataverseError:
        return self._error(
            "A binary operator with incompatible types was detected. Found operand types "
            f"'{a}' and '{b}' for operator kind '{kind}'."
        )

    def _compare_literal(self, column: Column, col_sql: str, op: str, node: ast._Node) -> str:
        etype = edm_type(column)
        if etype == "Edm.DateTimeOffset":
            value, fraction = _datetime_value(node)
            if fraction:  # stored values have whole seconds
                op = {">=": ">", "<": "<="}.get(op, op)
                if op == "=":
                    return "0"
                if op == "!=":
                    return f"{col_sql} IS NOT NULL"
            return f"{col_sql} {op} {self._param(value)}"
        if etype == "Edm.Date":
            value = str(node.val)[:10]  # type: ignore[attr-defined]
            return f"{col_sql} {op} {self._param(value)}"
        if etype == "Edm.Guid":
            guid = str(node.val).lower()  # type: ignore[attr-defined]
            return f"{col_sql} {op} {self._param(guid)}"
        if etype == "Edm.Boolean":
            return f"{col_sql} {op} {self._param(1 if node.py_val else 0)}"  # type: ignore[attr-defined]
        value = node.py_val  # type: ignore[attr-defined]
        return f"{col_sql} {op} {self._param(value)}"

    def _in(self, left: ast._Node, right: ast._Node) -> str:
        if not isinstance(left, ast.Identifier) or not isinstance(right, ast.List):
            return self.generic_visit(left)
        column = resolve(self.table, left.name)
        parts = [self._compare_literal(column, q(column.logical_name), "=", v) for v in right.val]
        return f"({' OR '.join(parts) or '0'})"

    def visit_Call(self, node: ast.Call) -> str:
        """Contains / startswith / endswith (case-insensitive; `%`, `_` act as wildcards)."""
        name = node.func.name
        patterns = {"contains": "%{}%", "startswith": "{}%", "endswith": "%{}"}
        if name not in patterns:
            raise self._error(f"An unknown function with name '{name}' was found.")
        column_node, value_node = node.args
        if not isinstance(column_node, ast.Identifier) or not isinstance(value_node, ast.String):
            raise self._error(f"The function '{name}' requires a property and a string literal.")
        column = resolve(self.table, column_node.name)
        if edm_type(column) != "Edm.String":
            raise self._error(
                f"No function signature for the function with name '{name}' matches the "
                f"specified arguments. The function signatures considered are: {name}(Edm.String "
                "Nullable=true, Edm.String Nullable=true)."
            )
        pattern = patterns[name].format(value_node.val)
        return f"{q(column.logical_name)} LIKE {self._param(pattern)}"


def compile_filter(
    table: Table, text: str | None, aliases: Mapping[str, str] | None = None
) -> tuple[str, list[Any]]:
    """`$filter` → (SQL expression, parameters); empty filter → ("1", [])."""
    if not text:
        return "1", []
    text = substitute_aliases(text, aliases or {})
    compiler = FilterCompiler(table, text)
    return compiler.compile(parse_filter(text)), compiler.params
