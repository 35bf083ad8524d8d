"""Rows → JSON records, built straight from SQLite tuples (the hot path of every list page)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from functools import cache
from typing import Any

from .dates import age
from .schema import BOOLEAN, DOUBLE, ENUM, INTEGER, ITEM, LINK, RESOURCES, Field, Resource
from .store import columns

Row = Sequence[Any]
# A converter gets the row, the href prefix of the API base and today's date.
Converter = Callable[[Row, str, date], Any]


def _scalar(f: Field, i: int) -> Converter:
    if f.kind == BOOLEAN:
        return lambda row, base, today: bool(row[i])
    if f.kind in (INTEGER, DOUBLE):
        return lambda row, base, today: 0 if row[i] is None else row[i]
    if f.kind == ENUM:
        assert f.enum is not None
        names = f.enum.by_value
        return lambda row, base, today: names.get(row[i], "")
    return lambda row, base, today: row[i] or ""


def _name(f: Field) -> str:
    return f.name


def _converter(resource: Resource, f: Field, index: dict[str, int]) -> Converter:
    if f.name == "age":
        born = index["birthDate"]
        return lambda row, base, today: age(row[born], today) if row[born] else 0
    if f.kind == ITEM:
        subs = [(c.name, _scalar(c, index[c.column])) for c in sorted(f.children, key=_name)]
        return lambda row, base, today: {n: conv(row, base, today) for n, conv in subs}
    if f.kind == LINK:
        assert f.target is not None
        i = index[f.column]
        path = f"/profileAndServicesExt/{f.target}/"
        return lambda row, base, today: (
            {"PKey": row[i], "href": f"{base}{path}{row[i]}"} if row[i] else {}
        )
    return _scalar(f, index[f.column])


class RecordBuilder:
    """Builds the records of one resource as one endpoint shows them."""

    def __init__(self, resource: Resource, api: str) -> None:
        """Plan the conversion of every visible field."""
        self.resource = resource
        self.api = api
        self.columns = columns(resource)
        index = {c: i for i, c in enumerate(self.columns)}
        self.pkey_index = index["pkey"]
        visible = resource.visible(api == "profileAndServicesExt")
        self.fields = {f.name: f for f in visible}
        plan = [(f.name, _converter(resource, f, index)) for f in visible]
        self.plan = sorted(plan, key=lambda item: item[0])
        self.path = f"/{api}/{resource.name}/"

    def href(self, base: str, pkey: str) -> str:
        """URL of a record."""
        return f"{base}{self.path}{pkey}"

    def record(self, row: Row, base: str, today: date) -> dict[str, Any]:
        """One record: `PKey`, then the fields and `href` in alphabetical order."""
        pkey = row[self.pkey_index]
        out: dict[str, Any] = {"PKey": pkey}
        href_done = False
        for name, conv in self.plan:
            if not href_done and name > "href":
                out["href"] = f"{base}{self.path}{pkey}"
                href_done = True
            out[name] = conv(row, base, today)
        if not href_done:
            out["href"] = f"{base}{self.path}{pkey}"
        return out

    def projector(self, field_name: str) -> Converter:
        """Return the converter of one field, for `/profile/<field>` projections."""
        index = {c: i for i, c in enumerate(self.columns)}
        return _converter(self.resource, self.fields[field_name], index)


@cache
def builder(resource_name: str, api: str) -> RecordBuilder:
    """Return the (cached) builder of a resource on an endpoint."""
    return RecordBuilder(RESOURCES[resource_name], api)
