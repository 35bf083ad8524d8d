"""Writes with `xtk:session#Write` and `WriteCollection`: records, keys, links, deletes.

A record is an element named after its schema (`<recipient>` for `nms:recipient`, `<purchase>`
for `cus:purchase`) with its fields as attributes, `_key` (the XPaths it is reconciled on, e.g.
`@crmId`) and `_operation` (`insertOrUpdate` by default, `insert`, `update`, `delete`, or
`none` for a link). A link is reconciled by key inside the record, so no primary key is needed:
`<recipient _key="@crmId" crmId="c-1" _operation="none"/>`. A delete carries its key fields only.

`WriteCollection` sends many records in one call, as Adobe's JS SDK does: a root named after the
schema with its `xtkschema`, one child per record. Campaign answers no primary key, and a fault
refuses the whole call (a caller finds the refused record by splitting the collection).

Values are written as Campaign reads them back: booleans `1`/`0`, dates `YYYY-MM-DD`,
date-times in the SDK's ISO form, `None` as an empty attribute (NULL).
"""

from __future__ import annotations

import datetime
import math
import typing as t
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal

from campaign_client.dates import to_iso_datetime
from campaign_client.soap import Param

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from campaign_client.soap_session import SoapSession

WRITE_URN = "xtk:session"
OPERATIONS = frozenset({"insert", "insertOrUpdate", "update", "delete", "none"})

Value = str | int | float | Decimal | bool | datetime.date | datetime.datetime | None


def format_value(value: Value) -> str:
    """Return a field's attribute text."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime.datetime):
        return to_iso_datetime(value)
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


def element_name(schema: str) -> str:
    """Return a schema's element name (`nms:recipient` → `recipient`)."""
    return schema.rpartition(":")[2]


def _check_operation(operation: str) -> None:
    if operation not in OPERATIONS:
        msg = f"_operation must be one of {', '.join(sorted(OPERATIONS))}, got '{operation}'"
        raise ValueError(msg)


@dataclass(frozen=True)
class Link:
    """A link of a record, reconciled by key: `<name _key=… field=… _operation="none"/>`."""

    name: str
    key: tuple[str, ...]
    values: Mapping[str, Value]
    operation: str = "none"

    def __post_init__(self) -> None:
        """Refuse an unknown operation."""
        _check_operation(self.operation)


@dataclass(frozen=True)
class Record:
    """One record to write: its fields, reconciliation key, operation and links."""

    values: Mapping[str, Value]
    key: tuple[str, ...] = ()
    operation: str = "insertOrUpdate"
    links: tuple[Link, ...] = ()

    def __post_init__(self) -> None:
        """Refuse an unknown operation."""
        _check_operation(self.operation)

    @classmethod
    def delete(cls, key: tuple[str, ...], values: Mapping[str, Value]) -> Record:
        """Return the delete of the record whose key fields have `values`."""
        return cls(values, key, "delete")


def _element(
    tag: str, key: tuple[str, ...], operation: str, values: Mapping[str, Value]
) -> ET.Element:
    attributes = {"_operation": operation}
    if key:
        attributes["_key"] = ", ".join(key)
    attributes.update((name, format_value(value)) for name, value in values.items())
    return ET.Element(tag, attributes)


def record_element(schema: str, record: Record) -> ET.Element:
    """Return the element of one record (without `xtkschema`: see `document`)."""
    element = _element(element_name(schema), record.key, record.operation, record.values)
    for link in record.links:
        element.append(_element(link.name, link.key, link.operation, link.values))
    return element


def document(schema: str, record: Record) -> ET.Element:
    """Return the document `Write` sends: the record's element with its `xtkschema`."""
    element = record_element(schema, record)
    element.set("xtkschema", schema)
    return element


def collection(schema: str, records: Sequence[Record]) -> ET.Element:
    """Return the document `WriteCollection` sends: `<name xtkschema=…>` with one child each."""
    root = ET.Element(element_name(schema), {"xtkschema": schema})
    root.extend(record_element(schema, record) for record in records)
    return root


def _idempotent(records: Sequence[Record]) -> bool:
    """Tell whether the records may be written twice (an insert may not)."""
    return all(record.operation != "insert" for record in records)


def write(session: SoapSession, schema: str, record: Record) -> None:
    """Write one record (`xtk:session#Write`)."""
    session.call(
        WRITE_URN,
        "Write",
        [Param.document("doc", document(schema, record))],
        idempotent=_idempotent([record]),
    )


def write_collection(session: SoapSession, schema: str, records: Sequence[Record]) -> None:
    """Write many records of one schema in one `xtk:session#WriteCollection` (none: no call)."""
    if not records:
        return
    session.call(
        WRITE_URN,
        "WriteCollection",
        [Param.document("doc", collection(schema, records))],
        idempotent=_idempotent(records),
    )
