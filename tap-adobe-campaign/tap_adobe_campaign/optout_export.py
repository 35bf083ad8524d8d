"""Campaign's opt-out export files: names, columns, positions, and rows → records.

The export workflow writes `optouts_<YYYYMMDD>T<HHMMSSmmm>Z.csv` (UTC of the run, so name
order is time order) to the SFTP export folder: UTF-8, a header row, `,`, RFC 4180 quoting,
columns `PKey,externalId,email,lastModified` then `<flag>,<flag>LastModified` for each opt-out
flag. Booleans are `1`/`0`, times `YYYY-MM-DD HH:MM:SS.fffZ` (UTC), an empty cell is null.

A record's position is `<file>:<row>` with the data row (1 = first row after the header)
zero-padded to 7 digits, so positions sort as the files and rows they name.

A row that breaks the format (a flag not `1`/`0`, an unreadable time, a wrong number of
cells, no PKey) is reported and skipped, not fatal: the next full export carries the
profile again, whereas failing would stop every later opt-out at that row. A header that
differs from the expected columns, or broken CSV quoting, fails the file: that is a format
change, not a bad row.
"""

from __future__ import annotations

import csv
import datetime
import re
import typing as t
from dataclasses import dataclass

from campaign_client.optouts import FLAGS
from singer_sdk import typing as th

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping

#: The export folder, relative to the SFTP login's root (setting `opt_out_exports_dir`).
DEFAULT_EXPORTS_DIR = "d365_loads/exports"
#: Campaign's opt-out attributes, in the export's column order.
PROFILE_COLUMNS = ("PKey", "externalId", "email", "lastModified")
COLUMNS = PROFILE_COLUMNS + tuple(c for flag in FLAGS for c in (flag, f"{flag}LastModified"))
EXPORT_FILE = re.compile(r"optouts_\d{8}T\d{9}Z\.csv")
ROW_DIGITS = 7
_BOOLEANS = {"1": True, "0": False}
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S.%fZ"
_TIME_SHAPE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}Z")

OPT_OUT_SCHEMA = th.PropertiesList(
    th.Property(
        "export_position",
        th.StringType,
        required=True,
        description="<export file>:<data row, 7 digits>: sorts as files and rows are read",
    ),
    th.Property("export_file", th.StringType, required=True, description="The export file"),
    th.Property(
        "PKey",
        th.StringType,
        required=True,
        description="Campaign's opaque record handle: never a durable key",
    ),
    th.Property("externalId", th.StringType, description="The CRM id; null for Campaign-only"),
    th.Property("email", th.StringType),
    th.Property("lastModified", th.DateTimeType, description="The profile's last change"),
    *(
        prop
        for flag in FLAGS
        for prop in (
            th.Property(flag, th.BooleanType, required=True, description="true = opted out"),
            th.Property(
                f"{flag}LastModified",
                th.DateTimeType,
                description=f"When {flag} last changed; null if never",
            ),
        )
    ),
).to_dict()


def exports_dir(config: Mapping[str, t.Any]) -> str:
    """Return the export folder the settings name (`opt_out_exports_dir`)."""
    return (config.get("opt_out_exports_dir") or DEFAULT_EXPORTS_DIR).rstrip("/")


def is_export_file(name: str) -> bool:
    """Whether a folder entry is a finished export (not a `.part`, not another file)."""
    return EXPORT_FILE.fullmatch(name) is not None


def export_time(name: str) -> datetime.datetime:
    """Return the workflow run time in a file name (`optouts_<YYYYMMDD>T<HHMMSSmmm>Z.csv`)."""
    stamp = name.removeprefix("optouts_").removesuffix("Z.csv")
    run = datetime.datetime.strptime(stamp + "000", "%Y%m%dT%H%M%S%f")
    return run.replace(tzinfo=datetime.UTC)


def position(file: str, row: int) -> str:
    """`<file>:<row>` with the row zero-padded to 7 digits."""
    return f"{file}:{row:0{ROW_DIGITS}d}"


def parse_position(value: str) -> tuple[str, int]:
    """Split a position back into (file, row)."""
    file, _, row = value.rpartition(":")
    if not is_export_file(file) or not row.isdigit():
        msg = f"not an opt-out export position: {value!r}"
        raise ValueError(msg)
    return file, int(row)


class ExportFormatError(Exception):
    """The file is not in the export format (header, CSV quoting): it cannot be read."""


@dataclass(frozen=True)
class MalformedRow:
    """A row that was skipped, and why."""

    file: str
    row: int
    column: str
    value: str
    problem: str

    def __str__(self) -> str:
        """`<file> row <n>: <column> <problem> (got '<value>')`."""
        return f"{self.file} row {self.row}: {self.column} {self.problem} (got {self.value!r})"


class _Malformed(Exception):
    def __init__(self, column: str, value: str, problem: str) -> None:
        super().__init__(column, value, problem)
        self.column, self.value, self.problem = column, value, problem


def _time(column: str, value: str) -> str | None:
    if value == "":
        return None
    if not _TIME_SHAPE.fullmatch(value):
        raise _Malformed(column, value, "is not a time YYYY-MM-DD HH:MM:SS.fffZ")
    try:
        parsed = datetime.datetime.strptime(value, _TIME_FORMAT).replace(tzinfo=datetime.UTC)
    except ValueError as exc:
        raise _Malformed(column, value, "is not a valid time") from exc
    return parsed.isoformat()


def _flag(column: str, value: str) -> bool:
    try:
        return _BOOLEANS[value]
    except KeyError:
        raise _Malformed(column, value, "is not a boolean 1/0") from None


def to_record(file: str, row: int, cells: list[str]) -> dict[str, t.Any]:
    """Map one data row to a record; raises `_Malformed` on a bad cell."""
    if len(cells) != len(COLUMNS):
        raise _Malformed("row", ",".join(cells)[:80], f"has {len(cells)} cells, not {len(COLUMNS)}")
    values = dict(zip(COLUMNS, cells, strict=True))
    if not values["PKey"]:
        raise _Malformed("PKey", "", "is empty")
    record: dict[str, t.Any] = {
        "export_position": position(file, row),
        "export_file": file,
        "PKey": values["PKey"],
        "externalId": values["externalId"] or None,
        "email": values["email"] or None,
        "lastModified": _time("lastModified", values["lastModified"]),
    }
    for flag in FLAGS:
        record[flag] = _flag(flag, values[flag])
        column = f"{flag}LastModified"
        record[column] = _time(column, values[column])
    return record


def read_export(
    file: str,
    lines: Iterable[str],
    *,
    after_row: int = 0,
    on_malformed: Callable[[MalformedRow], None],
) -> Iterator[dict[str, t.Any]]:
    """Yield the records of one export file, from the data row after `after_row` on.

    `lines` is the decoded file opened with `newline=""`. Malformed rows go to
    `on_malformed` and are skipped; a wrong header or broken quoting raises
    `ExportFormatError`.
    """
    reader = csv.reader(lines, strict=True)
    row = 0
    try:
        header = next(reader, None)
        if header is None:
            raise ExportFormatError(f"{file}: empty file, no header row")
        if tuple(header) != COLUMNS:
            missing = [c for c in COLUMNS if c not in header]
            unexpected = [c for c in header if c not in COLUMNS]
            msg = (
                f"{file}: unexpected header (missing {missing or 'none'}, unexpected "
                f"{unexpected or 'none'}{', order differs' if not (missing or unexpected) else ''})"
            )
            raise ExportFormatError(msg)
        for row, cells in enumerate(reader, start=1):
            if row <= after_row:
                continue
            try:
                yield to_record(file, row, cells)
            except _Malformed as bad:
                on_malformed(MalformedRow(file, row, bad.column, bad.value, bad.problem))
    except (csv.Error, UnicodeDecodeError) as exc:
        msg = f"{file} row {row + 1}: broken CSV or not UTF-8 ({exc})"
        raise ExportFormatError(msg) from exc
