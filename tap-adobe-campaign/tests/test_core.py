"""The SDK's standard tap tests, against the Campaign sandbox."""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_adobe_campaign.tap import TapAdobeCampaign

from .conftest import PROFILES, SANDBOX, connection

#: Small pages, so the standard sync pages through `next.href` several times.
CONFIG = connection(SANDBOX, page_size=7)


@pytest.fixture(scope="module", autouse=True)
def fresh_sandbox() -> None:
    """Seed data, default settings, no faults, whatever the tests before did.

    Module-scoped: the suite syncs once, in its class-scoped `runner` fixture.
    """
    SANDBOX.restore()


TestTapAdobeCampaign = get_tap_test_class(
    tap_class=TapAdobeCampaign,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=PROFILES),
)
