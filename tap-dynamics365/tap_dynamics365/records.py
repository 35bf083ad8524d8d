"""Turning Web API rows into stream records, with field lists computed once per stream."""

from __future__ import annotations

import typing as t

from dataverse_client.metadata import FORMATTED_SUFFIX, LOOKUP_NAME_SUFFIX

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from dataverse_client.metadata import Column

LOOKUP_NAME_ANNOTATION = "Microsoft.Dynamics.CRM.lookuplogicalname"
FORMATTED_VALUE_ANNOTATION = "OData.Community.Display.V1.FormattedValue"


class RecordBuilder:
    """Projects a row onto the stream's columns.

    - lookups keep Dataverse's `_<name>_value` GUID and gain `_<name>_value_lookuplogicalname`
      from the `lookuplogicalname` annotation;
    - multi-select choices (`"1,2"`) become arrays of integers;
    - with formatted values, `<column>_formatted` carries the FormattedValue annotation.

    Only selected output columns are produced, and keys are looked up with `dict.get`, so
    columns missing from a row come out as null.
    """

    def __init__(
        self,
        columns: Iterable[Column],
        *,
        formatted_values: bool,
        selected: Callable[[str], bool] = lambda _: True,
    ) -> None:
        """Precompute output names and source keys for `columns` and what is `selected`."""
        names: list[str] = []
        sources: list[str] = []
        multiselect: list[str] = []
        for column in columns:
            read = column.read_name
            names.append(read)
            sources.append(read)
            if column.is_lookup:
                names.append(read + LOOKUP_NAME_SUFFIX)
                sources.append(f"{read}@{LOOKUP_NAME_ANNOTATION}")
            if formatted_values and column.has_formatted_value:
                names.append(read + FORMATTED_SUFFIX)
                sources.append(f"{read}@{FORMATTED_VALUE_ANNOTATION}")
            if column.is_multiselect and selected(read):
                multiselect.append(read)
        pairs = [
            (name, source) for name, source in zip(names, sources, strict=True) if selected(name)
        ]
        self.names = tuple(name for name, _ in pairs)
        self.sources = tuple(source for _, source in pairs)
        self.multiselect = tuple(multiselect)

    def build(self, row: dict[str, t.Any]) -> dict[str, t.Any]:
        """Return the record for one row."""
        record = dict(zip(self.names, map(row.get, self.sources), strict=True))
        for name in self.multiselect:
            value = record[name]
            if value is not None:
                record[name] = [int(v) for v in value.split(",")] if value else []
        return record
