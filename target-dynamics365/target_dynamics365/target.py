"""TargetDynamics365: settings, stream routing, rejects and the run summary."""

from __future__ import annotations

import copy
import typing as t
from functools import cached_property

from dataverse_client.client import DataverseClient, connection_errors
from dataverse_client.pool import ClientPool, pool_errors
from dataverse_client.settings import CONNECTION_SETTINGS, POOL_SETTINGS
from singer_sdk import Target
from singer_sdk import typing as th
from sync_support.interrupt import stop_on_signal
from sync_support.rejects import RejectsFile, Report, RunSummary
from sync_support.settings_check import STRICT_SETTINGS, validate_settings
from typing_extensions import override

from target_dynamics365.checkpoints import Checkpoints
from target_dynamics365.event_sink import EVENT_BATCH_MAX, EVENT_BATCH_MIN, EmailEventSink
from target_dynamics365.optouts import (
    DEFAULT_OPT_OUT_MAPPING,
    DEFAULT_OPT_OUT_SYNC,
    OPT_OUT_SYNC_MODES,
)
from target_dynamics365.outcomes import OUTCOMES
from target_dynamics365.sinks import DEFAULT_BATCH_SIZE, DataverseSink, OptOutSink
from target_dynamics365.table_sink import TableSink
from target_dynamics365.tables import TableSpec, parse_tables, table_errors

if t.TYPE_CHECKING:
    from collections.abc import Mapping
    from types import FrameType

DEFAULT_REJECTS_FILE = "output/rejects/target-dynamics365.jsonl"
#: Streams this target writes, and the sink of each (`opt_outs`: Campaign's SFTP export rows).
SINKS: dict[str, type[DataverseSink]] = {
    "profiles": OptOutSink,
    "opt_outs": OptOutSink,
    "email_events": EmailEventSink,
}
#: Dry-run summary wording of each outcome ("would update 3").
DRY_RUN_VERBS = {
    "created": "create",
    "updated": "update",
    "upserted": "upsert",
    "rejected": "reject",
    "deleted": "delete",
    "skipped_existing": "skip existing",
    "skipped_deletes": "skip deletes",
    "opt_outs_reasserted": "reassert",
}


def _target_schema() -> dict[str, t.Any]:
    return th.PropertiesList(
        *CONNECTION_SETTINGS,
        STRICT_SETTINGS,
        *POOL_SETTINGS,
        th.Property(
            "opt_out_mapping",
            th.ObjectType(additional_properties=th.ArrayType(th.StringType)),
            default=DEFAULT_OPT_OUT_MAPPING,
            description="Campaign opt-out field → the contact's boolean columns it sets "
            "(a column mapped from several fields is true when any of them is)",
        ),
        th.Property(
            "opt_out_sync",
            th.StringType,
            default=DEFAULT_OPT_OUT_SYNC,
            allowed_values=list(OPT_OUT_SYNC_MODES),
            description="Which side's opt-outs win: disabled and d365_to_campaign write no "
            "contact; campaign_to_d365 makes Dynamics 365 agree with Campaign; bidirectional "
            "applies Adobe's rule per flag (Campaign's value if its <flag>LastModified is later "
            "than the contact's modifiedon, else opt-out = true wins)",
        ),
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Read and decide as usual but write nothing to Dynamics 365 and emit "
            "no STATE; the summary says what would be written, the rejects file is written",
        ),
        th.Property(
            "rejects_file",
            th.StringType,
            default=DEFAULT_REJECTS_FILE,
            description="JSON Lines file of the records not written, rewritten each run",
        ),
        th.Property(
            "batch_size_rows",
            th.IntegerType(minimum=1),
            description=f"Records per batch. Unset: {DEFAULT_BATCH_SIZE} profiles (one bulk "
            "read of their contacts, then UpdateMultiple per 1000 changed rows); email events "
            f"from {EVENT_BATCH_MIN} on, once each table's requests are nearly full of 1000 rows, "
            f"and at {EVENT_BATCH_MAX} at most",
        ),
        th.Property(
            "tables",
            th.ObjectType(additional_properties=th.ObjectType()),
            description="Other streams → Dataverse tables: stream name → {table (logical name), "
            "key (alternate key column(s) or the primary id column), columns (record field → "
            "column; default the same name), lookups (record field → {table, key}, bound by "
            "key), choices_by_label (choice columns given as labels), deletes (delete rows of "
            "records with _sdc_deleted_at), existing (update, default, or skip: rows already in "
            "the table are left alone)}",
        ),
    ).to_dict()


def _settings_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Return the problems the target's own rules find: connection, app users and `tables`."""
    return connection_errors(config) + pool_errors(config) + table_errors(config, SINKS)


class UnsupportedStreamError(Exception):
    """A stream arrived that this target does not write."""


class RecordsRejectedError(Exception):
    """Raised at the very end (after every good record and its STATE) if any were rejected."""


class TargetDynamics365(Target):
    """Singer target writing Adobe Campaign opt-outs and email events into Dynamics 365."""

    name = "target-dynamics365"
    default_sink_class = OptOutSink
    config_jsonschema = _target_schema()

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Leave out `load_method` and `add_record_metadata`: writes are always updates."""
        super().append_builtin_config(config_jsonschema)
        for name in ("add_record_metadata", "load_method"):
            config_jsonschema["properties"].pop(name, None)

    def __init__(self, **kwargs: t.Any) -> None:
        """Start the run's outcome counts."""
        self._emitted_state: dict | None = None
        self._checkpointing = False
        self.checkpoints = Checkpoints(self._emit_state)
        super().__init__(**kwargs)
        self.summary = RunSummary(OUTCOMES)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate against the schema, https endpoints, one way to authenticate, `tables`.

        Before any request, in every mode; a problem is one line and exit status 2
        (`settings_check.validate_settings`).
        """
        return validate_settings(
            self, super()._validate_config, _settings_errors, raise_errors=raise_errors
        )

    @cached_property
    def client(self) -> DataverseClient:
        """The Web API client every sink shares (`dataverse_client`, as tap-dynamics365's)."""
        return DataverseClient.from_config(self.config, logger=self.logger)

    @cached_property
    def pool(self) -> ClientPool:
        """The application users the sinks' bulk writes are spread over, in parallel.

        `client` (which also does every read) and the `additional_app_users`, each with at most
        `max_parallel_requests` requests in flight (fewer when Dataverse's `x-ms-dop-hint` says).
        """
        return ClientPool.from_config(self.config, self.client, self.logger)

    @cached_property
    def opt_out_mapping(self) -> dict[str, list[str]]:
        """Campaign opt-out field → contact columns (the setting, else the default)."""
        return dict(self.config.get("opt_out_mapping") or DEFAULT_OPT_OUT_MAPPING)

    @cached_property
    def opt_out_sync(self) -> str:
        """The opt-out sync mode (validated with the config)."""
        return str(self.config.get("opt_out_sync") or DEFAULT_OPT_OUT_SYNC)

    @cached_property
    def tables(self) -> dict[str, TableSpec]:
        """The streams written by the generic table sink (the `tables` setting, validated)."""
        return parse_tables(self.config)

    @cached_property
    def dry_run(self) -> bool:
        """Whether this run only reads and reports (no writes, no STATE)."""
        return bool(self.config.get("dry_run"))

    @cached_property
    def rejects(self) -> RejectsFile:
        """The rejects file of this run."""
        path = self.config.get("rejects_file") or DEFAULT_REJECTS_FILE
        return RejectsFile(path, dry_run=self.dry_run)

    @cached_property
    def report(self) -> Report:
        """Where the sinks count each record's outcome and write the refused ones."""
        return Report(self.summary, self.rejects, self.logger)

    @property
    def max_parallelism(self) -> int:
        """Drain sinks one at a time: `drained` drains the other sinks itself."""
        return 1

    @max_parallelism.setter
    def max_parallelism(self, new_value: int) -> None:
        """Ignore the SDK's setting from config (see the getter)."""

    def drained(self) -> None:
        """After a batch is drained, write what the other sinks hold and emit the latest STATE.

        The SDK emits STATE only once every sink is drained (end of input, or records older
        than five minutes), so a run stopped after hours of full batches would start over. The
        latest STATE arrived before the record that filled the drained batch; once every sink
        has written what it holds (`drain_all`, which then emits that STATE), every record it
        covers is in Dataverse, or in writes still in flight (the email events sink returns
        while its batch is written): `checkpoints` holds the STATE until those are done.
        """
        if self._checkpointing or self.dry_run:  # a sink drained by `drain_all` / dry: no STATE
            return
        self._checkpointing = True
        try:
            self.drain_all()
        finally:
            self._checkpointing = False

    @override
    def _write_state_message(self, state: dict) -> None:
        """Emit a STATE once its records are written (`checkpoints`); none in a dry run.

        A dry run emits none: Meltano keeps its bookmarks.
        """
        if self.dry_run:
            return
        self.checkpoints.emit(state)

    def _emit_state(self, state: dict) -> None:
        """Write a STATE message, once: the end-of-input drain would repeat the last one.

        Called by `checkpoints` (under its lock), maybe from a thread of the pool.
        """
        if state == self._emitted_state:
            return
        super()._write_state_message(state)
        self._emitted_state = copy.deepcopy(state)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop at once on SIGTERM or SIGINT (`stop_on_signal`), without the SDK's drain.

        Writes in flight start no new request; their STATE comes out only if they all end.
        """
        if "pool" in self.__dict__:
            self.pool.stop()
        stop_on_signal(self.logger, signum)

    def get_sink_class(self, stream_name: str) -> type[DataverseSink]:
        """Route the Campaign streams and the `tables` streams to their sinks; refuse the rest."""
        sink = SINKS.get(stream_name) or (TableSink if stream_name in self.tables else None)
        if sink is None:
            msg = (
                f"Stream '{stream_name}' is not written by {self.name} (supported: "
                f"{', '.join([*SINKS, *self.tables])}); name it in the tables setting, or rename "
                "it with a stream map (__alias__) if it matches."
            )
            raise UnsupportedStreamError(msg)
        return sink

    def process_endofpipe(self) -> None:
        """Drain, wait for the writes in flight and emit STATE, log the counts; fail on rejects."""
        try:
            super().process_endofpipe()
            self.checkpoints.wait()  # e.g. a retired sink's (the others wait in `clean_up`)
        finally:
            self.rejects.close()
            if "pool" in self.__dict__:
                self.pool.close()
        for stream, counts in self.summary.streams().items():
            line = summary_line(
                stream, counts, dry_run=self.dry_run, sink=self.get_sink_class(stream)
            )
            self.logger.info("%s", line)
        rejected = self.summary.total("rejected")
        if rejected:
            verb = "would not be" if self.dry_run else "not"
            msg = f"{rejected} record(s) {verb} written to Dynamics 365; see {self.rejects.path}"
            raise RecordsRejectedError(msg)


def summary_line(
    stream: str,
    counts: dict[str, int],
    *,
    dry_run: bool = False,
    sink: type[DataverseSink] | None = None,
) -> str:
    """`Summary profiles: updated 2, …`, or `DRY RUN profiles: would update 2, reject 1, …`.

    `sink`: the stream's sink class (its outcomes), when it is not one of SINKS.
    """
    sink = sink or SINKS.get(stream)
    if not dry_run:
        outcomes = sink.outcomes if sink else OUTCOMES
        return f"Summary {stream}: " + ", ".join(f"{o} {counts[o]}" for o in outcomes)
    outcomes = sink.dry_run_outcomes if sink else OUTCOMES
    parts = [f"{DRY_RUN_VERBS.get(o, o)} {counts[o]}" for o in outcomes]
    return f"DRY RUN {stream}: would " + ", ".join(parts)


if __name__ == "__main__":
    TargetDynamics365.cli()
