"""Collection reads: filter segments → SQL, then a page (or a count) of one resource."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from .dates import parse_date, parse_datetime
from .errors import app_error
from .paging import (
    Order,
    Position,
    after_sql,
    fingerprint,
    line_count,
    next_href,
    order_sql,
    parse_order,
    with_params,
)
from .records import RecordBuilder
from .schema import DATE, DATETIME, STRING, Filter, Resource
from .store import q

if TYPE_CHECKING:
    from .runtime import Runtime

_TOP = "\U0010ffff"  # above every character: upper bound of a prefix range


@dataclass
class Listing:
    """A collection URL: resource, chained filters and an optional field projection."""

    resource: Resource
    builder: RecordBuilder
    filters: list[Filter]
    params: list[tuple[str, str]]
    base: str  # href prefix of the API base
    projection: str | None = None

    @property
    def filtered_path(self) -> str:
        """Path below the API base: resource and filters."""
        return "/".join(["", self.builder.api, self.resource.name, *(f.name for f in self.filters)])

    @property
    def path(self) -> str:
        """Path below the API base, with the projected field if any."""
        return f"{self.filtered_path}/{self.projection}" if self.projection else self.filtered_path

    def param(self, name: str) -> str | None:
        """Last value of a query parameter."""
        return next((v for k, v in reversed(self.params) if k == name), None)


def _parameter(listing: Listing, flt: Filter) -> str:
    """Return the filter's parameter as stored (dates normalised), else Campaign's 500."""
    name = flt.params[0]
    value = listing.param(name) or ""
    f = listing.resource.lookup(flt.field)
    kind = f.kind if f is not None else STRING
    if kind not in (DATE, DATETIME):
        return value
    parsed = parse_date(value) if kind == DATE else parse_datetime(value)
    if parsed is None and kind == DATETIME and parse_date(value) is not None:
        parsed = f"{parse_date(value)} 00:00:00.000Z"  # a day stands for its first instant
    if parsed is None:
        raise app_error(f"Invalid value '{value}' for the '{name}' parameter.")
    return parsed


def _filter_sql(listing: Listing, flt: Filter) -> tuple[str, list[Any]]:
    if flt.name != "byText":
        return f"{q(flt.field)} {flt.operator} ?", [_parameter(listing, flt)]
    text = listing.param("text") or ""
    kind = listing.param("filterType")
    names = [kind] if kind else ["email", "lastName"]
    clauses, args = [], []
    for name in names:
        f = listing.builder.fields.get(name)
        if f is None or f.kind != STRING or not f.stored:
            raise app_error(f"Invalid value '{name}' for the 'filterType' parameter.")
        clauses.append(f"({q(f.column)} >= ? AND {q(f.column)} < ?)")
        args += [text, text + _TOP]  # case-sensitive prefix match, index-friendly
    return f"({' OR '.join(clauses)})", args


def where(listing: Listing) -> tuple[list[str], list[Any]]:
    """WHERE conditions of the chained filters."""
    clauses: list[str] = []
    args: list[Any] = []
    for flt in listing.filters:
        sql, values = _filter_sql(listing, flt)
        clauses.append(sql)
        args += values
    return clauses, args


def count(rt: Runtime, listing: Listing) -> dict[str, Any]:
    """`{"count": n}` for `…/_count`."""
    clauses, args = where(listing)
    sql = f"SELECT COUNT(*) FROM {q(listing.resource.name)}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    return {"count": int(rt.store.conn.execute(sql, args).fetchone()[0])}


def page(rt: Runtime, listing: Listing) -> dict[str, Any]:
    """One page: `content`, `next` (unless last page or big table), `count`, pagination flag."""
    size = line_count(listing.param("_lineCount"))
    order: Order | None = parse_order(
        listing.resource, listing.builder.fields, listing.param("_order")
    )
    query_id = fingerprint(listing.path, listing.params, order)
    clauses, args = where(listing)
    token = listing.param("_lineStart")
    if token:
        sql, values = after_sql(order, rt.line_starts.decode(query_id, token))
        clauses.append(sql)
        args += values
    cols = ", ".join(map(q, listing.builder.columns))
    sql = f"SELECT {cols} FROM {q(listing.resource.name)}"
    if clauses:
        sql += " WHERE " + " AND ".join(clauses)
    sql += f" {order_sql(order)} LIMIT ?"
    rows = rt.store.conn.execute(sql, [*args, size + 1]).fetchall()
    more = len(rows) > size
    rows = rows[:size]
    today: date = rt.clock.now().date()
    base = listing.base
    if listing.projection:
        project = listing.builder.projector(listing.projection)
        content: list[Any] = [project(row, base, today) for row in rows]
    else:
        build = listing.builder.record
        content = [build(row, base, today) for row in rows]
    out: dict[str, Any] = {"content": content}
    url = f"{base}{listing.path}"
    big = rt.store.sizes[listing.resource.name] > rt.settings.big_table_threshold
    forced = (listing.param("_forcePagination") or "").lower() == "true"
    if more and (forced or not big):
        last = rows[-1]
        value = last[listing.builder.columns.index(order.field.column)] if order else None
        position = Position(value, int(last[0]))
        out["next"] = {
            "href": next_href(url, listing.params, size, rt.line_starts.encode(query_id, position))
        }
    kept = [(k, v) for k, v in listing.params if k not in ("_lineStart", "_lineCount", "_order")]
    out["count"] = {"href": with_params(f"{base}{listing.filtered_path}/_count", kept)}
    out["serverSidePagination"] = True
    return out
