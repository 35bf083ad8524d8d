"""TapAdobeCampaign: settings and the stream registry."""

from __future__ import annotations

from functools import cached_property

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError

from tap_adobe_campaign.client import CampaignClient
from tap_adobe_campaign.settings import CONNECTION_SETTINGS, connection_errors
from tap_adobe_campaign.streams import ProfilesStream

MAX_PAGE_SIZE = 10_000


class TapAdobeCampaign(Tap):
    """Singer tap for Adobe Campaign Standard (REST API, IMS OAuth server-to-server)."""

    name = "tap-adobe-campaign"
    message_writer_class = MsgSpecWriter

    config_jsonschema = th.PropertiesList(
        *CONNECTION_SETTINGS,
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
            description="Earliest lastModified to sync on the first run",
        ),
        th.Property(
            "page_size",
            th.IntegerType(minimum=1, maximum=MAX_PAGE_SIZE),
            default=500,
            description="Records per page (_lineCount)",
        ),
    ).to_dict()

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate against the schema, plus the https rule."""
        errors = super()._validate_config(raise_errors=raise_errors)
        errors += connection_errors(self.config)
        if errors and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=errors)
        return errors

    @cached_property
    def client(self) -> CampaignClient:
        """The REST client every stream shares."""
        return CampaignClient.from_config(self.config, logger=self.logger)

    def discover_streams(self) -> list[ProfilesStream]:
        """Return the profiles stream."""
        resource = self.config.get("profile_resource", "profileAndServicesExt/profile")
        return [ProfilesStream(self, self.client, resource)]


if __name__ == "__main__":
    TapAdobeCampaign.cli()
