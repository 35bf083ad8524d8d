"""The files of Campaign's import workflows: the file a workflow loads, and its rejects file.

The format is the tenant's Load file configuration ([design] of this project, as the sandbox
serves it): UTF-8, a header row, `,`, RFC 4180 quoting, LF line ends. Header names are the
resource's field names (`email`), an item's sub-field as `location.city`, a link as
`<link>.<identification key of its target>` (`profile.externalId`). Cells: text as is,
booleans `1`/`0`, numbers with a `.`, dates and date-times in Campaign's REST forms (the values
the REST client sends), enumerations by value name, an empty cell for null. A column left out
of the file leaves the field unchanged on update, so every line of a file sets the same fields.

The rejects file: same dialect, columns `record` (1-based position among the data lines),
`reason`, then the file's own columns.
"""

from __future__ import annotations

import csv
import io
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence

#: Columns of a rejects file before the import file's own.
REJECT_RECORD, REJECT_REASON = "record", "reason"


def cell(value: t.Any) -> str:
    """Return the text of one value (already in Campaign's REST form) in an import file."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def flatten(values: Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Name an item's sub-fields `item.sub` (`{"location": {"city": …}}` → `location.city`)."""
    flat: dict[str, t.Any] = {}
    for name, value in values.items():
        if isinstance(value, dict):
            for sub, sub_value in value.items():
                flat[f"{name}.{sub}"] = sub_value
        else:
            flat[name] = value
    return flat


class ImportFileWriter:
    """Writes one import file: a header of the given columns, then one line per record."""

    def __init__(self, handle: t.TextIO, columns: Sequence[str]) -> None:
        """Write the header row to `handle` (opened with `newline=""`, UTF-8)."""
        self.columns = list(columns)
        self.lines = 0
        self._writer = csv.writer(handle, lineterminator="\n")
        self._writer.writerow(self.columns)

    def write(self, values: Mapping[str, t.Any]) -> int:
        """Write one line (columns missing from `values` are empty); its 1-based number."""
        self._writer.writerow([cell(values.get(column)) for column in self.columns])
        self.lines += 1
        return self.lines


@dataclass(frozen=True)
class RejectedLine:
    """One line of a rejects file: its position in the import file, why, and its cells."""

    record: int
    reason: str
    cells: dict[str, str]


class RejectsFormatError(ValueError):
    """A rejects file that is not in the expected format."""


def read_rejects(text: str) -> Iterator[RejectedLine]:
    """Parse a rejects file (BOM skipped)."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff")))
    if reader.fieldnames is None:
        return
    if list(reader.fieldnames[:2]) != [REJECT_RECORD, REJECT_REASON]:
        msg = f"a rejects file starts with the columns record,reason; got {reader.fieldnames[:2]}"
        raise RejectsFormatError(msg)
    for row in reader:
        try:
            number = int(row[REJECT_RECORD])
        except (TypeError, ValueError):
            msg = f"a rejects line has no line number: {row!r}"
            raise RejectsFormatError(msg) from None
        cells = {k: v for k, v in row.items() if k not in (REJECT_RECORD, REJECT_REASON)}
        yield RejectedLine(number, row[REJECT_REASON] or "", cells)
