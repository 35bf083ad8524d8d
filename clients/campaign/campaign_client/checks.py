"""Connection check steps against Adobe Campaign, shared by tap- and target-adobe-campaign.

Requests are sent once, without the retry policy: a check reports what the service answers
now instead of waiting through backoff.
"""

from __future__ import annotations

import typing as t

from sync_support.checks import CheckStep

if t.TYPE_CHECKING:
    from campaign_client.client import CampaignClient

#: Records asked for by the page step: proves read access, costs nothing.
CHECK_PAGE_SIZE = 5
DEFAULT_PROFILE_RESOURCE = "profileAndServicesExt/profile"


def _split(resource: str) -> tuple[str, str]:
    """`profileAndServicesExt/profile` → (`profileAndServicesExt`, `profile`)."""
    api, _, name = resource.strip("/").rpartition("/")
    return api, name


def token_step(client: CampaignClient) -> CheckStep:
    """Fetch a new IMS token (the cached one is dropped); report its lifetime, never it."""

    def run() -> str:
        client.authenticator.invalidate()
        return f"acquired; expires in {client.authenticator.expires_in()} s"

    return CheckStep("token", run)


def metadata_step(client: CampaignClient, resource: str = DEFAULT_PROFILE_RESOURCE) -> CheckStep:
    """Read a resource's metadata: `GET <api>/resourceType/<name>`."""

    def run() -> str:
        api, name = _split(resource)
        meta = client.get_json(f"{api}/resourceType/{name}")
        content = meta.get("content") or {}
        return f"{resource}: {len(content)} fields"

    return CheckStep("metadata", run)


def page_step(
    client: CampaignClient, resource: str = DEFAULT_PROFILE_RESOURCE, size: int = CHECK_PAGE_SIZE
) -> CheckStep:
    """Read the first page (`size` records) of a resource."""

    def run() -> str:
        page = client.get_json(resource, {"_lineCount": size, "_forcePagination": "true"})
        more = ", more pages" if page.get("next") else ""
        return f"{resource}: first page, {len(page.get('content', ()))} records{more}"

    return CheckStep("page", run)
