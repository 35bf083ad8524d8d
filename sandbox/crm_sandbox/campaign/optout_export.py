"""The opt-out export workflow `WKF_OPTOUT_EXPORT`: profiles' opt-outs as CSV in the SFTP area.

Adobe: "Campaign opt-out data will be periodically exported via workflow to your Campaign SFTP
storage area", once a day, folder `d365_loads/exports`. Adobe documents neither the file name
nor its columns; this layout is our tenant workflow's [design]:

- `optouts_<YYYYMMDD>T<HHMMSSmmm>Z.csv` (UTC of the run on the sandbox clock; strictly later
  than the previous file's, so lexical order = run order), written as `<name>.part` and renamed.
- UTF-8, header row, `,`, RFC 4180 quoting, LF line ends. Columns `PKey, externalId, email,
  lastModified`, then per opt-out attribute A `A, ALastModified`; booleans `1`/`0`, times in
  Campaign's `YYYY-MM-DD HH:MM:SS.mmmZ`, empty cell = null.
- Incremental (an "Incremental query" on the attribute change times): profiles with a change
  time after the watermark (the latest change time exported so far, kept in the database's meta
  table); `full`: every profile with an opt-out set or ever changed. Ordered by (latest change
  time, PKey). An empty increment writes no file and keeps the watermark.
"""

from __future__ import annotations

import csv
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .config import IMPORTS_DIR, OPT_OUT_EXPORTS_DIR, REJECTS_DIR
from .dates import stamp
from .schema import OPT_OUTS, PROFILE
from .store import changed_column, q

if TYPE_CHECKING:
    from .runtime import Runtime

DROP_DIR = "campaign-sftp"  # the SFTP login's root, inside the state dir
WATERMARK = "optout_export_watermark"  # latest change time exported (meta key)
LAST_FILE_MS = "optout_export_last_file_ms"  # time in the newest file name (epoch ms)
LAST_RUN = "optout_export_last_run"  # epoch seconds of the last run, for the schedule

HEADER = ["PKey", "externalId", "email", "lastModified"]
for _name in OPT_OUTS:
    HEADER += [_name, f"{_name}LastModified"]


@dataclass(frozen=True)
class ExportResult:
    """What one run produced: the file name (None for an empty increment) and its rows."""

    file: str | None
    rows: int

    def as_dict(self) -> dict[str, Any]:
        """JSON form (`{"file", "rows"}`)."""
        return {"file": self.file, "rows": self.rows}


def drop_root(state_dir: Path) -> Path:
    """Return the SFTP storage area (what the login sees as `/`)."""
    return state_dir / DROP_DIR


def exports_dir(state_dir: Path) -> Path:
    """Local folder of the opt-out export files."""
    return drop_root(state_dir) / OPT_OUT_EXPORTS_DIR


def ensure_dirs(state_dir: Path) -> None:
    """Create the storage area, the export folder and the import workflows' folders."""
    for folder in (OPT_OUT_EXPORTS_DIR, IMPORTS_DIR, REJECTS_DIR):
        (drop_root(state_dir) / folder).mkdir(parents=True, exist_ok=True)


def clear(state_dir: Path) -> None:
    """Empty the storage area: a reseed makes a new instance (the watermark went with the DB)."""
    shutil.rmtree(drop_root(state_dir), ignore_errors=True)
    ensure_dirs(state_dir)


def _latest_sql() -> str:
    # SQLite's multi-argument MAX is NULL when any argument is: compare '' for "never".
    return "MAX(" + ", ".join(f"COALESCE({q(changed_column(n))}, '')" for n in OPT_OUTS) + ")"


def _select(rt: Runtime, *, full: bool, watermark: str) -> list[tuple[Any, ...]]:
    latest = _latest_sql()
    cols = ["pkey", "externalId", "email", "lastModified"]
    for name in OPT_OUTS:
        cols += [name, changed_column(name)]
    if full:
        where = " OR ".join([*(f"{q(n)} = 1" for n in OPT_OUTS), f"{latest} <> ''"])
        params: list[str] = []
    else:
        where, params = f"{latest} > ?", [watermark]
    sql = (
        f"SELECT {', '.join(map(q, cols))}, {latest} AS latest FROM {q(PROFILE.name)}"
        f" WHERE {where} ORDER BY latest, pkey"
    )
    return rt.store.conn.execute(sql, params).fetchall()


def _cells(row: tuple[Any, ...]) -> list[str]:
    pkey, external_id, email, last_modified = row[:4]
    out = [pkey, external_id or "", email or "", last_modified or ""]
    for i in range(len(OPT_OUTS)):
        value, changed = row[4 + 2 * i], row[5 + 2 * i]
        out += ["1" if value else "0", changed or ""]
    return out


def file_name(epoch_ms: int) -> str:
    """`optouts_20250601T120000123Z.csv` for a UTC instant in epoch milliseconds."""
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return f"optouts_{moment:%Y%m%dT%H%M%S}{epoch_ms % 1000:03d}Z.csv"


def _write(path: Path, rows: list[tuple[Any, ...]]) -> None:
    part = path.with_name(path.name + ".part")
    with part.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        writer.writerow(HEADER)
        writer.writerows(_cells(r) for r in rows)
        handle.flush()
        os.fsync(handle.fileno())
    part.replace(path)


def run(rt: Runtime, *, full: bool = False) -> ExportResult:
    """Run the export workflow once (see the module docstring)."""
    store = rt.store
    now = rt.clock.time()
    rows = _select(rt, full=full, watermark=store.meta(WATERMARK) or "")
    store.set_meta(LAST_RUN, repr(now))
    if not rows:
        return ExportResult(None, 0)
    epoch_ms = max(round(now * 1000), int(store.meta(LAST_FILE_MS) or 0) + 1)
    name = file_name(epoch_ms)
    ensure_dirs(rt.state_dir)
    _write(exports_dir(rt.state_dir) / name, rows)
    store.set_meta(LAST_FILE_MS, str(epoch_ms))
    latest = str(rows[-1][-1])
    if latest > (store.meta(WATERMARK) or ""):
        store.set_meta(WATERMARK, latest)
    return ExportResult(name, len(rows))


def status(rt: Runtime) -> dict[str, Any]:
    """Watermark, last run (Campaign stamp) and the files in the export folder."""
    last_run = rt.store.meta(LAST_RUN)
    folder = exports_dir(rt.state_dir)
    return {
        "watermark": rt.store.meta(WATERMARK),
        "last_run": stamp(float(last_run)) if last_run else None,
        "files": sorted(p.name for p in folder.iterdir()) if folder.is_dir() else [],
    }
