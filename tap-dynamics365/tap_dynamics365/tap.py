"""TapDynamics365: settings, discovery from Dataverse metadata, and the stream registry."""

from __future__ import annotations

import typing as t
from functools import cached_property

from dataverse_client.client import DataverseClient, connection_errors
from dataverse_client.metadata import Column, Table, list_columns, list_tables, select_tables
from dataverse_client.settings import CONNECTION_SETTINGS
from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from sync_support.interrupt import stop_on_signal
from sync_support.settings_check import STRICT_SETTINGS, validate_settings
from typing_extensions import override

from tap_dynamics365.streams import OptionSetsStream, TableStream

if t.TYPE_CHECKING:
    from types import FrameType

    from singer_sdk import Stream

MAX_PAGE_SIZE = 5000  # Dataverse silently caps larger odata.maxpagesize values


class TapDynamics365(Tap):
    """Singer tap for Microsoft Dynamics 365 / Dataverse tables (Web API, change tracking)."""

    name = "tap-dynamics365"
    message_writer_class = MsgSpecWriter
    #: Stream names as `discover_streams` returned them (the order `streams` keeps).
    discovery_order: tuple[str, ...] = ()

    config_jsonschema = th.PropertiesList(
        *CONNECTION_SETTINGS,
        th.Property(
            "tables",
            th.ArrayType(th.StringType),
            default=["contact", "account"],
            description="Table logical names or glob patterns (fnmatch, e.g. 'new_*') to sync, "
            "read in this order (list parents before the tables that link to them)",
        ),
        th.Property(
            "include_custom_tables",
            th.BooleanType,
            default=True,
            description="Also sync every custom table (IsCustomEntity)",
        ),
        th.Property(
            "exclude_tables",
            th.ArrayType(th.StringType),
            default=[],
            description="Table logical names or glob patterns to leave out (wins over tables)",
        ),
        th.Property(
            "skip_forbidden_tables",
            th.BooleanType,
            default=False,
            description="On 403 for a table, log a warning and skip it instead of failing",
        ),
        th.Property(
            "start_date",
            th.DateTimeType,
            description="Earliest modifiedon to sync on the first run",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
            default=MAX_PAGE_SIZE,
            description="Rows per page (Prefer: odata.maxpagesize), at most 5000",
        ),
        th.Property(
            "use_change_tracking",
            th.BooleanType,
            default=True,
            description="Use Dataverse change tracking (delta links, deletes) on tables that "
            "have it enabled; otherwise poll modifiedon",
        ),
        th.Property(
            "emit_activate_version_messages",
            th.BooleanType,
            default=True,
            description="After a read of a whole table (first run, --full-refresh, an expired "
            "delta token; not with start_date), emit ACTIVATE_VERSION so loaders remove the rows "
            "deleted at the source (option sets too)",
        ),
        th.Property(
            "include_formatted_values",
            th.BooleanType,
            default=False,
            description="Emit <column>_formatted labels (FormattedValue annotations) beside "
            "choice, boolean, lookup, date and number columns",
        ),
        STRICT_SETTINGS,
    ).to_dict()

    #: Discovery reads the environment's table metadata, so it needs valid settings too.
    dynamic_catalog = True

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop at once on SIGTERM or SIGINT, exit 128 + signum (the SDK's handler exits 0)."""
        stop_on_signal(self.logger, signum)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate against the schema, plus rules JSON Schema cannot express clearly.

        Runs in every mode before any request (`dynamic_catalog` makes discovery validate);
        a problem raises `ConfigError`, shown as one line with exit status 2.
        """
        return validate_settings(
            self, super()._validate_config, connection_errors, raise_errors=raise_errors
        )

    @cached_property
    def client(self) -> DataverseClient:
        """The Web API client every stream shares."""
        return DataverseClient.from_config(self.config, logger=self.logger)

    @property
    @override
    def streams(self) -> dict[str, Stream]:
        """The streams in discovery order: option_sets, then the tables as `tables` lists them.

        The SDK sorts them by name, which would send account before contact: a loader that
        writes parents first (target-adobe-campaign) rejects a child whose parent comes later,
        and one that converts choices holds records until the option sets arrive.
        """
        streams = super().streams
        return {name: streams[name] for name in self.discovery_order if name in streams} | streams

    def discover_streams(self) -> list[Stream]:
        """Return the option_sets stream, then one stream per selected table, in `tables` order."""
        config = self.config
        tables = select_tables(
            list_tables(self.client),
            include=config.get("tables", ["contact", "account"]),
            include_custom=config.get("include_custom_tables", True),
            exclude=config.get("exclude_tables", []),
        )
        streams: list[Stream] = []
        described: list[tuple[Table, list[Column]]] = []
        for table in tables:
            columns = list_columns(self.client, table)
            described.append((table, columns))
            streams.append(
                TableStream(
                    self,
                    self.client,
                    table,
                    columns,
                    use_change_tracking=config.get("use_change_tracking", True),
                    formatted_values=config.get("include_formatted_values", False),
                    page_size=config.get("page_size", MAX_PAGE_SIZE),
                    skip_forbidden=config.get("skip_forbidden_tables", False),
                )
            )
        streams.insert(0, OptionSetsStream(self, self.client, described))
        self.discovery_order = tuple(stream.name for stream in streams)
        return streams


if __name__ == "__main__":
    TapDynamics365.cli()
