"""Reads with `xtk:queryDef#ExecuteQuery`: the query builder, XTK literals, pages and counts.

A `QueryDef` is sent as the SDK sends a non-static method's object: the `document` parameter
holding `<queryDef xtkschema="xtk:queryDef" schema=… operation=…>` with `select`, `where`
(conditions joined by AND) and `orderBy` nodes. A select answers `<recipient-collection>`
(the schema's element name plus `-collection`), a count `<recipient count="3"/>`.

Values in conditions are always XTK literals built here (`literal`): strings quoted and
escaped as the SDK's `escapeXtk` does (a backslash before each quote and backslash), dates and
date-times between `#` (`#2024-01-01#`, `#2024-01-01T10:00:00.000Z#`), numbers bare.

Paging: `iter_pages` walks `lineCount` + `startLine` (an `orderBy` is required: Adobe's advice,
and without one the pages may overlap); `iter_keyset_pages` follows a keyset on a
modification date plus an id (no offset: pages stay stable while rows change, and each page's
last row is a checkpoint). `read_by_keys` reads a batch of keys in one call (`IN`).
"""

from __future__ import annotations

import datetime
import typing as t
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from decimal import Decimal

from campaign_client.dates import from_campaign_datetime, to_iso_datetime
from campaign_client.soap import Param, local_name

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from campaign_client.soap_session import SoapSession

QUERY_URN = "xtk:queryDef"
OPERATIONS = frozenset({"select", "get", "getIfExists", "count"})
DEFAULT_PAGE_SIZE = 1000

Literal = str | int | float | Decimal | bool | datetime.date | datetime.datetime


def escape_string(value: str) -> str:
    """Return `value` as a quoted XTK string literal (backslashes and quotes escaped)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def literal(value: Literal) -> str:
    """Return the XTK literal of a value (naive date-times are taken as UTC)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime.datetime):
        return f"#{to_iso_datetime(value)}#"
    if isinstance(value, datetime.date):
        return f"#{value.isoformat()}#"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int | float):
        return repr(value)
    return escape_string(value)


def expand_xpath(xpath: str) -> str:
    """Bracket an XPath through links (`folder/@name` → `[folder/@name]`), as the SDK does."""
    if xpath.startswith("[") and xpath.endswith("]"):
        return xpath
    if not any(c in xpath for c in "/-:"):
        return xpath
    return f"[{xpath}]"


def is_in(xpath: str, values: Iterable[Literal]) -> str:
    """Return the condition `xpath IN (v1, v2, …)`."""
    return f"{expand_xpath(xpath)} IN ({', '.join(literal(v) for v in values)})"


def compare(xpath: str, operator: str, value: Literal) -> str:
    """Return the condition `xpath <operator> <literal>` (`=`, `<>`, `<`, `<=`, `>`, `>=`)."""
    return f"{expand_xpath(xpath)} {operator} {literal(value)}"


@dataclass(frozen=True)
class QueryDef:
    """One query on `schema`: selected XPaths, AND-ed conditions, sort order, one page."""

    schema: str
    select: tuple[str, ...] = ()
    where: tuple[str, ...] = ()
    order_by: tuple[str, ...] = ()
    operation: str = "select"
    line_count: int | None = None
    start_line: int | None = None

    def __post_init__(self) -> None:
        """Refuse an operation Campaign does not know."""
        if self.operation not in OPERATIONS:
            msg = f"operation must be one of {', '.join(sorted(OPERATIONS))}: {self.operation}"
            raise ValueError(msg)

    def to_element(self) -> ET.Element:
        """Return the `<queryDef>` document."""
        root = ET.Element(
            "queryDef",
            {"xtkschema": QUERY_URN, "schema": self.schema, "operation": self.operation},
        )
        if self.line_count is not None:
            root.set("lineCount", str(self.line_count))
        if self.start_line is not None:
            root.set("startLine", str(self.start_line))
        for tag, child, exprs in (
            ("select", "node", self.select),
            ("where", "condition", self.where),
            ("orderBy", "node", self.order_by),
        ):
            if exprs:
                holder = ET.SubElement(root, tag)
                for expr in exprs:
                    ET.SubElement(holder, child, {"expr": expr})
        return root


def execute(session: SoapSession, query: QueryDef) -> ET.Element | None:
    """Run one ExecuteQuery and return its output document (None when it is empty)."""
    result = session.call(
        QUERY_URN, "ExecuteQuery", [Param.document("document", query.to_element())]
    )
    return result.element(0)


def select(session: SoapSession, query: QueryDef) -> list[ET.Element]:
    """Return the rows of a select (the children of `<…-collection>`)."""
    output = execute(session, replace(query, operation="select"))
    return [] if output is None else list(output)


def count(session: SoapSession, schema: str, where: tuple[str, ...] = ()) -> int:
    """Return how many rows of `schema` match `where` (one call)."""
    output = execute(session, QueryDef(schema, where=where, operation="count"))
    return int(output.get("count", "0")) if output is not None else 0


def value_at(row: ET.Element, xpath: str) -> str | None:
    """Return the value a selected XPath (`@email`, `[folder/@name]`, `data`) has in a row."""
    steps = xpath.strip("[]").split("/")
    node: ET.Element | None = row
    for step in steps[:-1]:
        if node is not None:
            node = next((c for c in node if local_name(c.tag) == step), None)
    last = steps[-1]
    if node is None:
        return None
    if last.startswith("@"):
        return node.get(last[1:])
    element = next((c for c in node if local_name(c.tag) == last), None)
    return None if element is None else (element.text or "")


def iter_pages(
    session: SoapSession, query: QueryDef, page_size: int = DEFAULT_PAGE_SIZE
) -> Iterator[list[ET.Element]]:
    """Yield a select's rows page by page (`lineCount` + `startLine`); `orderBy` required."""
    if not query.order_by:
        msg = "paging with startLine needs an orderBy (rows would repeat or go missing)"
        raise ValueError(msg)
    start = 0
    while True:
        rows = select(session, replace(query, line_count=page_size, start_line=start))
        if rows:
            yield rows
        if len(rows) < page_size:
            return
        start += page_size


@dataclass(frozen=True)
class Cursor:
    """Where a keyset read stands: the last row's modification date-time and id.

    Without an id (a first read from a start date) rows modified at `modified` are included.
    """

    modified: datetime.datetime
    id: str | None = None


@dataclass(frozen=True)
class Page:
    """A page of rows and the cursor after its last row (the checkpoint)."""

    rows: list[ET.Element]
    cursor: Cursor


def _id_literal(value: str) -> Literal:
    return int(value) if value.lstrip("-").isdigit() else value


def keyset_condition(
    cursor: Cursor, modified_xpath: str = "@lastModified", id_xpath: str = "@id"
) -> str:
    """Return the condition selecting the rows after `cursor`, in (modified, id) order."""
    if cursor.id is None:
        return compare(modified_xpath, ">=", cursor.modified)
    after = compare(modified_xpath, ">", cursor.modified)
    same = compare(modified_xpath, "=", cursor.modified)
    return f"({after}) OR ({same} AND {compare(id_xpath, '>', _id_literal(cursor.id))})"


def iter_keyset_pages(
    session: SoapSession,
    query: QueryDef,
    since: Cursor | None = None,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    modified_xpath: str = "@lastModified",
    id_xpath: str = "@id",
) -> Iterator[Page]:
    """Yield pages of rows modified since `since`, ordered by (modified, id).

    Each page is one call: `query`'s conditions AND the keyset condition, `lineCount` =
    `page_size`, no `startLine`. Rows without a modification date cannot be ordered and are
    not returned.
    """
    selected = query.select + tuple(x for x in (modified_xpath, id_xpath) if x not in query.select)
    base = replace(query, select=selected, order_by=(modified_xpath, id_xpath))
    cursor = since
    while True:
        keyset = (keyset_condition(cursor, modified_xpath, id_xpath),) if cursor else ()
        not_null = (f"{expand_xpath(modified_xpath)} IS NOT NULL",)
        rows = select(
            session, replace(base, where=query.where + not_null + keyset, line_count=page_size)
        )
        if not rows:
            return
        last = rows[-1]
        modified = from_campaign_datetime(value_at(last, modified_xpath))
        if modified is None:  # excluded by the condition; a server ignoring it would loop
            msg = f"row without {modified_xpath} in a keyset page of {query.schema}"
            raise ValueError(msg)
        cursor = Cursor(modified, value_at(last, id_xpath))
        yield Page(rows, cursor)
        if len(rows) < page_size:
            return


def read_by_keys(
    session: SoapSession,
    schema: str,
    key_xpath: str,
    keys: Iterable[Literal],
    select_xpaths: tuple[str, ...],
) -> dict[str, ET.Element]:
    """Return the rows whose key is among `keys`, by key value (one call; none for no keys).

    `lineCount` is the number of keys, so the server's default row limit never cuts a batch.
    """
    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    nodes = select_xpaths if key_xpath in select_xpaths else (key_xpath, *select_xpaths)
    query = QueryDef(
        schema, select=nodes, where=(is_in(key_xpath, wanted),), line_count=len(wanted)
    )
    found = {}
    for row in select(session, query):
        key = value_at(row, key_xpath)
        if key is not None:
            found[key] = row
    return found
