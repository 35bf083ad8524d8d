"""The settings every Dataverse plugin takes to reach and authenticate to an environment.

tap-dynamics365 and target-dynamics365 declare them as they are (`CONNECTION_SETTINGS`);
`client.connection_errors` checks what JSON Schema cannot (https, one way to authenticate).
`POOL_SETTINGS` are those of a plugin sending bulk requests in parallel (`pool.ClientPool`;
`pool.pool_errors` checks them).
"""

from __future__ import annotations

from singer_sdk import typing as th
from sync_support.http_settings import CA_BUNDLE_SETTING, REQUEST_TIMEOUT_SETTING

from dataverse_client.client import (
    DEFAULT_API_VERSION,
    DEFAULT_AUTHORITY_HOST,
    DEFAULT_MAX_RETRY_SECONDS,
)
from dataverse_client.pool import DEFAULT_MAX_PARALLEL

CONNECTION_SETTINGS = th.PropertiesList(
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
    CA_BUNDLE_SETTING,
    REQUEST_TIMEOUT_SETTING,
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
)

POOL_SETTINGS = th.PropertiesList(
    th.Property(
        "max_parallel_requests",
        th.IntegerType(minimum=1),
        default=DEFAULT_MAX_PARALLEL,
        description="Bulk requests in flight per application user at most; the server's "
        "x-ms-dop-hint (recommended degree of parallelism) lowers it (a user with no answer "
        "yet takes the hint another user got, else has one in flight until its first answer). "
        "1: one request at a time",
    ),
    th.Property(
        "additional_app_users",
        th.ArrayType(
            th.ObjectType(
                th.Property("client_id", th.StringType, required=True),
                th.Property("client_secret", th.StringType, secret=True),
                th.Property("client_certificate_path", th.StringType),
                th.Property("client_certificate_thumbprint", th.StringType),
                th.Property("client_certificate_password", th.StringType, secret=True),
                additional_properties=False,
            )
        ),
        secret=True,
        description="More app registrations of the same tenant, each bound to its own "
        "application user, to spread bulk writes over: [{client_id, client_secret} or "
        "{client_id, client_certificate_path, client_certificate_thumbprint, "
        "client_certificate_password}]. Each has its own token and its own service protection "
        "budget; a throttled user rests for its Retry-After while the others carry on",
    ),
)
