"""Campaign list paging: `_lineCount`, `_order`, and the opaque `_lineStart` of `next.href`.

Pages are read by key set (the last row's order value and row id), so deep pages cost the same
as the first. The position travels sealed in `_lineStart`, bound to the query it was issued
for: a hand-made, edited or foreign `_lineStart` is refused.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from .errors import app_error
from .pkeys import Sealer
from .schema import Field, Resource

DEFAULT_LINE_COUNT = 25
CONTROL_PARAMS = frozenset({"_lineCount", "_lineStart", "_order", "_forcePagination"})


@dataclass(frozen=True)
class Order:
    """`_order=<field>` or `_order=<field> desc` (`%20desc` in URLs)."""

    field: Field
    desc: bool


@dataclass(frozen=True)
class Position:
    """Where the next page starts: after this order value and row id."""

    value: Any
    row_id: int


def line_count(value: str | None) -> int:
    """`_lineCount`, 25 by default."""
    if value is None:
        return DEFAULT_LINE_COUNT
    try:
        count = int(value)
    except ValueError:
        count = 0
    if count < 1:
        raise app_error(f"Invalid value '{value}' for the '_lineCount' parameter.")
    return count


def parse_order(resource: Resource, visible: dict[str, Field], value: str | None) -> Order | None:
    """Return the requested order; only fields flagged sortable in the metadata qualify."""
    if not value:
        return None
    name, _, direction = value.strip().partition(" ")
    direction = direction.strip().lower()
    f = visible.get(name)
    if f is None or not f.sortable or direction not in ("", "asc", "desc"):
        raise app_error(f"The '{value}' order is not valid for the '{resource.name}' resource.")
    return Order(f, direction == "desc")


def fingerprint(path: str, params: list[tuple[str, str]], order: Order | None) -> bytes:
    """Identity of a listing (path, filter parameters, order) that a `_lineStart` belongs to."""
    kept = sorted((k, v) for k, v in params if k not in CONTROL_PARAMS)
    text = repr((path, kept, order and (order.field.name, order.desc)))
    return hashlib.sha256(text.encode()).digest()[:8]


class LineStarts:
    """Seals and opens `_lineStart` tokens."""

    def __init__(self, sealer: Sealer) -> None:
        """Use the instance secret."""
        self.sealer = sealer

    def encode(self, query_id: bytes, position: Position) -> str:
        """Return a token for the page after `position`."""
        return self.sealer.seal(
            b"lineStart", query_id + msgspec.msgpack.encode([position.value, position.row_id])
        )

    def decode(self, query_id: bytes, token: str) -> Position:
        """Return the position in a token issued for this listing, else Campaign's error."""
        payload = self.sealer.open(b"lineStart", token)
        if payload is None or payload[:8] != query_id:
            raise app_error(f"Invalid value '{token}' for the '_lineStart' parameter.")
        value, row_id = msgspec.msgpack.decode(payload[8:])
        return Position(value, int(row_id))


def order_sql(order: Order | None) -> str:
    """ORDER BY clause (row id breaks ties, in the same direction)."""
    if order is None:
        return "ORDER BY id"
    direction = " DESC" if order.desc else ""
    return f'ORDER BY "{order.field.column}"{direction}, id{direction}'


def after_sql(order: Order | None, position: Position) -> tuple[str, list[Any]]:
    """Condition selecting the rows after `position` (SQLite sorts NULLs first)."""
    if order is None:
        return "id > ?", [position.row_id]
    col, value, row_id = f'"{order.field.column}"', position.value, position.row_id
    if not order.desc:
        if value is None:
            return f"(({col} IS NULL AND id > ?) OR {col} IS NOT NULL)", [row_id]
        return f"({col}, id) > (?, ?)", [value, row_id]
    if value is None:
        return f"({col} IS NULL AND id < ?)", [row_id]
    return f"(({col}, id) < (?, ?) OR {col} IS NULL)", [value, row_id]


def with_params(url: str, params: list[tuple[str, str]]) -> str:
    """`url?params`, spaces as `%20` like Campaign's hrefs."""
    if not params:
        return url
    return f"{url}?{urlencode(params, safe='@', quote_via=quote)}"


def next_href(url: str, params: list[tuple[str, str]], count: int, token: str) -> str:
    """Return the `next.href` of a page: same query, same `_lineCount`, a new `_lineStart`."""
    kept = [(k, v) for k, v in params if k not in ("_lineCount", "_lineStart")]
    return with_params(url, [*kept, ("_lineCount", str(count)), ("_lineStart", token)])
