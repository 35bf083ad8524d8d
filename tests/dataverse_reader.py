"""An independent oracle: what the Dataverse Web API holds, read with plain `requests`.

The end-to-end tests compare the loader's files with this, not with the tap's own view, so a tap
that skips or repeats rows cannot agree with itself by accident.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import requests


@dataclass(frozen=True)
class TableInfo:
    """What the reader needs to know about a table."""

    logical_name: str
    entity_set: str
    primary_id: str
    change_tracking: bool


class DataverseReader:
    """Client-credentials token + paged GETs against the sandbox (or any Dataverse)."""

    def __init__(self, tap_env: Mapping[str, str]) -> None:
        """Take the connection from the `TAP_DYNAMICS365_*` variables the tap is given."""
        authority = tap_env.get(
            "TAP_DYNAMICS365_AUTHORITY_HOST", "https://login.microsoftonline.com"
        )
        self.token_url = (
            f"{authority.rstrip('/')}/{tap_env['TAP_DYNAMICS365_TENANT_ID']}/oauth2/v2.0/token"
        )
        self.resource = tap_env["TAP_DYNAMICS365_RESOURCE_URL"].rstrip("/")
        api_version = tap_env.get("TAP_DYNAMICS365_API_VERSION", "v9.2")
        self.api = f"{self.resource}/api/data/{api_version}"
        self.client_id = tap_env["TAP_DYNAMICS365_CLIENT_ID"]
        self.client_secret = tap_env["TAP_DYNAMICS365_CLIENT_SECRET"]
        self.session = requests.Session()
        self.session.verify = tap_env.get("TAP_DYNAMICS365_CA_BUNDLE") or True
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on CI images) beat `verify`.
        self.session.trust_env = False
        self._token: str | None = None

    def token(self) -> str:
        """A fresh access token for the resource."""
        response = self.session.post(
            self.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self.client_secret,
                "scope": f"{self.resource}/.default",
            },
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def get(self, url: str, prefer: str = "odata.maxpagesize=5000") -> dict[str, Any]:
        """GET a Web API URL (absolute or relative to the API root) as JSON."""
        if not url.startswith("https://"):
            url = f"{self.api}/{url}"
        for attempt in range(2):
            if self._token is None or attempt:
                self._token = self.token()
            response = self.session.get(
                url,
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "Accept": "application/json",
                    "OData-Version": "4.0",
                    "OData-MaxVersion": "4.0",
                    "Prefer": prefer,
                },
                timeout=60,
            )
            if response.status_code != 401:
                break
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def tables(self) -> dict[str, TableInfo]:
        """Every table, by logical name."""
        body = self.get(
            "EntityDefinitions?$select=LogicalName,EntitySetName,PrimaryIdAttribute,"
            "ChangeTrackingEnabled"
        )
        return {
            row["LogicalName"]: TableInfo(
                row["LogicalName"],
                row["EntitySetName"],
                row["PrimaryIdAttribute"],
                bool(row.get("ChangeTrackingEnabled")),
            )
            for row in body["value"]
        }

    def rows(self, table: TableInfo, select: str | None = None) -> Iterator[dict[str, Any]]:
        """Every row of a table, following `@odata.nextLink`."""
        url: str | None = f"{table.entity_set}?$select={select or table.primary_id}"
        while url:
            page = self.get(url)
            yield from page["value"]
            url = page.get("@odata.nextLink")

    def ids(self, table: TableInfo) -> set[str]:
        """The primary keys of every row of a table."""
        return {row[table.primary_id] for row in self.rows(table)}
