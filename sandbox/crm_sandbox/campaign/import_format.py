"""The file format of the import workflows (`WKF_IMPORT_<RESOURCE>`) and of their rejects.

Adobe leaves the format to each Load file activity's configuration; this is our tenant's
[design], the dialect of the opt-out export: UTF-8 (a BOM is skipped), a header row, `,`
separator, RFC 4180 quoting (`"`, doubled inside a value; values may span lines), LF or CRLF
line ends; blank lines are skipped. Header names are the resource's field names on
`profileAndServicesExt`: `email`, an item's sub-field as `location.city`, a link as
`<link>.<identification key of its target>` (`profile.externalId` on cusProject: the
Reconciliation activity's "Links" tab, by key). The identification key column is mandatory.

Cells: text as is; booleans `1`/`0` (or `true`/`false`); numbers with a `.`; dates
`YYYY-MM-DD`; date-times `YYYY-MM-DD HH:MM:SS[.mmm]Z`; enumerations by value name. An empty cell
is null (a boolean or an enumeration takes its default, as a JSON null does); a column left out
of the file leaves the field unchanged on update. Every line then goes through the REST API's
validation (`validation.to_storage`, `check_mandatory`), so a rejected line carries the text a
POST/PATCH of the same values would answer.

Rejects file [design]: same dialect, columns `record` (1-based position among the data lines,
header not counted), `reason`, then the file's own columns with the line's cells (a line with
the wrong number of cells is cut or padded to the header).
"""

from __future__ import annotations

import csv
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import CampaignError, app_error
from .schema import BOOLEAN, COLLECTION, DOUBLE, INTEGER, ITEM, LINK, Field, Resource
from .store import Store
from .validation import IGNORED, to_storage

_TRUE, _FALSE = frozenset({"1", "true"}), frozenset({"0", "false"})
_INTEGER = re.compile(r"^[+-]?\d+$")


class FileFormatError(Exception):
    """The file cannot be loaded at all (the run ends erroneous with this text)."""


class LineRejected(Exception):
    """A line the Load file or Reconciliation activity rejects (not a REST validation error)."""


@dataclass(frozen=True)
class Column:
    """One header column: the field it writes (an item's sub-field in `sub`, a link's target)."""

    name: str
    field: Field
    sub: Field | None = None
    target: Resource | None = None  # link columns: the resource whose key the cells hold

    @property
    def leaf(self) -> Field:
        """The scalar field a cell holds."""
        return self.sub or self.field


def _no_link(f: Field, pkey: str) -> str:
    return pkey  # never called: link columns are resolved by key, outside `to_storage`


def _column(resource: Resource, resources: dict[str, Resource], name: str) -> Column:
    head, _, tail = name.partition(".")
    f = resource.lookup(head)
    if f is not None and f.kind == LINK:
        assert f.target is not None
        target = resources[f.target]
        if tail != target.key:
            raise FileFormatError(
                f"Column '{name}': the link '{head}' is reconciled on '{head}.{target.key}'."
            )
        return Column(name, f, target=target)
    if f is not None and f.kind == ITEM and not tail:
        raise FileFormatError(f"Column '{name}': name a sub-field, e.g. '{name}.city'.")
    if head in IGNORED or (f is not None and (f.kind == COLLECTION or (tail and f.kind != ITEM))):
        raise FileFormatError(f"Column '{name}' cannot be imported into '{resource.name}'.")
    probe: dict[str, Any] = {head: {tail: None} if tail else None}
    try:  # the REST API's own texts for unknown and read-only properties
        to_storage(resource, probe, ext=True, resolve=_no_link)
    except CampaignError as exc:
        raise FileFormatError(f"Column '{name}': {exc.body['message']}") from None
    assert f is not None  # an unknown name failed the probe
    sub = next(c for c in f.children if c.name == tail) if tail else None
    return Column(name, f, sub=sub)


def _typed(f: Field, cell: str) -> Any:
    """Return the JSON value of a cell (unparsable: the text, for `to_storage` to refuse)."""
    if cell == "":
        return None
    if f.kind == BOOLEAN:
        low = cell.lower()
        return True if low in _TRUE else False if low in _FALSE else cell
    if f.kind in (INTEGER, DOUBLE):
        if _INTEGER.match(cell):
            return int(cell)
        try:
            number = float(cell)
        except ValueError:
            return cell
        return number if math.isfinite(number) else cell
    return cell


class Layout:
    """The columns of one file for one resource, and the conversion of its lines."""

    def __init__(
        self, resource: Resource, resources: dict[str, Resource], header: list[str]
    ) -> None:
        """Check the header (FileFormatError: unknown, read-only or repeated column, no key)."""
        assert resource.key is not None
        if len(set(header)) != len(header):
            raise FileFormatError("The header row repeats a column.")
        if resource.key not in header:
            raise FileFormatError(
                f"The header row has no '{resource.key}' column: the reconciliation key."
            )
        self.resource = resource
        self.header = header
        self.columns = [_column(resource, resources, name) for name in header]
        self.key_index = header.index(resource.key)

    def key(self, cells: Sequence[str]) -> str:
        """Return the reconciliation key of a line (LineRejected if it cannot be reconciled)."""
        if len(cells) != len(self.header):
            raise LineRejected(
                f"The line has {len(cells)} columns; the header row has {len(self.header)}."
            )
        key = cells[self.key_index]
        if not key:
            raise LineRejected(f"The reconciliation key '{self.resource.key}' is empty.")
        return key

    def values(self, store: Store, cells: Sequence[str]) -> dict[str, Any]:
        """Storage values of a line, validated as a REST write (CampaignError otherwise)."""
        payload: dict[str, Any] = {}
        links: dict[str, str | None] = {}
        for column, cell in zip(self.columns, cells, strict=True):
            if column.target is not None:
                links[column.field.column] = _link(store, column.target, cell)
            elif column.sub is not None:
                payload.setdefault(column.field.name, {})[column.sub.name] = _typed(
                    column.sub, cell
                )
            else:
                payload[column.field.name] = _typed(column.field, cell)
        values = to_storage(self.resource, payload, ext=True, resolve=_no_link)
        values.update(links)
        return values


def _link(store: Store, target: Resource, key: str) -> str | None:
    """PKey of the target record with this key (None for an empty cell: no link)."""
    if not key:
        return None
    row_id = store.find_key(target, key)
    if row_id is None:
        raise app_error(
            f"Unable to find document with path '{target.name}' from key '{key}'", status=404
        )
    return store.sealer.pkey(target.code, row_id)


def reason(error: Exception) -> str:
    """Return the text a rejects line carries."""
    if isinstance(error, CampaignError):
        return str(error.body.get("message", ""))
    return str(error)


class RejectsWriter:
    """Writes the rejects file as `<name>.part`, renamed to `<name>` by `close`."""

    def __init__(self, path: Path, header: list[str]) -> None:
        """Create the folder and the part file, with its header row."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._part = path.with_name(path.name + ".part")
        self._handle = self._part.open("w", encoding="utf-8", newline="")
        self._writer = csv.writer(self._handle, lineterminator="\n")
        self._width = len(header)
        self._writer.writerow(["record", "reason", *header])

    def add(self, record: int, why: str, cells: Iterable[str]) -> None:
        """Write one rejected line."""
        row = list(cells)[: self._width]
        self._writer.writerow([record, why, *row, *[""] * (self._width - len(row))])

    def close(self) -> None:
        """Flush, sync and publish the file."""
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        self._part.replace(self.path)

    def discard(self) -> None:
        """Drop the part file (a run that did not finish)."""
        self._handle.close()
        self._part.unlink(missing_ok=True)
