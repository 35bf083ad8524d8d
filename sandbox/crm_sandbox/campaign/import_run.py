"""One run of an import workflow, from the file in the SFTP storage area to the rejects file.

Activities, as Adobe's import pattern chains them (`creating-import-workflow-templates.md`,
`update-data.md`): Transfer file (the `fileName` parameter, a path in the storage area; missing,
outside the area or above `import_max_bytes` → the run is erroneous), Load file (reads every
line first: a malformed file, more than `import_max_lines` lines or a bad header → erroneous and
nothing is written), Reconciliation on the resource's identification key and on its links' keys,
Update data "Insert or update" (a line whose key exists updates that record, else it inserts;
a key repeated in the file updates what its earlier line wrote), then the rejects (Load file's
"Keep the rejects in a file" and Update data's rejects) extracted to `d365_loads/rejects/`.

[design] Update data commits batches of `BATCH` lines and yields to the event loop between
them, so the API keeps answering during a long run and a cancelled run (the `stop` command, a
reset, the server stopping) keeps the batches already written, as a real Update data does.
Writes cost engine calls like REST writes ([inference]: insert 1, update 2, identical 1).
"""

from __future__ import annotations

import asyncio
import csv
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .config import REJECTS_DIR
from .dates import stamp
from .errors import CampaignError
from .import_format import FileFormatError, Layout, LineRejected, RejectsWriter, reason
from .schema import Resource
from .store import q
from .validation import check_mandatory

if TYPE_CHECKING:
    from .runtime import Runtime

log = logging.getLogger(__name__)

BATCH = 500  # lines per Update data transaction ("Batch size")
IN_PROGRESS, FINISHED, ERRONEOUS = "inProgress", "finished", "erroneous"


class RunFailed(Exception):
    """The run cannot go on; its text becomes the run's `error`."""


@dataclass
class Counts:
    """`read`: data lines Load file has read; the others: what became of them."""

    read: int = 0
    inserted: int = 0
    updated: int = 0
    unchanged: int = 0  # the line matched its record exactly (1 engine call)
    rejected: int = 0


@dataclass
class Run:
    """The state of a run, as `lastRun` of the workflow shows it."""

    id: int
    source: str
    parameters: dict[str, Any]
    signalled: str
    status: str = IN_PROGRESS
    activity: str = "transferFile"
    file: str | None = None
    ended: str | None = None
    counts: Counts = field(default_factory=Counts)
    rejectsFile: str | None = None  # the wire name
    error: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Run:
        """Rebuild a run saved with `as_dict`."""
        return cls(**{**data, "counts": Counts(**data["counts"])})

    def as_dict(self) -> dict[str, Any]:
        """JSON form."""
        return asdict(self)


def run_key(workflow: str) -> str:
    """Meta key of a workflow's last run."""
    return f"workflow:{workflow}:run"


def save(rt: Runtime, workflow: str, run: Run) -> None:
    """Persist the run (the Campaign database's meta table: it survives restarts)."""
    rt.store.set_meta(run_key(workflow), json.dumps(run.as_dict()))


def _storage_path(rt: Runtime, name: str) -> Path:
    """Transfer file: the local path of `name` in the storage area (RunFailed if unusable)."""
    if not name:
        raise RunFailed("The signal carried no 'fileName' parameter: there is no file to load.")
    root = rt.drop_root.resolve()
    path = (root / name.lstrip("/")).resolve()
    if not path.is_relative_to(root) or not path.is_file():
        raise RunFailed(f"The file '{name}' does not exist in the SFTP storage area.")
    size = path.stat().st_size
    if size > rt.settings.import_max_bytes:
        raise RunFailed(
            f"The file '{name}' has {size} bytes; the import takes at most "
            f"{rt.settings.import_max_bytes}."
        )
    return path


@contextmanager
def _lines(path: Path) -> Iterator[Iterator[tuple[int, list[str]]]]:
    """(record number, cells) of the non-blank lines: 0 is the header, 1 the first data line."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        yield _records(handle)


def _records(handle: TextIO) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(handle, strict=True)
    number = 0
    try:
        for cells in reader:
            if cells:
                yield number, cells
                number += 1
    except UnicodeDecodeError as exc:
        raise RunFailed(f"The file is not UTF-8 (after line {reader.line_num}): {exc}.") from None
    except csv.Error as exc:
        raise RunFailed(f"Line {reader.line_num + 1} cannot be read: {exc}.") from None


async def _load(rt: Runtime, resource: Resource, path: Path, run: Run) -> Layout:
    """Load file: check the header and count the lines before anything is written."""
    layout: Layout | None = None
    with _lines(path) as lines:
        for number, cells in lines:
            if layout is None:
                try:
                    layout = Layout(resource, rt.store.model.resources, cells)
                except FileFormatError as exc:
                    raise RunFailed(str(exc)) from None
                continue
            run.counts.read = number
            if number > rt.settings.import_max_lines:
                raise RunFailed(
                    f"The file has more than {rt.settings.import_max_lines} lines "
                    "(import_max_lines)."
                )
            if number % BATCH == 0:
                await asyncio.sleep(0)
    if layout is None:
        raise RunFailed("The file is empty: no header row.")
    return layout


def _apply(rt: Runtime, layout: Layout, cells: list[str]) -> str:
    """Reconcile and write one line; its outcome (`inserted`, `updated`, `unchanged`)."""
    resource, store = layout.resource, rt.store
    key = layout.key(cells)
    values = layout.values(store, cells)
    row_id = store.find_key(resource, key)
    current = None if row_id is None else store.get(resource, row_id)
    if current is None:
        check_mandatory(resource, values)
        store.insert(resource, values)
        rt.engine_calls.record(resource.name, "insert")
        return "inserted"
    check_mandatory(resource, {**current, **values})
    changed = store.update(resource, current, values) is not None
    rt.engine_calls.record(resource.name, "update" if changed else "identical_update")
    return "updated" if changed else "unchanged"


def _rejects_name(file: str, epoch: float) -> str:
    stem = Path(file).stem or "import"
    moment = datetime.fromtimestamp(epoch, tz=UTC)
    return (
        f"{REJECTS_DIR}/{stem}_{moment:%Y%m%dT%H%M%S}{round(epoch * 1000) % 1000:03d}Z_rejects.csv"
    )


async def _update(
    rt: Runtime, workflow: str, layout: Layout, path: Path, run: Run, rejects: RejectsWriter
) -> None:
    """Reconciliation + Update data, in batches of one transaction each."""
    counts = run.counts
    with _lines(path) as lines:
        next(lines)  # the header, checked by Load file
        while batch := list(islice(lines, BATCH)):
            with _transaction(rt, layout.resource):
                for record, cells in batch:
                    try:
                        outcome = _apply(rt, layout, cells)
                    except (CampaignError, LineRejected) as exc:
                        counts.rejected += 1
                        rejects.add(record, reason(exc), cells)
                        continue
                    setattr(counts, outcome, getattr(counts, outcome) + 1)
                save(rt, workflow, run)
            await asyncio.sleep(0)


@contextmanager
def _transaction(rt: Runtime, resource: Resource) -> Iterator[None]:
    conn = rt.store.conn
    conn.execute("BEGIN")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        count = conn.execute(f"SELECT COUNT(*) FROM {q(resource.name)}").fetchone()[0]
        rt.store.sizes[resource.name] = int(count)
        raise
    conn.execute("COMMIT")


def settle(rt: Runtime, workflow: str, run: Run, task: asyncio.Task[None]) -> None:
    """Close a run whose task was cancelled before its first step (`execute` never ran)."""
    if run.status == IN_PROGRESS and task.cancelled():
        try:
            task.result()
        except asyncio.CancelledError as exc:
            run.error = str(exc.args[0]) if exc.args else "The run was cancelled."
        run.status, run.ended = ERRONEOUS, stamp(rt.clock.time())
        save(rt, workflow, run)


async def execute(rt: Runtime, workflow: str, resource: Resource, run: Run) -> None:
    """Run the workflow's activities for a signalled run; the outcome is saved in `run`."""
    rejects: RejectsWriter | None = None
    try:
        name = str(run.parameters.get("fileName") or "")
        run.file = name.lstrip("/") or None
        path = _storage_path(rt, name)
        run.activity = "loadFile"
        save(rt, workflow, run)
        layout = await _load(rt, resource, path, run)
        run.activity = "updateData"
        run.rejectsFile = _rejects_name(name, rt.clock.time())
        rejects = RejectsWriter(rt.drop_root / run.rejectsFile, layout.header)
        await _update(rt, workflow, layout, path, run, rejects)
        run.activity = "extractRejects"
        rejects.close()
        rejects = None
        run.status, run.activity = FINISHED, "end"
    except RunFailed as exc:
        run.status, run.error = ERRONEOUS, str(exc)
    except asyncio.CancelledError as exc:
        run.status = ERRONEOUS
        run.error = str(exc.args[0]) if exc.args else "The run was cancelled."
        raise
    except Exception as exc:  # a workflow in error keeps the instance serving
        log.exception("import run %s of %s failed", run.id, workflow)
        run.status, run.error = ERRONEOUS, f"Unexpected error: {exc}"
    finally:
        if rejects is not None:
            rejects.discard()
            run.rejectsFile = None
        run.ended = stamp(rt.clock.time())
        save(rt, workflow, run)
