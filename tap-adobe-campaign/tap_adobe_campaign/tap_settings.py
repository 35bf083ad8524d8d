"""Settings of the tap only (the connection settings shared with the target are in settings.py)."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from campaign_client.settings import sftp_errors, sftp_settings
from singer_sdk import typing as th

from tap_adobe_campaign.events import EVENT_TYPES
from tap_adobe_campaign.optout_export import DEFAULT_EXPORTS_DIR

if t.TYPE_CHECKING:
    from collections.abc import Mapping

MAX_PAGE_SIZE = 10_000
#: `opt_out_sync` values (Adobe's Dynamics 365 integration's opt-out modes).
OPT_OUT_SYNC_MODES = ("disabled", "d365_to_campaign", "campaign_to_d365", "bidirectional")
#: Modes in which Campaign's opt-outs flow to Dynamics 365 (opt_outs emits records).
CAMPAIGN_TO_D365_MODES = frozenset({"campaign_to_d365", "bidirectional"})
#: This plugin serves the Campaign → Dynamics 365 direction.
DEFAULT_OPT_OUT_SYNC = "campaign_to_d365"

PROFILE_SETTINGS = th.PropertiesList(
    th.Property(
        "profile_resource",
        th.StringType,
        default="profileAndServicesExt/profile",
        description="Where profiles are read: profileAndServicesExt/profile (custom "
        "fields too) or profileAndServices/profile (out-of-the-box fields only)",
    ),
    th.Property(
        "start_date",
        th.DateTimeType,
        description="First run only: profiles modified and opt-out export files written from "
        "this time on (the events journal starts at its oldest retained event); on v8, "
        "recipients, delivery logs modified and tracking logs written from this time on",
    ),
    th.Property(
        "page_size",
        th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
        default=500,
        description="Profiles per page (_lineCount); on v8, rows per queryDef page (lineCount) "
        "of every stream",
    ),
    th.Property(
        "emit_activate_version_messages",
        th.BooleanType,
        default=True,
        description="After a read of every profile (first run without start_date, "
        "--full-refresh), emit ACTIVATE_VERSION so loaders remove the profiles deleted in Campaign",
    ),
    th.Property(
        "modified_since_filter",
        th.StringType,
        description="Name of a custom filter defined in the tenant on profileAndServicesExt/"
        "profile with the condition lastModified >= parameter (e.g. byLastModified); with "
        "modified_since_parameter, incremental runs read only changed profiles. Unset: every "
        "run reads all profiles and skips those older than the bookmark",
    ),
    th.Property(
        "modified_since_parameter",
        th.StringType,
        description="The URL parameter Campaign generated for that filter's parameter "
        "(e.g. lastModified_parameter); the bookmark is sent in Campaign's date format",
    ),
)

EVENT_SETTINGS = th.PropertiesList(
    th.Property(
        "events_journal_url",
        th.StringType,
        description="Journaling URL of the Adobe I/O Events registration receiving Campaign's "
        "delivery/tracking log events (https://events.adobe.io/events/organizations/<org>/"
        "integrations/<project>/<registration id>); required for email_events",
    ),
    th.Property(
        "ims_org_id",
        th.StringType,
        description="IMS organization id of the credential (…@AdobeOrg), sent as x-ims-org-id "
        "to the events journal; required for email_events",
    ),
    th.Property(
        "event_types",
        th.ArrayType(th.StringType(allowed_values=list(EVENT_TYPES))),
        default=list(EVENT_TYPES),
        description="Email event types to emit: any of send, open, click, bounce",
    ),
    th.Property(
        "include_soft_bounces",
        th.BooleanType,
        default=False,
        description="Emit soft bounces (failureType 1) as bounce events too; by default only "
        "hard bounces, as Adobe's Dynamics 365 integration does",
    ),
    th.Property(
        "events_page_limit",
        th.IntegerType(minimum=1),
        description="Upper bound of events per journal page (the journal's limit parameter); "
        "default: the journal's own",
    ),
)

OPT_OUT_SETTINGS = th.PropertiesList(
    th.Property(
        "opt_out_sync",
        th.StringType(allowed_values=list(OPT_OUT_SYNC_MODES)),
        default=DEFAULT_OPT_OUT_SYNC,
        description="Opt-out synchronization mode of the project: disabled, d365_to_campaign, "
        "campaign_to_d365 or bidirectional; opt_outs emits records only in the last two",
    ),
    *sftp_settings(
        "Host of the Campaign SFTP storage holding the opt-out exports; unset: opt_outs "
        "emits nothing"
    ),
    th.Property(
        "opt_out_exports_dir",
        th.StringType,
        default=DEFAULT_EXPORTS_DIR,
        description="Folder of the opt-out export files, relative to the SFTP login's root",
    ),
)


def opt_out_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Check the SFTP settings opt_outs needs, together (the keys are parsed).

    (An unknown `opt_out_sync` is refused by the schema: "... in config['opt_out_sync']".)
    """
    return sftp_errors(config)


def tap_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Rules JSON Schema cannot express clearly: the journal URL must be https."""
    errors = []
    url = config.get("events_journal_url")
    if url and urlsplit(url).scheme != "https":
        errors.append(f"events_journal_url must be an https:// URL, got '{url}'")
    if bool(config.get("modified_since_filter")) != bool(config.get("modified_since_parameter")):
        errors.append("modified_since_filter and modified_since_parameter go together: set both")
    return errors + opt_out_errors(config)
