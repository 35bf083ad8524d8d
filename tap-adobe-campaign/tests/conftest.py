"""One Campaign sandbox (crm-sandbox's emulator) per test session, on free ports.

It starts when this module is imported: the SDK's standard tap tests (`test_core.py`) take
their config (the sandbox's endpoints) and run discovery while pytest collects them, before
any fixture runs. It stops, and its files are removed, when the session ends.
"""

from __future__ import annotations

import typing as t

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign, start_temporary

if t.TYPE_CHECKING:
    from collections.abc import Iterator

PROFILES = 60
#: The sandbox's SFTP storage (opt-out exports), as its info names the tap's settings.
SFTP_KEYS = (
    "sftp_host",
    "sftp_port",
    "sftp_username",
    "sftp_password",
    "sftp_host_key",
    "opt_out_exports_dir",
)
SANDBOX = start_temporary(PROFILES)


@pytest.fixture(scope="session", autouse=True)
def running() -> Iterator[RunningCampaign]:
    """The session's sandbox; stopped (and its files removed) when the session ends."""
    yield SANDBOX
    SANDBOX.stop()


@pytest.fixture
def campaign(running: RunningCampaign) -> RunningCampaign:
    """The sandbox with fresh data, default settings, no faults and empty logs."""
    running.restore()
    return running


def connection(campaign: RunningCampaign, **overrides: t.Any) -> dict[str, t.Any]:
    """Tap/client settings pointing at the sandbox."""
    info = campaign.info
    return {
        "organization": info["organization"],
        "client_id": info["client_id"],
        "client_secret": info["client_secret"],
        "scopes": info["scopes"],
        "ims_url": info["ims_url"],
        "api_base_url": info["api_base_url"],
        "ca_bundle": info["ca_file"],
        "events_journal_url": info["journal_url"],
        "ims_org_id": info["ims_org_id"],
        "max_retries": 2,
        **overrides,
    }


def gateway_requests(campaign: RunningCampaign, app: str = "gateway") -> list[dict[str, t.Any]]:
    """The sandbox's request log for one app."""
    return [r for r in campaign.admin.requests() if r["app"] == app]


def profiles_only(config: dict[str, t.Any], stream_id: str = "profiles") -> dict[str, t.Any]:
    """A catalog selecting one stream alone (the profiles stream by default)."""
    from tap_adobe_campaign.tap import TapAdobeCampaign

    catalog = TapAdobeCampaign(config=config).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if not entry["breadcrumb"]:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == stream_id
    return catalog


@pytest.fixture
def no_profile_metadata(monkeypatch: pytest.MonkeyPatch) -> None:
    """For taps built on fake hosts (journal, SFTP fakes): discovery reads no profile metadata.

    The profiles stream's schema is then the standard fields alone; these tests read other
    streams.
    """
    monkeypatch.setattr("tap_adobe_campaign.tap.resource_fields", lambda client, resource: {})
