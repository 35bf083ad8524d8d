"""TapDynamics365: settings, discovery from Dataverse metadata, and the stream registry."""

from __future__ import annotations

import typing as t
from functools import cached_property

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from typing_extensions import override

from tap_dynamics365.client import (
    DEFAULT_API_VERSION,
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_MAX_RETRY_SECONDS,
    DataverseClient,
    connection_errors,
)
from tap_dynamics365.metadata import list_columns, list_tables, select_tables
from tap_dynamics365.settings_check import STRICT_SETTINGS, validate_settings
from tap_dynamics365.streams import OptionSetsStream, TableStream

if t.TYPE_CHECKING:
    from singer_sdk import Stream

MAX_PAGE_SIZE = 5000  # Dataverse silently caps larger odata.maxpagesize values


class TapDynamics365(Tap):
    """Singer tap for Microsoft Dynamics 365 / Dataverse tables (Web API, change tracking)."""

    name = "tap-dynamics365"
    message_writer_class = MsgSpecWriter

    config_jsonschema = th.PropertiesList(
        th.Property(
            "tenant_id",
            th.StringType,
            required=True,
            description="Entra ID (Azure AD) tenant id or domain of the app registration",
        ),
        th.Property(
            "client_id",
            th.StringType,
            required=True,
            description="Application (client) id of the app registration bound to a Dataverse "
            "application user",
        ),
        th.Property(
            "client_secret",
            th.StringType,
            secret=True,
            description="Client secret of the app registration; required unless "
            "client_certificate_path is set",
        ),
        th.Property(
            "client_certificate_path",
            th.StringType,
            description="PEM file with the private key (and certificate) to authenticate with "
            "a certificate instead of a secret",
        ),
        th.Property(
            "client_certificate_thumbprint",
            th.StringType,
            description="SHA-1 thumbprint (hex) of the certificate in client_certificate_path",
        ),
        th.Property(
            "client_certificate_password",
            th.StringType,
            secret=True,
            description="Passphrase of the private key in client_certificate_path, if any",
        ),
        th.Property(
            "authority_host",
            th.StringType,
            default=DEFAULT_AUTHORITY_HOST,
            description="Entra ID authority host (https); the tenant id is appended",
        ),
        th.Property(
            "resource_url",
            th.StringType,
            required=True,
            description="Environment URL, e.g. https://org.crm.dynamics.com (also the token "
            "scope's resource); the API is <resource_url>/api/data/<api_version>/",
            examples=["https://org.crm.dynamics.com"],
        ),
        th.Property(
            "api_version",
            th.StringType,
            default=DEFAULT_API_VERSION,
            description="Web API version",
        ),
        th.Property(
            "ca_bundle",
            th.StringType,
            description="Path to a CA bundle (PEM) to verify TLS with, e.g. the sandbox CA; "
            "default: the system CAs",
        ),
        th.Property(
            "tables",
            th.ArrayType(th.StringType),
            default=["contact", "account"],
            description="Table logical names or glob patterns (fnmatch, e.g. 'new_*') to sync",
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
            "include_formatted_values",
            th.BooleanType,
            default=False,
            description="Emit <column>_formatted labels (FormattedValue annotations) beside "
            "choice, boolean, lookup, date and number columns",
        ),
        th.Property(
            "request_timeout",
            th.IntegerType(minimum=1),
            default=300,
            description="HTTP request timeout in seconds",
        ),
        th.Property(
            "max_retry_seconds",
            th.IntegerType(minimum=0),
            default=DEFAULT_MAX_RETRY_SECONDS,
            description="Time budget in seconds for retrying one request after 429 or 503 "
            "(each Retry-After honoured in full), other 5xx or a connection error, counted "
            "from its first attempt; a wait that would end past it fails the request at once",
        ),
        th.Property(
            "max_retries",
            th.IntegerType(minimum=0),
            description="Optional cap on the number of retries of one request (0: no retry); "
            "unset: only max_retry_seconds limits them",
        ),
        STRICT_SETTINGS,
    ).to_dict()

    #: Discovery reads the environment's table metadata, so it needs valid settings too.
    dynamic_catalog = True

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

    def discover_streams(self) -> list[Stream]:
        """One stream per selected table (attributes read table by table), plus option_sets."""
        config = self.config
        tables = select_tables(
            list_tables(self.client),
            include=config.get("tables", ["contact", "account"]),
            include_custom=config.get("include_custom_tables", True),
            exclude=config.get("exclude_tables", []),
        )
        streams: list[Stream] = []
        described = []
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
        streams.append(OptionSetsStream(self, self.client, described))
        return streams


if __name__ == "__main__":
    TapDynamics365.cli()
