"""Read what target-jsonl wrote: `<stream>-<run start UTC>.jsonl` (or `<stream>.jsonl`) files."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def stream_of(path: Path) -> str:
    """Return the stream a loader file belongs to (stream names never contain `-`)."""
    return path.stem.split("-", 1)[0]


def read_jsonl_dir(directory: Path) -> dict[str, list[dict[str, Any]]]:
    """Return the rows per stream of every `.jsonl` file in `directory`.

    A last line without its newline is a write torn by a crash (or still in progress) and is left
    out: the loader forwards state only after complete writes, so such a row is extracted again.
    """
    rows: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(directory.glob("*.jsonl")):
        lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
        rows.setdefault(stream_of(path), []).extend(
            json.loads(line) for line in lines if line.endswith("\n") and line.strip()
        )
    return rows
