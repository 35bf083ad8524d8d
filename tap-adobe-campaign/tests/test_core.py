"""The SDK's standard tap tests, against the Campaign sandbox."""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_adobe_campaign.tap import TapAdobeCampaign

from .conftest import PROFILES, SANDBOX, connection

#: Small pages, so the standard sync pages through `next.href` and `Link` several times.
CONFIG = connection(SANDBOX, page_size=7, events_page_limit=5)
URL = "https://shop.example/"


@pytest.fixture(scope="module", autouse=True)
def fresh_sandbox() -> None:
    """Seed data, default settings, no faults, whatever the tests before did, plus one send.

    The send puts delivery/tracking log events in the journal, so email_events has records.
    Module-scoped: the suite syncs once, in its class-scoped `runner` fixture.
    """
    SANDBOX.restore()
    SANDBOX.admin.simulate_send(
        "DM190", profiles=20, hard_bounce_rate=0.1, open_rate=0.5, click_rate=0.5, urls=[URL]
    )


TestTapAdobeCampaign = get_tap_test_class(
    tap_class=TapAdobeCampaign,
    config=CONFIG,
    # opt_outs joins the standard tests once the sandbox serves the SFTP export folder.
    suite_config=SuiteConfig(
        max_records_limit=PROFILES, ignore_no_records_for_streams=["opt_outs"]
    ),
)
