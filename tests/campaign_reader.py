"""An independent oracle for Adobe Campaign: its REST API read with plain `requests`.

The end-to-end tests compare what `target-adobe-campaign` wrote with this view, never with the
plugins' own client, so a target that duplicates or drops records cannot agree with itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import requests
from crm_sandbox.testing import CampaignEndpoints

EXT = "profileAndServicesExt"


class CampaignReader:
    """IMS client-credentials token + paged GETs against the Campaign REST API."""

    def __init__(self, campaign: CampaignEndpoints, ca_file: str) -> None:
        """Connect to the sandbox's (or any) Campaign with its server-to-server credential."""
        self.campaign = campaign
        self.session = requests.Session()
        self.session.verify = ca_file
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE (set on CI images) beat `verify`.
        self.session.trust_env = False
        self._token: str | None = None

    def token(self) -> str:
        """A fresh IMS access token."""
        response = self.session.post(
            self.campaign.token_url,
            data={
                "grant_type": "client_credentials",
                "client_id": self.campaign.client_id,
                "client_secret": self.campaign.client_secret,
                "scope": self.campaign.scopes,
            },
            timeout=30,
        )
        response.raise_for_status()
        return str(response.json()["access_token"])

    def get(self, url: str) -> dict[str, Any]:
        """GET an API URL (absolute, or relative to `<api_base>/<org>/campaign/`) as JSON."""
        if not url.startswith("https://"):
            url = f"{self.campaign.api_url.rstrip('/')}/{url}"
        for attempt in range(2):
            if self._token is None or attempt:
                self._token = self.token()
            response = self.session.get(
                url,
                headers={
                    "Authorization": f"Bearer {self._token}",
                    "X-Api-Key": self.campaign.client_id,
                    "Cache-Control": "no-cache",
                },
                timeout=60,
            )
            if response.status_code != 401:
                break
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body

    def records(self, resource: str) -> Iterator[dict[str, Any]]:
        """Every record of `profile` or a custom resource, following `next.href`."""
        url: str | None = f"{EXT}/{resource}?_lineCount=1000&_forcePagination=true"
        while url:
            page = self.get(url)
            yield from page["content"]
            url = (page.get("next") or {}).get("href")

    def by_key(self, resource: str, key: str) -> dict[str, list[dict[str, Any]]]:
        """Records grouped by their CRM-id field (records without one are left out)."""
        grouped: dict[str, list[dict[str, Any]]] = {}
        for record in self.records(resource):
            if record.get(key):
                grouped.setdefault(record[key], []).append(record)
        return grouped
