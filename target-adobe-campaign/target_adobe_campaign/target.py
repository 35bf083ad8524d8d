"""TargetAdobeCampaign: settings, stream routing, and the run's write path put together.

The write path: sinks plan (`plan`), a backend executes (`rest_backend` or `v8_backend`, by
the `backend` setting), `ordering.WriteOrder` decides when parents, held-back records and
STATE go, and `report.Report` counts outcomes and writes rejects.
"""

from __future__ import annotations

import typing as t
from functools import cached_property
from pathlib import Path

from campaign_client.client import CampaignClient
from campaign_client.settings import (
    CONNECTION_SETTINGS,
    SOAP_SETTINGS,
    connection_errors,
    sftp_errors,
    sftp_settings,
    soap_errors,
)
from campaign_client.soap_session import SoapSession
from singer_sdk import Target
from singer_sdk import typing as th
from sync_support.interrupt import stop_on_signal
from sync_support.rejects import RejectsFile, RunSummary
from sync_support.settings_check import STRICT_SETTINGS, validate_settings
from typing_extensions import override

from target_adobe_campaign.bulk import BULK_SETTINGS, bulk_errors
from target_adobe_campaign.enum_sink import EnumerationSink
from target_adobe_campaign.enumerations import (
    ENUMERATIONS_SETTING,
    OPTION_SETS_STREAM,
    SOAP_URL_SETTING,
    Choices,
    parse_fields,
)
from target_adobe_campaign.optouts import OPT_OUT_SETTINGS, OptOutPolicy
from target_adobe_campaign.ordering import WriteOrder
from target_adobe_campaign.outcomes import OUTCOMES, would_line
from target_adobe_campaign.report import Report
from target_adobe_campaign.rest_backend import RestBackend
from target_adobe_campaign.routing import RESOURCES_SETTING, Route, parse_routes
from target_adobe_campaign.sinks import DEFAULT_BATCH_SIZE, CampaignSink, SinkServices
from target_adobe_campaign.v8_backend import DEFAULT_COLLECTION_SIZE, V8Backend

if t.TYPE_CHECKING:
    from collections.abc import Mapping
    from types import FrameType

    from target_adobe_campaign.backend import Backend

DEFAULT_REJECTS_FILE = "output/rejects/target-adobe-campaign.jsonl"
V8 = "v8"
#: `backend`, `soap_auth`, `soap_login`, `soap_password` (the shared SOAP settings); `soap_url`
#: is the enumerations' setting, which the v8 backend uses too.
BACKEND_SETTINGS = tuple(p for name, p in SOAP_SETTINGS.wrapped.items() if name != "soap_url")


def setting_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Return what the target's own rules refuse: endpoints, auth, routes, enumerations."""
    resources = config.get("resources") or {}
    routes, route_errors = parse_routes(resources)
    return (
        connection_errors(config)
        + (soap_errors(config) if config.get("backend") == V8 else [])
        + route_errors
        + parse_fields(config.get("enumerations") or {}, resources)[1]
        + bulk_errors(config, routes)
        + sftp_errors(config)
    )


class UnroutedStreamError(Exception):
    """A stream arrived that the `resources` setting does not route anywhere."""


class RecordsRejectedError(Exception):
    """Raised at the very end (after every good record and its STATE) if any were rejected."""


class TargetAdobeCampaign(Target):
    """Singer target upserting Adobe Campaign profiles and custom resources (Standard or v8)."""

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
            "key_index_dir",
            th.StringType,
            description="Folder where each resource's key index (CRM id -> PKey and values) is "
            "kept between runs, so a run reads only what changed in Campaign since the last one "
            "(checked by count; read again when a check fails). Unset: the whole resource is "
            "read at each run (into a temporary file). One run at a time per folder "
            "(docs/key-index.md)",
        ),
        th.Property(
            "key_index_max_age_hours",
            th.NumberType(minimum=0),
            default=24,
            description="A kept key index older than this is read again in full (0: every run)",
        ),
        th.Property(
            "batch_size_rows",
            th.IntegerType(minimum=1),
            default=DEFAULT_BATCH_SIZE,
            description="Records per batch (a batch's calls run concurrently)",
        ),
        *OPT_OUT_SETTINGS,
        ENUMERATIONS_SETTING,
        *BACKEND_SETTINGS,
        SOAP_URL_SETTING,
        th.Property(
            "v8_collection_size",
            th.IntegerType(minimum=1),
            default=DEFAULT_COLLECTION_SIZE,
            description="backend v8: records per WriteCollection call (one transaction; a "
            "refused record makes the target split it to find that record)",
        ),
        *BULK_SETTINGS,
        *sftp_settings(
            "Host of the Campaign SFTP storage the import files are written to (bulk); "
            "required when a resource has an import_workflow and bulk is not never"
        ),
        STRICT_SETTINGS,
        th.Property(
            "dry_run",
            th.BooleanType,
            default=False,
            description="Read Campaign, map, validate and decide as usual, but write nothing "
            "(no POST/PATCH/DELETE, no WriteCollection) and emit no STATE; the summary counts "
            "what would be done",
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
        """The REST client (the standard backend; tests hook its session)."""
        return CampaignClient.from_config(self.config, logger=self.logger)

    @cached_property
    def rejects(self) -> RejectsFile:
        """The rejects file of this run."""
        return RejectsFile(self.config.get("rejects_file") or DEFAULT_REJECTS_FILE)

    @property
    def summary_path(self) -> Path:
        """`summary_file`, else `<rejects_file stem>.summary.json` beside the rejects file."""
        configured = self.config.get("summary_file")
        return Path(configured) if configured else self.rejects.path.with_suffix(".summary.json")

    @cached_property
    def report(self) -> Report:
        """Where outcomes are counted and rejects written."""
        return Report(self.summary, self.rejects, self.logger)

    @cached_property
    def backend(self) -> Backend:
        """What reads Campaign and executes writes (`backend`: standard REST, or v8 SOAP)."""
        if self.config.get("backend") == V8:
            session = SoapSession.from_config(self.config, logger=self.logger)
            return V8Backend(session, self.routes, self.report, self.config, self.logger)
        return RestBackend(self.client, self.routes, self.report, self.config, self.logger)

    # --- sinks and ordering ---------------------------------------------------------------

    @cached_property
    def choices(self) -> Choices:
        """D365 option sets → Campaign enumerations, and choice fields (`enumerations`)."""
        return Choices(
            self.config,
            self.backend.enum_store,
            self.report,
            dry_run=self.dry_run,
            logger=self.logger,
        )

    @cached_property
    def order(self) -> WriteOrder:
        """Parents first, held-back records, and when STATE may be emitted."""
        return WriteOrder(
            self,
            self.routes,
            self.choices,
            self.report,
            dry_run=self.dry_run,
            logger=self.logger,
            staged=self._staged,
        )

    def _staged(self) -> int:
        """Count the records waiting in import files (no backend yet: none)."""
        return self.backend.staged() if "backend" in self.__dict__ else 0

    @cached_property
    def sink_services(self) -> SinkServices:
        """What every CampaignSink of the run is given."""
        return SinkServices(
            routes=self.routes,
            backend=self.backend,
            order=self.order,
            report=self.report,
            policy=self.opt_outs,
            apply_deletes=bool(self.config.get("apply_deletes", False)),
            dry_run=self.dry_run,
        )

    def get_sink_class(self, stream_name: str) -> type[CampaignSink | EnumerationSink]:
        """Refuse streams the `resources` setting does not route (option sets aside).

        The classes carry the run's services: singer-sdk creates the sinks itself.
        """
        if stream_name == OPTION_SETS_STREAM and stream_name not in self.routes:
            return self._enumeration_sink
        if stream_name not in self.routes:
            msg = (
                f"Stream '{stream_name}' has no entry in the 'resources' setting (routed "
                f"streams: {', '.join(sorted(self.routes)) or 'none'}). Add it, or rename it "
                "with a stream map (__alias__)."
            )
            raise UnroutedStreamError(msg)
        return self._campaign_sink

    @cached_property
    def _campaign_sink(self) -> type[CampaignSink]:
        return CampaignSink.serving(self.sink_services)

    @cached_property
    def _enumeration_sink(self) -> type[EnumerationSink]:
        return EnumerationSink.serving(self.choices)

    # --- checkpoints and signals ----------------------------------------------------------

    @override
    def _write_state_message(self, state: dict) -> None:
        """Emit a STATE when `WriteOrder.may_emit` allows it.

        Once, never past records still waiting (for option sets, or in an import file not
        imported yet), never in a dry run. Once the input ended, or lines have waited
        `bulk_checkpoint_minutes`, the import files are imported first (their rejects
        recorded), so the STATE covers them.
        """
        if self._staged() and (self.order.final or self.backend.import_due()):
            self.backend.flush()
        if self.order.may_emit(state):
            super()._write_state_message(state)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop at once on SIGTERM or SIGINT (`stop_on_signal`), without the SDK's drain.

        Calls not started yet are cancelled; those in flight end on their own.
        """
        if "backend" in self.__dict__:
            self.backend.stop()
        stop_on_signal(self.logger, signum)

    # --- end of run -----------------------------------------------------------------------

    def process_endofpipe(self) -> None:
        """Drain and emit STATE, then write the summary; fail if anything was rejected."""
        try:
            self.order.settle()  # write (or reject) the records waiting for option sets
            super().process_endofpipe()
            if self._staged():  # no STATE arrived to import them before
                self.backend.flush()
            if "backend" in self.__dict__:
                self.backend.settle()
        finally:
            if "backend" in self.__dict__:
                self.backend.close()
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
