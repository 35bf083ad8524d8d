"""TargetAdobeCampaign: settings, stream routing, shared key indexes, rejects and summary."""

from __future__ import annotations

import copy
import threading
import typing as t
from collections import defaultdict
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path

from campaign_client.client import CampaignClient
from campaign_client.settings import CONNECTION_SETTINGS, connection_errors
from singer_sdk import Target
from singer_sdk import typing as th
from sync_support.interrupt import stop_on_signal
from sync_support.rejects import RejectsFile, RunSummary
from sync_support.settings_check import STRICT_SETTINGS, validate_settings
from typing_extensions import override

from target_adobe_campaign.enum_sink import EnumerationSink
from target_adobe_campaign.enumerations import (
    ENUMERATIONS_SETTING,
    OPTION_SETS_STREAM,
    SOAP_URL_SETTING,
    Choices,
    parse_fields,
)
from target_adobe_campaign.keyindex import KeyIndex
from target_adobe_campaign.optouts import OPT_OUT_SETTINGS, OptOutPolicy
from target_adobe_campaign.outcomes import OUTCOMES, would_line
from target_adobe_campaign.pool import CallPool
from target_adobe_campaign.routing import RESOURCES_SETTING, Route, parse_routes
from target_adobe_campaign.sinks import DEFAULT_BATCH_SIZE, CampaignSink

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Mapping
    from types import FrameType

DEFAULT_REJECTS_FILE = "output/rejects/target-adobe-campaign.jsonl"


def setting_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Return what the target's own rules refuse: endpoints, auth, routes, enumerations."""
    resources = config.get("resources") or {}
    return (
        connection_errors(config)
        + parse_routes(resources)[1]
        + parse_fields(config.get("enumerations") or {}, resources)[1]
    )


class UnroutedStreamError(Exception):
    """A stream arrived that the `resources` setting does not route anywhere."""


class RecordsRejectedError(Exception):
    """Raised at the very end (after every good record and its STATE) if any were rejected."""


class TargetAdobeCampaign(Target):
    """Singer target upserting Adobe Campaign Standard profiles and custom resources."""

    name = "target-adobe-campaign"
    default_sink_class = CampaignSink

    config_jsonschema = th.PropertiesList(
        *CONNECTION_SETTINGS,
        RESOURCES_SETTING,
        th.Property(
            "apply_deletes",
            th.BooleanType,
            default=False,
            description="Delete the Campaign record of a record with _sdc_deleted_at "
            "(otherwise such records are skipped and counted)",
        ),
        th.Property(
            "rejects_file",
            th.StringType,
            default=DEFAULT_REJECTS_FILE,
            description="JSON Lines file of the records Campaign refused, rewritten each run",
        ),
        th.Property(
            "summary_file",
            th.StringType,
            description="JSON file with the run's counts per stream; default: next to "
            "rejects_file, with the suffix .summary.json",
        ),
        th.Property(
            "max_concurrency",
            th.IntegerType(minimum=1, maximum=64),
            default=4,
            description="Campaign calls in flight at once",
        ),
        th.Property(
            "batch_size_rows",
            th.IntegerType(minimum=1),
            default=DEFAULT_BATCH_SIZE,
            description="Records per batch (a batch's calls run concurrently)",
        ),
        *OPT_OUT_SETTINGS,
        ENUMERATIONS_SETTING,
        SOAP_URL_SETTING,
        STRICT_SETTINGS,
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Read Campaign, map, validate and decide as usual, but write nothing "
            "(no POST/PATCH/DELETE) and emit no STATE; the summary counts what would be done",
        ),
    ).to_dict()

    @classmethod
    def append_builtin_config(cls, config_jsonschema: dict) -> None:
        """Leave out the built-ins that do not apply.

        Writes are always upserts by key (no `load_method`), and `_sdc_*` metadata is always
        read, for deletes, and never written to Campaign (no `add_record_metadata`).
        """
        super().append_builtin_config(config_jsonschema)
        for name in ("add_record_metadata", "load_method"):
            config_jsonschema["properties"].pop(name, None)

    def __init__(self, **kwargs: t.Any) -> None:
        """Drain sinks one at a time: parents first; concurrency lives inside a batch."""
        super().__init__(**kwargs)
        self.max_parallelism = 1
        self.summary = RunSummary(OUTCOMES)
        self._indexes: dict[tuple[str, str], KeyIndex] = {}
        #: Stream → CRM ids its filter left out in this run (their children follow them).
        self.filtered_out: defaultdict[str, set[str]] = defaultdict(set)
        self._indexes_lock = threading.Lock()
        self._batch_depth = 0
        self._checkpointing = False
        self._emitted_state: dict | None = None

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate against the schema, plus https endpoints and the routing rules.

        Before any request, in every mode; a problem is one line and exit status 2
        (`settings_check.validate_settings`).
        """
        return validate_settings(
            self, super()._validate_config, setting_errors, raise_errors=raise_errors
        )

    # --- shared resources -----------------------------------------------------------------

    @cached_property
    def routes(self) -> dict[str, Route]:
        """Stream name → route, from the `resources` setting."""
        return parse_routes(self.config.get("resources") or {})[0]

    @cached_property
    def opt_outs(self) -> OptOutPolicy:
        """Which opt-out fields are written (`opt_out_sync`, `opt_out_fields`)."""
        return OptOutPolicy.from_config(self.config)

    @property
    def dry_run(self) -> bool:
        """Whether this run only decides (`dry_run`): no writes, no STATE."""
        return bool(self.config.get("dry_run"))

    @cached_property
    def client(self) -> CampaignClient:
        """The REST client every sink shares."""
        return CampaignClient.from_config(self.config, logger=self.logger)

    @cached_property
    def executor(self) -> CallPool:
        """The pool bounding concurrent Campaign calls (`max_concurrency`)."""
        return CallPool(max_workers=self.config.get("max_concurrency", 4))

    @cached_property
    def rejects(self) -> RejectsFile:
        """The rejects file of this run."""
        return RejectsFile(self.config.get("rejects_file") or DEFAULT_REJECTS_FILE)

    @property
    def summary_path(self) -> Path:
        """`summary_file`, else `<rejects_file stem>.summary.json` beside the rejects file."""
        configured = self.config.get("summary_file")
        return Path(configured) if configured else self.rejects.path.with_suffix(".summary.json")

    def key_index(self, stream: str) -> KeyIndex:
        """Return the key index of `stream`'s resource, read from Campaign on first use.

        Streams routed to the same resource and key (e.g. a stream and its deletes split
        off with a stream map) share one index.
        """
        route = self.routes[stream]
        with self._indexes_lock:
            index = self._indexes.get((route.path, route.key))
            if index is None:
                adopt_by = {
                    other.options.adopt_by
                    for other in self.routes.values()
                    if (other.path, other.key) == (route.path, route.key) and other.options.adopt_by
                }
                index = KeyIndex(self.client, route, self.logger, adopt_by)
                index.load()
                self._indexes[route.path, route.key] = index
            return index

    # --- sinks and ordering ---------------------------------------------------------------

    @cached_property
    def choices(self) -> Choices:
        """D365 option sets → Campaign enumerations, and choice fields (`enumerations`)."""
        return Choices(self)

    def get_sink_class(self, stream_name: str) -> type[CampaignSink | EnumerationSink]:
        """Refuse streams the `resources` setting does not route (option sets aside)."""
        if stream_name == OPTION_SETS_STREAM and stream_name not in self.routes:
            return EnumerationSink
        if stream_name not in self.routes:
            msg = (
                f"Stream '{stream_name}' has no entry in the 'resources' setting (routed "
                f"streams: {', '.join(sorted(self.routes)) or 'none'}). Add it, or rename it "
                "with a stream map (__alias__)."
            )
            raise UnroutedStreamError(msg)
        return CampaignSink

    def drain_parents(self, route: Route) -> None:
        """Write the pending records of `route`'s parent streams (and theirs) first."""
        for link in route.links:
            self.drain_parents(self.routes[link.stream])
            if self.sink_exists(link.stream):
                self.drain_one(self.get_sink(link.stream))

    # --- checkpoints and signals ----------------------------------------------------------

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Mark a sink's batch as being written: parents drained meanwhile checkpoint nothing.

        A parent's batch written from a child's (`drain_parents`) ends while the child's
        records are still unwritten; the checkpoint waits for the outermost batch.
        """
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1

    def drained(self) -> None:
        """After a batch is written, write what the other sinks hold and emit the latest STATE.

        The SDK emits STATE only once every sink is drained (end of input, or records older
        than five minutes), so a killed run would start over. The latest STATE arrived before
        the record that filled the written batch; once every sink has written what it holds
        (`drain_all`, which then emits that STATE), every record it covers is in Campaign.
        """
        if self._batch_depth or self._checkpointing or self.dry_run:
            return
        self._checkpointing = True
        try:
            self.drain_all()
        finally:
            self._checkpointing = False

    @override
    def _write_state_message(self, state: dict) -> None:
        """Emit a STATE once, never past records still waiting, and none in a dry run.

        Once: the end-of-input drain would repeat the last checkpoint. In a dry run Meltano
        keeps the bookmarks of the last real run.
        """
        if self.dry_run:
            self.logger.debug("DRY RUN: STATE not emitted")
            return
        if self.choices.holding():  # STATE must not pass records still waiting to be written
            self.logger.info("STATE held back: records wait for their option sets")
            return
        if state == self._emitted_state:
            return
        super()._write_state_message(state)
        self._emitted_state = copy.deepcopy(state)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop at once on SIGTERM or SIGINT (`stop_on_signal`), without the SDK's drain.

        Calls not started yet are cancelled; those in flight end on their own.
        """
        if "executor" in self.__dict__:
            self.executor.stop()
        stop_on_signal(self.logger, signum)

    # --- end of run -----------------------------------------------------------------------

    def process_endofpipe(self) -> None:
        """Drain and emit STATE, then write the summary; fail if anything was rejected."""
        try:
            self.choices.settle()  # write (or reject) the records waiting for option sets
            super().process_endofpipe()
        finally:
            self.executor.shutdown(wait=True)
            self.rejects.close()
        self.summary.write(self.summary_path, self.rejects.path, dry_run=self.dry_run)
        for stream, counts in self.summary.streams().items():
            self.logger.info(
                "Summary %s: %s", stream, ", ".join(f"{o} {counts[o]}" for o in OUTCOMES)
            )
        if self.dry_run:
            self.logger.info("DRY RUN: %s", would_line(self.summary))
        rejected = self.summary.total("rejected")
        if rejected:
            msg = (
                f"{rejected} record(s) rejected by Adobe Campaign; see {self.rejects.path} "
                f"(summary: {self.summary_path})"
            )
            raise RecordsRejectedError(msg)


if __name__ == "__main__":
    TargetAdobeCampaign.cli()
