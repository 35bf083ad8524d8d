"""A read of a whole table, told to loaders: one version for its records, then ACTIVATE_VERSION.

Once the last record is out, ACTIVATE_VERSION tells a loader that rows of older versions are
gone at the source, so a warehouse loader deletes them: the way a tap signals deletes it never
sees one by one. Only for reads that really cover the whole table (no bookmark, no start date),
and only with the `emit_activate_version_messages` setting on (the SDK's own name for it).
"""

from __future__ import annotations

import time
import typing as t

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk import Stream


def read_in_full(stream: Stream, records: Iterable[dict[str, t.Any]]) -> Iterator[dict[str, t.Any]]:
    """Yield `records` under a new table version, then emit ACTIVATE_VERSION for it.

    Uses singer-sdk internals (`_stream_version`, `_write_activate_version_message`): the SDK
    sends ACTIVATE_VERSION only at the start of FULL_TABLE streams, and these are incremental.
    """
    if not stream.emit_activate_version_messages:
        yield from records
        return
    stream._stream_version = time.time_ns() // 1_000_000
    yield from records
    stream._write_activate_version_message(stream._stream_version)
