"""Rejected records (a JSON Lines file) and the run's per-stream outcome counts (a JSON file)."""

from __future__ import annotations

import datetime
import json
import threading
import typing as t
from collections import Counter
from pathlib import Path

OUTCOMES = (
    "created",
    "updated",
    "unchanged",
    "deleted",
    "skipped_deletes",
    "filtered_out",  # `_sdc_filtered_out` true: not written (no Campaign record, or not deleting)
    "deleted_filtered_out",  # `_sdc_filtered_out` true: its Campaign record deleted
    "rejected",
    "skipped_no_parent",  # a link's parent is not in Campaign and `missing_parent` is skip
    # not a record outcome: Campaign opt-outs a record would have cleared (opt_out_sync
    # bidirectional); the record itself is also counted updated or unchanged
    "opt_outs_kept",
)


class RejectsFile:
    """One JSON object per rejected record; the file is rewritten by every run.

    A line: `{"stream", "key", "reason", "field", "status", "code", "rejected_at", "record"}`.
    """

    def __init__(self, path: str | Path) -> None:
        """Nothing is written until the first reject (or `close`)."""
        self.path = Path(path)
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
        """Append one rejected record with Campaign's reason."""
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

    def __init__(self) -> None:
        """Start with no counts."""
        self._counts: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()

    def add(self, stream: str, outcome: str, count: int = 1) -> None:
        """Count `count` records of `stream` with `outcome` (one of OUTCOMES)."""
        if outcome not in OUTCOMES:
            msg = f"unknown outcome '{outcome}'"
            raise ValueError(msg)
        with self._lock:
            self._counts.setdefault(stream, Counter())[outcome] += count

    def streams(self) -> dict[str, dict[str, int]]:
        """Return every outcome (zeros included) per stream."""
        with self._lock:
            return {
                stream: {outcome: counts[outcome] for outcome in OUTCOMES}
                for stream, counts in sorted(self._counts.items())
            }

    def total(self, outcome: str) -> int:
        """Return the count of `outcome` over all streams."""
        with self._lock:
            return sum(counts[outcome] for counts in self._counts.values())

    def would_line(self) -> str:
        """Return what a dry run would have done, in one line."""
        deleted = self.total("deleted") + self.total("deleted_filtered_out")
        return (
            f"would create {self.total('created')}, update {self.total('updated')}, "
            f"delete {deleted}, reject {self.total('rejected')}, "
            f"unchanged {self.total('unchanged')}"
        )

    def write(self, path: str | Path, rejects_file: str | Path, *, dry_run: bool = False) -> None:
        """Write the summary as JSON, for scripts and the demo."""
        streams = self.streams()
        document = {
            "dry_run": dry_run,
            "streams": streams,
            "totals": {o: sum(s[o] for s in streams.values()) for o in OUTCOMES},
            "rejects_file": str(rejects_file),
        }
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
