"""One Campaign sandbox (crm-sandbox's emulator) per test session, on free ports."""

from __future__ import annotations

import typing as t

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign, start_in_thread
from crm_sandbox.campaign.seed import SeedSizes
from crm_sandbox.campaign.server import CampaignServeOptions

if t.TYPE_CHECKING:
    from collections.abc import Iterator

PROFILES = 60
DEFAULT_SETTINGS = {
    "token_lifetime": 86399,
    "big_table_threshold": 100_000,
    "absolute_hrefs": True,
    "tps_limit": 0,
}


@pytest.fixture(scope="session")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    options = CampaignServeOptions(
        tmp_path_factory.mktemp("campaign"),
        ims_port=0,
        gateway_port=0,
        sizes=SeedSizes(profiles=PROFILES),
    )
    sandbox = start_in_thread(options)
    yield sandbox
    sandbox.stop()


@pytest.fixture
def campaign(running: RunningCampaign) -> RunningCampaign:
    """The sandbox with fresh data, default settings, no faults and empty logs."""
    admin = running.admin
    admin.reset(profiles=PROFILES)
    admin.clear_faults()
    admin.set_config(**DEFAULT_SETTINGS)
    admin.clear_requests()
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
        "max_retries": 2,
        **overrides,
    }


def gateway_requests(campaign: RunningCampaign, app: str = "gateway") -> list[dict[str, t.Any]]:
    """The sandbox's request log for one app."""
    return [r for r in campaign.admin.requests() if r["app"] == app]
