"""Rejected records (a JSON Lines file) and the run's outcome counts per stream (both targets).

Each target names its own outcomes (`RunSummary(outcomes)`): the order its summary lines and
its summary file list them in. `Report` is where a sink sends each record's outcome.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import typing as t
from collections import Counter
from pathlib import Path


class RejectsFile:
    """One JSON object per rejected record; the file is rewritten by every run.

    A line: `{"stream", "key", "reason", "field", "status", "code", "rejected_at", "record"}`
    (`field`: the record's field at fault, when known), plus `"dry_run": true` in a dry run
    (what a real run would reject).
    """

    def __init__(self, path: str | Path, *, dry_run: bool = False) -> None:
        """Nothing is written until the first reject (or `close`)."""
        self.path = Path(path)
        self.dry_run = dry_run
        self._file: t.TextIO | None = None
        self._lock = threading.Lock()

    def write(
        self,
        *,
        stream: str,
        key: str | None,
        reason: str,
        record: t.Mapping[str, t.Any],
        field: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        """Append one rejected record with the reason."""
        line = {
            "stream": stream,
            "key": key,
            "reason": reason,
            "field": field,
            "status": status,
            "code": code,
            "rejected_at": datetime.datetime.now(datetime.UTC).isoformat(),
            "record": record,
        }
        if self.dry_run:
            line["dry_run"] = True
        text = json.dumps(line, default=str, ensure_ascii=False) + "\n"
        with self._lock:
            if self._file is None:
                self._file = self._open()
            self._file.write(text)
            self._file.flush()

    def _open(self) -> t.TextIO:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return self.path.open("w", encoding="utf-8")

    def close(self) -> None:
        """Close the file; a run without rejects leaves an empty one (no stale rejects)."""
        with self._lock:
            if self._file is None:
                self._file = self._open()
            self._file.close()


class RunSummary:
    """Outcome counts per stream; thread-safe."""

    def __init__(self, outcomes: t.Sequence[str]) -> None:
        """Start with no counts; `outcomes` are the only ones `add` accepts, in report order."""
        self.outcomes = tuple(outcomes)
        self._counts: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()

    def add(self, stream: str, outcome: str, count: int = 1) -> None:
        """Count `count` records of `stream` with `outcome` (one of `outcomes`)."""
        if outcome not in self.outcomes:
            msg = f"unknown outcome '{outcome}'"
            raise ValueError(msg)
        with self._lock:
            self._counts.setdefault(stream, Counter())[outcome] += count

    def streams(self) -> dict[str, dict[str, int]]:
        """Return every outcome (zeros included) per stream."""
        with self._lock:
            return {
                stream: {outcome: counts[outcome] for outcome in self.outcomes}
                for stream, counts in sorted(self._counts.items())
            }

    def total(self, outcome: str) -> int:
        """Return the count of `outcome` over all streams."""
        with self._lock:
            return sum(counts[outcome] for counts in self._counts.values())

    def write(self, path: str | Path, rejects_file: str | Path, *, dry_run: bool = False) -> None:
        """Write the summary as JSON (`streams`, `totals`, `rejects_file`), for scripts."""
        streams = self.streams()
        document = {
            "dry_run": dry_run,
            "streams": streams,
            "totals": {o: sum(s[o] for s in streams.values()) for o in self.outcomes},
            "rejects_file": str(rejects_file),
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")


class Report:
    """Where a record's outcome goes: the run's counts and, for a refused record, the rejects file.

    Thread-safe as its two parts are. Subclasses may leave fields of a rejected record out of
    the file (`kept`).
    """

    def __init__(
        self, summary: RunSummary, rejects: RejectsFile, logger: logging.Logger | None = None
    ) -> None:
        """Count into `summary`, write refused records to `rejects`."""
        self.summary = summary
        self.rejects = rejects
        self.logger = logger or logging.getLogger(__name__)

    def add(self, stream: str, outcome: str, count: int = 1) -> None:
        """Count `count` records of `stream` with `outcome`."""
        self.summary.add(stream, outcome, count)

    def reject(
        self,
        stream: str,
        record: t.Mapping[str, t.Any],
        key: str | None,
        reason: str,
        *,
        field: str | None = None,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        """Count the record rejected and write it with the reason.

        `field` names the record's field at fault, when the target knows it.
        """
        self.logger.warning("Rejected %s record %s: %s", stream, key, reason)
        self.summary.add(stream, "rejected")
        self.rejects.write(
            stream=stream,
            key=key,
            reason=reason,
            field=field,
            status=status,
            code=code,
            record={k: v for k, v in record.items() if self.kept(k, v)},
        )

    def kept(self, name: str, value: t.Any) -> bool:
        """Whether a field of a rejected record is written to the file (all, here)."""
        return True
