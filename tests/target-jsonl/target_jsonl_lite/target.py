"""`target-jsonl`: one JSON Lines file per stream; state goes out only once the rows are on disk.

Why not the PyPI `target-jsonl` 0.1.4: it installs, but it emits STATE once, at the very end of
the input, so a run that dies mid-stream leaves Meltano with no bookmark and the next run starts
from zero; it also reopens the output file for every record. This loader is the smallest
singer-sdk target that does what the `d365-to-jsonl` job needs:

* one file per stream and run (`<stream>-<run start, UTC>.jsonl`) or, with `timestamp_files:
  false`, one file per stream that every run appends to;
* every STATE message from the tap drains the buffered records to disk (write, flush, fsync) and
  only then is forwarded to Meltano, so Meltano's bookmark never gets ahead of the files
  (at-least-once delivery: a resumed run may repeat the rows of the page that was in flight);
* `_sdc_deleted_at`, which the tap sets on rows deleted at the source, is always kept, even
  when `add_record_metadata` is off: the stock SDK sink drops it from the record *and* from the
  stream's schema, so keeping it in the record alone would make the SDK warn "No schema for
  record field '_sdc_deleted_at'" and leave the value unparsed.
"""

from __future__ import annotations

import datetime
import decimal
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from singer_sdk import Target
from singer_sdk import typing as th
from singer_sdk.sinks import BatchSink


def _json_default(value: object) -> str | float:
    """Serialise the Python objects the SDK's record parsing produces."""
    if isinstance(value, datetime.datetime | datetime.date | datetime.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal):
        return float(value)
    msg = f"Object of type {type(value).__name__} is not JSON serialisable"
    raise TypeError(msg)


class JsonlSink(BatchSink):
    """Append one stream's records to its JSON Lines file."""

    @property
    def max_size(self) -> int:
        """Rows buffered before a write (also bounded by the tap's STATE messages)."""
        return int(self.config.get("batch_size_rows") or 10_000)

    @property
    def output_path(self) -> Path:
        """The file this stream's records go to in this run."""
        directory = Path(self.config["output_dir"]).expanduser()
        if not self.config.get("timestamp_files", True):
            return directory / f"{self.stream_name}.jsonl"
        started = datetime.datetime.fromtimestamp(self.sync_started_at / 1000, tz=datetime.UTC)
        stamp = started.strftime("%Y%m%dT%H%M%S") + f"{self.sync_started_at % 1000:03d}Z"
        return directory / f"{self.stream_name}-{stamp}.jsonl"

    def _remove_sdc_metadata_from_schema(self) -> None:
        """Drop the `_sdc_*` bookkeeping columns from the schema but keep the delete marker."""
        deleted_at = self.schema["properties"].get("_sdc_deleted_at")
        super()._remove_sdc_metadata_from_schema()
        if deleted_at is not None:
            self.schema["properties"]["_sdc_deleted_at"] = deleted_at

    def _remove_sdc_metadata_from_record(self, record: dict) -> None:
        """Drop the `_sdc_*` bookkeeping columns but keep the delete marker."""
        deleted_at = record.get("_sdc_deleted_at")
        super()._remove_sdc_metadata_from_record(record)
        if deleted_at is not None:
            record["_sdc_deleted_at"] = deleted_at

    def process_batch(self, context: dict) -> None:
        """Write the buffered rows and make them durable before state moves on."""
        records: list[dict[str, Any]] = context.get("records", [])
        if not records:
            return
        path = self.output_path
        path.parent.mkdir(parents=True, exist_ok=True)
        lines = "".join(
            json.dumps(record, default=_json_default, ensure_ascii=False) + "\n"
            for record in records
        )
        with path.open("a", encoding="utf-8") as handle:
            handle.write(lines)
            handle.flush()
            os.fsync(handle.fileno())
        self.logger.info("Wrote %d rows of '%s' to %s", len(records), self.stream_name, path)


class TargetJsonl(Target):
    """Write Singer streams to JSON Lines files, one per stream, checkpointing after each flush."""

    name = "target-jsonl"
    default_sink_class = JsonlSink
    config_jsonschema: ClassVar[dict[str, Any]] = th.PropertiesList(
        th.Property(
            "output_dir",
            th.StringType,
            required=True,
            description="Directory the .jsonl files are written to (created when missing).",
        ),
        th.Property(
            "timestamp_files",
            th.BooleanType,
            default=True,
            description=(
                "One file per stream and run, named `<stream>-<run start UTC>.jsonl`; when "
                "false, every run appends to `<stream>.jsonl`."
            ),
        ),
    ).to_dict()

    _last_written_state: dict | None = None

    @property
    def max_parallelism(self) -> int:
        """Drain sinks one at a time: each drain is a local file append."""
        return 1

    @max_parallelism.setter
    def max_parallelism(self, new_value: int) -> None:
        """Ignore attempts to raise parallelism (the SDK sets it from config)."""

    def _write_state_message(self, state: dict) -> None:
        """Forward a state once: the end-of-input drain would otherwise repeat the last one."""
        if state == self._last_written_state:
            return
        super()._write_state_message(state)
        self._last_written_state = state

    def _process_state_message(self, message_dict: dict) -> None:
        """Flush every sink, then forward the state: the bookmark never passes unwritten rows."""
        previous = self._latest_state
        super()._process_state_message(message_dict)
        if self._latest_state != previous:
            self.drain_all()


if __name__ == "__main__":
    TargetJsonl.cli()
