"""Connection settings shared by tap-adobe-campaign and target-adobe-campaign."""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th

from tap_adobe_campaign.auth import DEFAULT_IMS_URL, DEFAULT_SCOPES
from tap_adobe_campaign.client import DEFAULT_API_BASE_URL

if t.TYPE_CHECKING:
    from collections.abc import Mapping

CONNECTION_SETTINGS = th.PropertiesList(
    th.Property(
        "organization",
        th.StringType,
        required=True,
        description="Campaign tenant (organization) id; the API is "
        "<api_base_url>/<organization>/campaign (stage tenants: <org>-mkt-stage)",
    ),
    th.Property(
        "client_id",
        th.StringType,
        required=True,
        description="Client ID of the OAuth Server-to-Server credential (Adobe Developer "
        "Console); also sent as the X-Api-Key header",
    ),
    th.Property(
        "client_secret",
        th.StringType,
        required=True,
        secret=True,
        description="Client secret of the OAuth Server-to-Server credential",
    ),
    th.Property(
        "scopes",
        th.StringType,
        default=DEFAULT_SCOPES,
        description="Comma-separated IMS scopes; copy them from the Developer Console project",
    ),
    th.Property(
        "ims_url",
        th.StringType,
        default=DEFAULT_IMS_URL,
        description="Adobe IMS host (https); tokens come from <ims_url>/ims/token/v3",
    ),
    th.Property(
        "api_base_url",
        th.StringType,
        default=DEFAULT_API_BASE_URL,
        description="Adobe I/O gateway (https)",
    ),
    th.Property(
        "ca_bundle",
        th.StringType,
        description="Path to a CA bundle (PEM) to verify TLS with, e.g. the sandbox CA; "
        "default: the system CAs",
    ),
    th.Property(
        "request_timeout",
        th.IntegerType(minimum=1),
        default=300,
        description="HTTP request timeout in seconds",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        default=8,
        description="Retries of a request after 429 (honouring Retry-After), 502/503/504 or "
        "a connection error; a create (POST) is never re-sent blindly",
    ),
)


def connection_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Rules JSON Schema cannot express clearly: real endpoints must be https."""
    errors = []
    for key, default in (("ims_url", DEFAULT_IMS_URL), ("api_base_url", DEFAULT_API_BASE_URL)):
        value = config.get(key) or default
        if urlsplit(value).scheme != "https":
            errors.append(f"{key} must be an https:// URL, got '{value}'")
    return errors
