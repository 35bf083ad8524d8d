"""`xtk:queryDef#ExecuteQuery` on data schemas: a queryDef document → SQL → an output document.

Supported (Adobe's data API documentation and JS SDK): operations `select`, `get`,
`getIfExists`, `count`; `select` nodes that are XPaths, also through links
(`[recipient/@email]`, `[location/@city]`, a link's key `[recipient-id]`) with an optional
`alias`; `where` conditions (see `expr`), `boolOperator` joining a condition to the next one,
nested `<condition>` groups; `orderBy` nodes with `sortDesc`; `lineCount` + `startLine`.

Rendering [inference where Adobe shows no sample]: attributes by XTK type (booleans and numbers
as digits, dates `YYYY-MM-DD`, timestamps `YYYY-MM-DD HH:MM:SS.mmmZ`); an empty string or number
is written as "" / 0, an empty date is left out. `IS NULL` on a string also matches "" (Campaign
stores empty strings). `LIKE` is case-sensitive, as on PostgreSQL. Without `lineCount` a select
returns at most `DEFAULT_LINE_COUNT` rows; without `orderBy` rows come by `@id`.
"""

from __future__ import annotations

import re
import sqlite3
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from crm_sandbox.campaign.dates import parse_date, parse_datetime
from crm_sandbox.campaign.store import q

from .envelope import SoapFault, local, method_error
from .expr import Bool, Compare, ExprError, In, IsNull, Literal, Node, Not, Path, parse, parse_path
from .model import Attr, XtkSchema

DEFAULT_LINE_COUNT = 10_000
OPERATIONS = ("select", "get", "getIfExists", "count")
# nms:trackingUrl: one row per tracked URL id and delivery, from the tracking logs.
_SOURCES = {
    "trackingUrl": (
        '(SELECT "url-id" AS id, "delivery-id", MIN("urlType") AS type,'
        ' MIN("urlLabel") AS label, MIN("urlSource") AS source'
        ' FROM "trackingLogRcp" GROUP BY "url-id", "delivery-id")'
    )
}
_NUMERIC = ("long", "byte", "short", "int64", "double", "boolean")


def query_error(detail: str) -> SoapFault:
    """Return the fault of a failed ExecuteQuery."""
    return method_error("ExecuteQuery", "xtk:queryDef", detail)


def unparsable(text: str) -> SoapFault:
    """Campaign's parse error for an expression."""
    return query_error(f"XTK-170036 Unable to parse expression '{text}'.")


def source(schema: XtkSchema) -> str:
    """FROM clause of a schema's table."""
    return _SOURCES.get(schema.table, q(schema.table))


@dataclass(frozen=True)
class Column:
    """A resolved XPath: SQL expression, its attribute (None: a link key) and output place."""

    sql: str
    attr: Attr | None
    steps: tuple[str, ...]  # sub-elements of the output
    name: str  # output attribute name


class Resolver:
    """Resolves XPaths of one query, adding LEFT JOINs through links."""

    def __init__(self, schemas: dict[str, XtkSchema], base: XtkSchema) -> None:
        """Start at the base schema (alias t0)."""
        self.schemas = schemas
        self.base = base
        self.aliases: dict[tuple[str, ...], tuple[str, XtkSchema]] = {(): ("t0", base)}
        self.joins: list[str] = []

    def _walk(self, steps: tuple[str, ...], text: str) -> tuple[str, XtkSchema]:
        alias, schema = self.aliases[()]
        for i, step in enumerate(steps):
            known = self.aliases.get(steps[: i + 1])
            if known is not None:
                alias, schema = known
                continue
            link = schema.link(step)
            if link is None:
                raise unparsable(text)
            target = self.schemas[link.target]
            new = f"t{len(self.aliases)}"
            self.joins.append(
                f"LEFT JOIN {source(target)} AS {new} "
                f"ON {new}.{q(link.target_column)} = {alias}.{q(link.column)}"
            )
            self.aliases[steps[: i + 1]] = (new, target)
            alias, schema = new, target
        return alias, schema

    def column(self, path: Path, text: str) -> Column:
        """Return the SQL of an XPath."""
        steps, attr_name = path.steps, path.attr
        if attr_name is not None and attr_name.endswith("-id") and attr_name[:-3]:
            steps, attr_name = (*steps, attr_name[:-3]), None  # `@recipient-id`
        if attr_name is None:  # a link's key: the target's @id
            alias, schema = self._walk(steps[:-1], text)
            link = schema.link(steps[-1])
            if link is None:
                raise unparsable(text)
            if link.target_column == "id":
                return Column(f"{alias}.{q(link.column)}", None, (), f"{steps[-1]}-id")
            alias, _ = self._walk(steps, text)
            return Column(f"{alias}.id", None, (), f"{steps[-1]}-id")
        group = None
        alias, schema = self.aliases[()]
        if steps:
            head, last = steps[:-1], steps[-1]
            alias, schema = self._walk(head, text)
            if last in schema.groups:
                group = last
            else:
                alias, schema = self._walk(steps, text)
        attr = schema.attr(attr_name, group)
        if attr is None:
            raise unparsable(text)
        return Column(f"{alias}.{q(attr.column)}", attr, steps, attr_name)


def _like(value: object, pattern: object) -> bool | None:
    if value is None or pattern is None:
        return None
    regex = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in str(pattern))
    return re.fullmatch(regex, str(value), re.DOTALL) is not None


def _literal(lit: Literal, attr: Attr | None) -> Any:
    """Return a literal in the stored form of the attribute it is compared with."""
    kind = attr.type if attr is not None else None
    if kind == "datetime" and lit.kind in ("date", "datetime", "string"):
        value = str(lit.value)
        day = parse_date(value)
        moment = f"{day} 00:00:00.000Z" if day else parse_datetime(value)
        return moment if moment is not None else value
    if kind == "date" and lit.kind in ("date", "datetime"):
        return str(lit.value)[:10]
    return lit.value


class Conditions:
    """Compiles condition ASTs to SQL with parameters."""

    def __init__(self, resolver: Resolver) -> None:
        """Use `resolver` for XPaths."""
        self.resolver = resolver
        self.args: list[Any] = []

    def operand(self, node: Node, other: Attr | None, text: str) -> tuple[str, Attr | None]:
        if isinstance(node, Path):
            column = self.resolver.column(node, text)
            return column.sql, column.attr
        if isinstance(node, Literal):
            self.args.append(_literal(node, other))
            return "?", None
        raise unparsable(text)

    def sql(self, node: Node, text: str) -> str:
        if isinstance(node, Bool):
            return "(" + f" {node.op} ".join(self.sql(n, text) for n in node.operands) + ")"
        if isinstance(node, Not):
            return f"(NOT {self.sql(node.operand, text)})"
        if isinstance(node, IsNull):
            col, attr = self.operand(node.operand, None, text)
            empty = (
                f"({col} IS NULL OR {col} = '')"
                if attr and attr.type == "string"
                else (f"{col} IS NULL")
            )
            return f"(NOT {empty})" if node.negated else empty
        if isinstance(node, In):
            col, attr = self.operand(node.operand, None, text)
            values = [self.operand(v, attr, text)[0] for v in node.values]
            return f"{col} {'NOT IN' if node.negated else 'IN'} ({', '.join(values)})"
        if isinstance(node, Compare):
            left_attr = self._attr(node.left, text)
            right_attr = self._attr(node.right, text)
            left, _ = self.operand(node.left, right_attr, text)
            right, _ = self.operand(node.right, left_attr, text)
            if node.op in ("LIKE", "NOT LIKE"):
                negate = "NOT " if node.op == "NOT LIKE" else ""
                return f"({negate}xtk_like({left}, {right}))"
            return f"{left} {node.op} {right}"
        raise unparsable(text)  # a bare path or literal is no condition

    def _attr(self, node: Node, text: str) -> Attr | None:
        return self.resolver.column(node, text).attr if isinstance(node, Path) else None


def _where(conditions: Conditions, parent: ET.Element) -> str:
    """Return the SQL of a `<where>` or condition group (`boolOperator` joins to the next)."""
    sql, joiner = "", ""
    for cond in (c for c in parent if local(c.tag) == "condition"):
        text = cond.get("expr")
        if cond.get("setOperator"):
            raise unparsable(text or "")
        if text:
            try:
                piece = conditions.sql(parse(text), text)
            except ExprError:
                raise unparsable(text) from None
        elif len(cond):
            piece = _where(conditions, cond) or "1"
        else:
            continue
        sql = f"({piece})" if not sql else f"{sql} {joiner} ({piece})"
        joiner = (cond.get("boolOperator") or "AND").upper()
        if joiner not in ("AND", "OR"):
            raise query_error(f"Invalid boolOperator '{joiner}'.")
    return sql


def _node_column(resolver: Resolver, node: ET.Element) -> Column:
    """Return the column of a select node, placed at its `alias` when one is given."""
    text = node.get("expr", "").strip()
    alias = node.get("alias")
    try:
        column = resolver.column(parse_path(text), text)
        placed = parse_path(alias) if alias else None
    except ExprError:
        raise unparsable(alias if alias and text else text) from None
    if placed is None:
        return column
    name = placed.attr if placed.attr is not None else f"{placed.steps[-1]}-id"
    steps = placed.steps if placed.attr is not None else placed.steps[:-1]
    return Column(column.sql, column.attr, steps, name)


def render(value: Any, attr: Attr | None) -> str | None:
    """Return an attribute value as Campaign writes it (None: left out)."""
    kind = attr.type if attr is not None else "long"
    if value is None:
        if kind in ("date", "datetime"):
            return None
        return "0" if kind in _NUMERIC else ""
    if kind == "double":
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if kind in _NUMERIC and isinstance(value, int | float):
        return str(int(value))
    return str(value)


def _element(tag: str, row: tuple[Any, ...], columns: list[Column]) -> ET.Element:
    out = ET.Element(tag)
    for value, column in zip(row, columns, strict=True):
        text = render(value, column.attr)
        if text is None:
            continue
        target = out
        for step in column.steps:
            found = target.find(step)
            target = found if found is not None else ET.SubElement(target, step)
        target.set(column.name, text)
    return out


def _int(query_def: ET.Element, name: str) -> int | None:
    raw = query_def.get(name)
    if raw in (None, ""):
        return None
    try:
        return int(raw)
    except ValueError:
        raise query_error(f"'{name}' must be an integer ('{raw}').") from None


def execute(
    conn: sqlite3.Connection, schemas: dict[str, XtkSchema], query_def: ET.Element
) -> ET.Element:
    """Run a queryDef on a data schema and return the output document."""
    schema = schemas[query_def.get("schema", "")]
    operation = query_def.get("operation", "select")
    if operation not in OPERATIONS:
        raise query_error(f"Invalid operation '{operation}'.")
    resolver = Resolver(schemas, schema)
    conditions = Conditions(resolver)
    clauses = [_where(conditions, w) for w in query_def if local(w.tag) == "where"]
    where = " AND ".join(f"({c})" for c in clauses if c)
    columns: list[Column] = []
    for select in (s for s in query_def if local(s.tag) == "select"):
        columns += [_node_column(resolver, node) for node in select]
    if operation != "count" and not columns:
        raise query_error("The query selects no node.")
    order = []
    for order_by in (o for o in query_def if local(o.tag) == "orderBy"):
        for node in order_by:
            text = node.get("expr", "")
            try:
                sql = resolver.column(parse_path(text), text).sql
            except ExprError:
                raise unparsable(text) from None
            desc = (node.get("sortDesc") or "").lower() in ("true", "1")
            order.append(f"{sql} {'DESC' if desc else 'ASC'}")
    order.append("t0.id ASC")
    joins = " ".join(resolver.joins)
    tail = f" WHERE {where}" if where else ""
    conn.create_function("xtk_like", 2, _like, deterministic=True)
    args = conditions.args
    if operation == "count":
        sql = f"SELECT COUNT(*) FROM {source(schema)} AS t0 {joins}{tail}"
        count = int(conn.execute(sql, args).fetchone()[0])
        return ET.Element(schema.element, {"count": str(count)})
    select_list = ", ".join(c.sql for c in columns)
    sql = f"SELECT {select_list} FROM {source(schema)} AS t0 {joins}{tail}"
    sql += f" ORDER BY {', '.join(order)}"
    if operation == "select":
        limit = _int(query_def, "lineCount") or DEFAULT_LINE_COUNT
        offset = _int(query_def, "startLine") or 0
        rows = conn.execute(f"{sql} LIMIT ? OFFSET ?", [*args, limit, offset]).fetchall()
        out = ET.Element(f"{schema.element}-collection")
        out.extend(_element(schema.element, r, columns) for r in rows)
        return out
    row = conn.execute(f"{sql} LIMIT 1", args).fetchone()
    if row is not None:
        return _element(schema.element, row, columns)
    if operation == "getIfExists":
        return ET.Element(schema.element)
    raise query_error(f"No document of type '{schema.label} ({schema.id})' matches the query.")
