"""TapAdobeCampaign: settings and the stream registry."""

from __future__ import annotations

import typing as t
from functools import cached_property

from campaign_client.client import CampaignClient
from campaign_client.metadata import resource_fields
from campaign_client.settings import (
    CONNECTION_SETTINGS,
    SOAP_SETTINGS,
    connection_errors,
    soap_errors,
)
from campaign_client.soap_session import SoapSession
from singer_sdk import Stream, Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from sync_support.interrupt import stop_on_signal
from sync_support.settings_check import STRICT_SETTINGS, ConfigError, validate_settings
from typing_extensions import override

from tap_adobe_campaign.journal import EmailEventsStream, journal_setting_errors
from tap_adobe_campaign.optouts import OptOutsStream
from tap_adobe_campaign.streams import ProfilesStream, UnlinkedProfilesStream
from tap_adobe_campaign.tap_settings import (
    EVENT_SETTINGS,
    OPT_OUT_SETTINGS,
    PROFILE_SETTINGS,
    tap_errors,
)
from tap_adobe_campaign.v8.email_events import V8EmailEventsStream
from tap_adobe_campaign.v8.optouts import V8OptOutsStream
from tap_adobe_campaign.v8.profiles import V8ProfilesStream, V8UnlinkedProfilesStream
from tap_adobe_campaign.v8.recipient import RecipientSchema

if t.TYPE_CHECKING:
    from types import FrameType


class TapAdobeCampaign(Tap):
    """Singer tap for Adobe Campaign Standard: profiles (REST API), email events (Adobe I/O Events journal), opt-outs (export files on SFTP).

    With `backend: v8`, the same streams from a Campaign v8 / Classic instance over SOAP
    (`tap_adobe_campaign.v8`).
    """  # noqa: E501

    name = "tap-adobe-campaign"
    message_writer_class = MsgSpecWriter

    config_jsonschema = th.PropertiesList(
        *CONNECTION_SETTINGS,
        *SOAP_SETTINGS,
        *PROFILE_SETTINGS,
        *EVENT_SETTINGS,
        *OPT_OUT_SETTINGS,
        STRICT_SETTINGS,
    ).to_dict()

    #: Discovery reads the profile resource's metadata (its custom fields), so it needs valid
    #: settings too.
    dynamic_catalog = True

    def __init__(self, *args: t.Any, validate_config: bool = True, **kwargs: t.Any) -> None:
        """Also fail at start-up when the catalog selects email_events without its settings.

        (Without a catalog every stream is synced, and the stream itself raises the same
        error before reading.)
        """
        super().__init__(*args, validate_config=validate_config, **kwargs)
        entry = self.input_catalog.get_stream("email_events") if self.input_catalog else None
        selected = entry is not None and entry.metadata.resolve_selection().get((), False)
        errors = journal_setting_errors(self.config) if not self.is_v8 else []
        if validate_config and selected and errors:
            raise ConfigError(self.name, errors)

    @override
    def _handle_termination(self, signum: int, frame: FrameType | None) -> None:
        """Stop at once on SIGTERM or SIGINT, exit 128 + signum (the SDK's handler exits 0)."""
        stop_on_signal(self.logger, signum)

    @override
    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """Validate against the schema, plus the rules JSON Schema cannot express clearly.

        Runs in every mode before any request; a problem raises `ConfigError`, shown as one
        line with exit status 2.
        """
        return validate_settings(
            self,
            super()._validate_config,
            lambda config: (
                connection_errors(config)
                + tap_errors(config)
                + (soap_errors(config) if config.get("backend") == "v8" else [])
            ),
            raise_errors=raise_errors,
        )

    @property
    def is_v8(self) -> bool:
        """Whether the streams read a Campaign v8 / Classic instance (`backend: v8`)."""
        return self.config.get("backend") == "v8"

    @cached_property
    def client(self) -> CampaignClient:
        """The REST client every stream shares."""
        return CampaignClient.from_config(self.config, logger=self.logger)

    @cached_property
    def soap_session(self) -> SoapSession:
        """The SOAP session every v8 stream shares (one logon; IMS tokens shared with REST)."""
        return SoapSession.from_config(
            self.config, authenticator=self.client.authenticator, logger=self.logger
        )

    def discover_streams(self) -> list[Stream]:
        """Return the profiles, unlinked_profiles, email_events and opt_outs streams."""
        if self.is_v8:
            recipient = RecipientSchema.read(self.soap_session)  # once for both profile streams
            return [
                V8ProfilesStream(self, self.soap_session, recipient),
                V8UnlinkedProfilesStream(self, self.soap_session, recipient),
                V8EmailEventsStream(self, self.soap_session),
                V8OptOutsStream(self, self.soap_session),
            ]
        resource = self.config.get("profile_resource", "profileAndServicesExt/profile")
        fields = resource_fields(self.client, resource)  # read once for both profile streams
        return [
            ProfilesStream(self, self.client, resource, fields),
            UnlinkedProfilesStream(self, self.client, resource, fields),
            EmailEventsStream(self, self.client),
            OptOutsStream(self),
        ]


if __name__ == "__main__":
    TapAdobeCampaign.cli()
