"""The file path of creates: staged lines, the import workflow, its counts and rejects.

Per stream, creates the `bulk` policy sends to the file are staged in a local file (bounded
memory: one JSON line per record) and indexed without a PKey, so later records find them
(children link to them, a newer record of the same key adds a line). A stage is imported
(`flush`) at the end of the input, or earlier when a REST write needs one of its records (a
child's link, an update or delete of a staged key): parents' stages first, so a child file is
signalled only after its parents' imports finished. Importing one stage:

1. the CSV (`campaign_client.import_files`) is written locally and uploaded to
   `bulk_imports_dir` as `<name>.part`, then renamed;
2. the resource's workflow is signalled with the file (`campaign_client.imports`: the 10-minute
   rule and a run in progress are waited out within `bulk_timeout_seconds`);
3. once the run finished, its rejects file is read from the SFTP storage and every rejected
   line goes to the rejects file with its reason, record, key and the field the reason names;
   the summary counts the run's inserted / updated / unchanged lines, cross-checked against
   the lines sent and the rejects read (a mismatch fails the run).

An erroneous run, a timeout or a failed cross-check raises: the run stops before any further
STATE. The workflow reconciles every line on the key (insert or update), so a file sent again
after a kill (or the records of a killed run sent again in a new file) re-upserts the same
records: nothing is duplicated.
"""

from __future__ import annotations

import datetime
import io
import json
import tempfile
import threading
import time
import typing as t
import uuid
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from campaign_client.client import field_in_message
from campaign_client.import_files import ImportFileWriter, flatten, read_rejects
from campaign_client.imports import ImportRun, ImportWorkflows, WorkflowError
from campaign_client.sftp import RemoteFolder

from target_adobe_campaign.state import Entry

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping, Sequence

    from campaign_client.sftp import SFTPSettings

    from target_adobe_campaign.keyindex import KeyIndex
    from target_adobe_campaign.plan import Write
    from target_adobe_campaign.report import Report
    from target_adobe_campaign.routing import Route

_MISSING_PARENT = "Unable to find document with path '"


class ImportCheckError(WorkflowError):
    """The run's counts do not match the lines sent or the rejects read."""


def _local_file() -> t.TextIO:
    """Open the local file a stage's lines wait in (deleted once closed)."""
    return t.cast("t.TextIO", tempfile.TemporaryFile("w+", encoding="utf-8", prefix="import-"))


@dataclass
class Stage:
    """The lines of one stream waiting for its import."""

    route: Route
    handle: t.TextIO = field(default_factory=lambda: _local_file())
    columns: dict[str, None] = field(default_factory=dict)  # ordered set
    lines: int = 0
    started: float = field(default_factory=time.monotonic)  # when its first line came

    def add(self, key: str, record: Mapping[str, t.Any], row: Mapping[str, t.Any]) -> None:
        """Stage one line (its record kept for the rejects file)."""
        self.columns.update(dict.fromkeys(row))
        self.handle.write(json.dumps({"key": key, "record": record, "row": row}, default=str))
        self.handle.write("\n")
        self.lines += 1

    def staged(self) -> t.Iterator[dict[str, t.Any]]:
        """Yield the staged lines, in order."""
        self.handle.flush()
        self.handle.seek(0)
        for line in self.handle:
            yield json.loads(line)

    def close(self) -> None:
        """Drop the local file."""
        self.handle.close()


class Importer:
    """Stages creates per stream and imports them through the resources' workflows."""

    def __init__(
        self,
        routes: Mapping[str, Route],
        workflows: ImportWorkflows,
        open_folder: Callable[[str], RemoteFolder],
        index_of: Callable[[str], KeyIndex],
        report: Report,
        logger: logging.Logger,
        *,
        budget_seconds: float,
        imports_dir: str,
        checkpoint_seconds: float = 0,
    ) -> None:
        """`open_folder(directory)` opens a folder of the SFTP storage; `index_of(stream)`.

        `checkpoint_seconds`: import before the end once lines have waited that long (0: never).
        """
        self.routes = routes
        self.workflows = workflows
        self.open_folder = open_folder
        self.index_of = index_of
        self.report = report
        self.logger = logger
        self.budget_seconds = budget_seconds
        self.imports_dir = imports_dir.rstrip("/")
        self.checkpoint_seconds = checkpoint_seconds
        self._stages: dict[str, Stage] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_settings(
        cls,
        routes: Mapping[str, Route],
        workflows: ImportWorkflows,
        sftp: SFTPSettings,
        index_of: Callable[[str], KeyIndex],
        report: Report,
        logger: logging.Logger,
        config: Mapping[str, t.Any],
    ) -> Importer:
        """Build one on the SFTP storage of `sftp`, with the `bulk_*` settings of `config`."""
        from target_adobe_campaign.bulk import (
            DEFAULT_BULK_CHECKPOINT_MINUTES,
            DEFAULT_BULK_TIMEOUT,
            DEFAULT_IMPORTS_DIR,
        )

        minutes = config.get("bulk_checkpoint_minutes", DEFAULT_BULK_CHECKPOINT_MINUTES)

        return cls(
            routes,
            workflows,
            lambda directory: RemoteFolder(sftp, directory, logger=logger),
            index_of,
            report,
            logger,
            budget_seconds=float(config.get("bulk_timeout_seconds") or DEFAULT_BULK_TIMEOUT),
            imports_dir=config.get("bulk_imports_dir") or DEFAULT_IMPORTS_DIR,
            checkpoint_seconds=60 * float(minutes or 0),
        )

    # --- staging --------------------------------------------------------------------------

    def staged(self) -> int:
        """How many lines wait for their import (STATE must not pass them)."""
        with self._lock:
            return sum(stage.lines for stage in self._stages.values())

    def due(self) -> bool:
        """Whether lines have waited `checkpoint_seconds` (import them, so STATE can pass)."""
        if not self.checkpoint_seconds:
            return False
        with self._lock:
            oldest = min((stage.started for stage in self._stages.values()), default=None)
        return oldest is not None and time.monotonic() - oldest >= self.checkpoint_seconds

    def is_staged(self, route: Route, key: str) -> bool:
        """Whether `key` may wait in an import file of `route`'s resource.

        The key index holds a staged record without a PKey (on disk, not in memory here): a
        key so held whose stage was imported already makes the caller's flush a no-op.
        """
        with self._lock:
            if not any(
                (stage.route.path, stage.route.key) == (route.path, route.key)
                for stage in self._stages.values()
            ):
                return False
        entry = self.index_of(route.stream).get(key)
        return entry is not None and not entry.pkey

    def stage(self, route: Route, writes: Sequence[Write]) -> None:
        """Stage a batch's creates (and newer records of staged keys) as import lines."""
        index = self.index_of(route.stream)
        with self._lock:
            stage = self._stages.get(route.stream)
            if stage is None:
                stage = self._stages[route.stream] = Stage(route)
            for write in writes:
                body = dict(write.body or {})
                if write.entry is not None:  # a newer record of a staged key: a whole line
                    body = {**write.entry.values, **body}
                stage.add(write.key, write.record, self._row(route, write.record, body))
                index.put(write.key, Entry(pkey="", href="", values=body))

    def _row(
        self, route: Route, record: Mapping[str, t.Any], body: Mapping[str, t.Any]
    ) -> dict[str, t.Any]:
        """Return a line's values: the body's fields, links `<link>.<parent key>` (record)."""
        links = {link.name for link in route.links}
        row = flatten({k: v for k, v in body.items() if k not in links})
        for link in route.links:
            parent_key = self.routes[link.stream].key
            value = record.get(link.field)
            row[f"{link.name}.{parent_key}"] = None if value in (None, "") else str(value)
        return row

    # --- importing ------------------------------------------------------------------------

    def flush_resource(self, route: Route) -> None:
        """Import every stage of `route`'s resource (before a REST write needs its records)."""
        for other in list(self.routes.values()):
            if (other.path, other.key) == (route.path, route.key):
                self.flush(other)

    def flush_all(self) -> None:
        """Import every stage, parents first."""
        for route in list(self.routes.values()):
            self.flush(route)

    def flush(self, route: Route) -> None:
        """Import the stage of `route` (after its parents'), if it has lines."""
        for link in route.links:
            self.flush(self.routes[link.stream])
        with self._lock:
            stage = self._stages.pop(route.stream, None)
        if stage is None:
            return
        try:
            self._import(stage)
        finally:
            stage.close()

    def _import(self, stage: Stage) -> None:
        route = stage.route
        assert route.import_workflow is not None  # only such routes are staged
        name = self._file_name(route)
        with tempfile.TemporaryFile("w+b") as local, self.open_folder(self.imports_dir) as folder:
            self._write_csv(stage, local)
            path = folder.upload(name, local)
        self.logger.info(
            "Importing %d %s line(s) through %s: %s",
            stage.lines,
            route.resource,
            route.import_workflow,
            path,
        )
        run = self.workflows.run(route.import_workflow, path, budget_seconds=self.budget_seconds)
        self.index_of(route.stream).wrote_now()  # Campaign stamped the lines up to now
        rejected = self._record_rejects(stage, run)
        self._check(stage, run, rejected)
        self._count(stage, run)

    def _file_name(self, route: Route) -> str:
        moment = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S")
        return f"{route.resource}_{route.stream}_{moment}_{uuid.uuid4().hex[:8]}.csv"

    @staticmethod
    def _write_csv(stage: Stage, local: t.BinaryIO) -> None:
        text = io.TextIOWrapper(local, "utf-8", newline="")
        writer = ImportFileWriter(text, list(stage.columns))
        for line in stage.staged():
            writer.write(line["row"])
        text.flush()
        text.detach()

    def _record_rejects(self, stage: Stage, run: ImportRun) -> int:
        """Write the run's rejected lines to the rejects file; forget their keys; how many."""
        if not run.rejects_file:
            if run.counts.rejected:
                msg = (
                    f"Import run {run.id} rejected {run.counts.rejected} line(s) but names no "
                    "rejects file"
                )
                raise ImportCheckError(msg)
            return 0
        remote = PurePosixPath(run.rejects_file)
        with tempfile.TemporaryFile("w+b") as local:
            with self.open_folder(str(remote.parent)) as folder:
                folder.download(remote.name, local)
            local.seek(0)
            reasons = {line.record: line.reason for line in read_rejects(local.read().decode())}
        if not reasons:
            return 0
        route = stage.route
        index = self.index_of(route.stream)
        for number, line in enumerate(stage.staged(), start=1):
            reason = reasons.get(number)
            if reason is None:
                continue
            self.report.reject(
                route.stream,
                line["record"],
                line["key"],
                reason,
                field=self._field(route, reason),
                code="import",
            )
            entry = index.get(line["key"])
            if entry is not None and not entry.pkey:
                index.remove(line["key"])
        return len(reasons)

    def _field(self, route: Route, reason: str) -> str | None:
        """Return the field a reason names; a missing parent names the link's record field."""
        if _MISSING_PARENT in reason:
            target = reason.split(_MISSING_PARENT, 1)[1].split("'", 1)[0]
            for link in route.links:
                if self.routes[link.stream].resource == target:
                    return link.field
        return field_in_message(reason)

    def _check(self, stage: Stage, run: ImportRun, rejected: int) -> None:
        counts = run.counts
        outcomes = counts.inserted + counts.updated + counts.unchanged + counts.rejected
        if counts.read == stage.lines == outcomes and counts.rejected == rejected:
            return
        msg = (
            f"Import run {run.id} of {stage.route.import_workflow} does not add up: {stage.lines} "
            f"line(s) sent, {counts.read} read, {outcomes} written or rejected, "
            f"{counts.rejected} rejected but {rejected} in its rejects file {run.rejects_file}"
        )
        raise ImportCheckError(msg)

    def _count(self, stage: Stage, run: ImportRun) -> None:
        stream, counts = stage.route.stream, run.counts
        self.report.add(stream, "created", counts.inserted)
        self.report.add(stream, "updated", counts.updated)
        self.report.add(stream, "unchanged", counts.unchanged)
        self.logger.info(
            "Import run %d of %s finished: %d inserted, %d updated, %d unchanged, %d rejected",
            run.id,
            stage.route.import_workflow,
            counts.inserted,
            counts.updated,
            counts.unchanged,
            counts.rejected,
        )

    def close(self) -> None:
        """Drop the stages not imported (a failed run)."""
        with self._lock:
            for stage in self._stages.values():
                stage.close()
            self._stages.clear()
