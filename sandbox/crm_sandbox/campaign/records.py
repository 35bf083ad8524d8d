"""Rows → JSON records, built straight from SQLite tuples (the hot path of every list page).

Each (resource, endpoint) gets one generated function returning a dict literal, with every
field's conversion inlined (no per-field calls): ~4x faster than a loop over converters.
The generated source only ever contains schema names and column indexes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any

from .dates import age
from .schema import BOOLEAN, COLLECTION, DOUBLE, ENUM, INTEGER, ITEM, LINK, Field, Resource
from .store import columns

Row = Sequence[Any]
# Builds a value from a row, the href prefix of the API base and today's date.
Converter = Callable[[Row, str, date], Any]


class _Source:
    """Python expressions for fields, with the constants they refer to."""

    def __init__(self, resource: Resource, path: str) -> None:
        self.index = {c: i for i, c in enumerate(columns(resource))}
        self.names: dict[str, Any] = {"age": age}
        self.path = path

    def expr(self, f: Field) -> str:
        """Expression computing field `f` from `row`, `base` and `today`."""
        if f.name == "age":
            i = self.index["birthDate"]
            return f"(age(row[{i}], today) if row[{i}] else 0)"
        if f.kind == COLLECTION:
            pkey = f"row[{self.index['pkey']}]"
            return f"{{'href': base + {self.path!r} + {pkey} + '/{f.name}/'}}"
        if f.kind == ITEM:
            subs = sorted(f.children, key=lambda c: c.name)
            return "{" + ", ".join(f"{c.name!r}: {self.expr(c)}" for c in subs) + "}"
        i = self.index[f.column]
        if f.kind == LINK:
            path = f"/profileAndServicesExt/{f.target}/"
            return (
                f"({{'PKey': row[{i}], 'href': base + {path!r} + row[{i}]}} if row[{i}] else {{}})"
            )
        if f.kind == BOOLEAN:
            return f"(row[{i}] == 1)"
        if f.kind in (INTEGER, DOUBLE):
            return f"(0 if row[{i}] is None else row[{i}])"
        if f.kind == ENUM:
            assert f.enum is not None
            name = f"enum_{f.name}"
            self.names[name] = f.enum.by_value
            return f"{name}.get(row[{i}], '')"
        return f"(row[{i}] or '')"

    def compile(self, body: str) -> Converter:
        """Return a function `(row, base, today) -> body`."""
        code = f"def convert(row, base, today):\n    return {body}\n"
        namespace = dict(self.names)
        exec(compile(code, "<campaign-record>", "exec"), namespace)
        converter: Converter = namespace["convert"]
        return converter


class RecordBuilder:
    """Builds the records of one resource as one endpoint shows them."""

    def __init__(self, resource: Resource, api: str) -> None:
        """Generate the record function for the fields visible on `api`."""
        self.resource = resource
        self.api = api
        self.columns = columns(resource)
        self.path = f"/{api}/{resource.name}/"
        visible = resource.visible(api == "profileAndServicesExt")
        self.fields = {f.name: f for f in visible}
        self._source = _Source(resource, self.path)
        pkey = f"row[{self._source.index['pkey']}]"
        entries = [(f.name, self._source.expr(f)) for f in visible]
        entries.append(("href", f"base + {self.path!r} + {pkey}"))
        items = ", ".join(f"{name!r}: {expr}" for name, expr in sorted(entries))
        self.record: Converter = self._source.compile(f"{{'PKey': {pkey}, {items}}}")

    def href(self, base: str, pkey: str) -> str:
        """Return the URL of a record."""
        return f"{base}{self.path}{pkey}"

    def projector(self, field_name: str) -> Converter:
        """Return the converter of one field, for `/profile/<field>` projections."""
        return self._source.compile(self._source.expr(self.fields[field_name]))


def builder(resource: Resource, api: str) -> RecordBuilder:
    """Return the builder of a resource on an endpoint, cached on the Resource.

    A changed data model (an enumeration written over SOAP) makes new Resource objects, so
    builders never outlive the enumerations they inlined.
    """
    found = resource._builders.get(api)
    if found is None:
        found = resource._builders[api] = RecordBuilder(resource, api)
    return found
