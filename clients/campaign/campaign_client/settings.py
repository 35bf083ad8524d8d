"""Connection settings shared by tap-adobe-campaign and target-adobe-campaign.

`CONNECTION_SETTINGS` (Campaign Standard's REST API through the Adobe I/O gateway),
`SOAP_SETTINGS` (the `backend` choice and a Campaign Classic / v8 instance's SOAP router) and
`sftp_settings` (the instance's SFTP storage area), each with the rules JSON Schema cannot
express (`connection_errors`, `soap_errors`, `sftp_errors`).
"""

from __future__ import annotations

import typing as t
from urllib.parse import urlsplit

from singer_sdk import typing as th
from sync_support.http_settings import CA_BUNDLE_SETTING, REQUEST_TIMEOUT_SETTING, ca_bundle_errors

from campaign_client.auth import DEFAULT_IMS_URL, DEFAULT_SCOPES
from campaign_client.client import DEFAULT_API_BASE_URL, DEFAULT_MAX_RETRY_SECONDS
from campaign_client.sftp import DEFAULT_PORT, SFTPConfigError, parse_host_key, parse_private_key
from campaign_client.soap import SOAP_PATH

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
    CA_BUNDLE_SETTING,
    REQUEST_TIMEOUT_SETTING,
    th.Property(
        "max_retry_seconds",
        th.IntegerType(minimum=0),
        default=DEFAULT_MAX_RETRY_SECONDS,
        description="Time budget in seconds for retrying one request after 429 (each "
        "Retry-After honoured in full), 502/503/504 or a connection error, counted from its "
        "first attempt; a wait that would end past it fails the request at once. A create "
        "(POST) is never re-sent blindly",
    ),
    th.Property(
        "max_retries",
        th.IntegerType(minimum=0),
        description="Optional cap on the number of retries of one request (0: no retry); "
        "unset: only max_retry_seconds limits them",
    ),
)


def connection_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Rules JSON Schema cannot express clearly: credentials set, endpoints https, CA file."""
    errors = [
        f"{key} must not be empty"
        for key in ("organization", "client_id", "client_secret")
        if config.get(key) == ""
    ]
    for key, default in (("ims_url", DEFAULT_IMS_URL), ("api_base_url", DEFAULT_API_BASE_URL)):
        value = config.get(key) or default
        if urlsplit(value).scheme != "https":
            errors.append(f"{key} must be an https:// URL, got '{value}'")
    errors += ca_bundle_errors(config)
    return errors


V8 = "v8"
BACKENDS = ("standard", V8)
SOAP_AUTH_MODES = ("ims_bearer", "bearer_logon", "login_password")

SOAP_SETTINGS = th.PropertiesList(
    th.Property(
        "backend",
        th.StringType,
        default="standard",
        allowed_values=list(BACKENDS),
        description="standard: Campaign Standard's REST API; v8: a Campaign v8 (or Classic v7) "
        "instance's SOAP API (soap_url, soap_auth)",
    ),
    th.Property(
        "soap_url",
        th.StringType,
        description="The instance's SOAP router (https), e.g. "
        "https://<instance>.campaign.adobe.com/nl/jsp/soaprouter.jsp; "
        "default <api_base_url>/nl/jsp/soaprouter.jsp",
    ),
    th.Property(
        "soap_auth",
        th.StringType,
        default="ims_bearer",
        allowed_values=list(SOAP_AUTH_MODES),
        description="ims_bearer: the IMS token (client_id, client_secret) on every call (v8.5+); "
        "bearer_logon: the IMS token traded for a session (xtk:session#BearerTokenLogon); "
        "login_password: an operator's soap_login and soap_password (xtk:session#Logon)",
    ),
    th.Property(
        "soap_login",
        th.StringType,
        description="Operator login, with soap_auth=login_password",
    ),
    th.Property(
        "soap_password",
        th.StringType,
        secret=True,
        description="Operator password, with soap_auth=login_password",
    ),
)


def soap_url(config: Mapping[str, t.Any]) -> str:
    """Return the SOAP router's URL: `soap_url`, else the router on `api_base_url`."""
    base = (config.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/")
    return str(config.get("soap_url") or base + SOAP_PATH)


def soap_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Rules JSON Schema cannot express clearly: the router https, a login with its password."""
    errors = []
    url = soap_url(config)
    if urlsplit(url).scheme != "https":
        errors.append(f"soap_url must be an https:// URL, got '{url}'")
    if config.get("soap_auth") == "login_password":
        errors.extend(
            f"{key} is required with soap_auth=login_password"
            for key in ("soap_login", "soap_password")
            if not config.get(key)
        )
    return errors


def sftp_settings(host_description: str) -> th.PropertiesList:
    """Return the `sftp_*` settings; `host_description`: what the plugin uses the storage for."""
    return th.PropertiesList(
        th.Property("sftp_host", th.StringType, description=host_description),
        th.Property(
            "sftp_port",
            th.IntegerType(minimum=1, maximum=65535),
            default=DEFAULT_PORT,
            description="Port of the SFTP storage",
        ),
        th.Property(
            "sftp_username", th.StringType, description="SFTP login; required with sftp_host"
        ),
        th.Property(
            "sftp_password",
            th.StringType,
            secret=True,
            description="SFTP password (or sftp_private_key, or both)",
        ),
        th.Property(
            "sftp_private_key",
            th.StringType,
            secret=True,
            description="SFTP private key, OpenSSH or PEM text (Ed25519, ECDSA or RSA, "
            "unencrypted)",
        ),
        th.Property(
            "sftp_host_key",
            th.StringType,
            description="The SFTP server's public host key, an OpenSSH line ('ssh-ed25519 "
            "AAAA…', as in known_hosts without the host name); required with sftp_host: any "
            "other key is refused",
        ),
    )


def sftp_errors(config: Mapping[str, t.Any]) -> list[str]:
    """Check the `sftp_*` settings together, when `sftp_host` is set (the keys are parsed)."""
    if not config.get("sftp_host"):
        return []
    errors = []
    for name in ("sftp_username", "sftp_host_key"):
        if not config.get(name):
            errors.append(f"{name} is required with sftp_host")
    if not (config.get("sftp_password") or config.get("sftp_private_key")):
        errors.append("sftp_password or sftp_private_key is required with sftp_host")
    for name, parse in (("sftp_host_key", parse_host_key), ("sftp_private_key", parse_private_key)):
        if config.get(name):
            try:
                parse(config[name])
            except SFTPConfigError as exc:
                errors.append(str(exc))
    return errors
