"""Campaign tests: each module serves its own Campaign sandbox on a thread of the test process.

Modules define a module-scoped `campaign` fixture with `serve_campaign(...)` (their own data
size and seed); `api` is then an authenticated session on it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from crm_sandbox.campaign.inprocess import RunningCampaign, start_in_thread
from crm_sandbox.campaign.seed import SeedSizes
from crm_sandbox.campaign.server import CampaignServeOptions

RST = "RST-360011 An error has occurred - please contact your administrator."


def serve_campaign(
    tmp_path_factory: pytest.TempPathFactory, sizes: SeedSizes, seed: int = 42
) -> Iterator[RunningCampaign]:
    """Serve IMS + gateway on free ports with fresh data until the generator is closed."""
    options = CampaignServeOptions(
        tmp_path_factory.mktemp("campaign"),
        ims_port=0,
        gateway_port=0,
        events_port=0,
        sftp_port=0,
        sizes=sizes,
        seed=seed,
    )
    with start_in_thread(options) as running:
        yield running


@pytest.fixture(scope="module")
def api(campaign: RunningCampaign) -> requests.Session:
    return campaign.api_session()


def url(campaign: RunningCampaign, path: str) -> str:
    return f"{campaign.info['api_url']}/{path}"
