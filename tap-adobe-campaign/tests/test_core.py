"""The SDK's standard tap tests, against the Campaign sandbox."""

from __future__ import annotations

import pytest
from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_adobe_campaign.tap import TapAdobeCampaign

from .conftest import PROFILES, SANDBOX, SFTP_KEYS, connection

#: Small pages, so the standard sync pages through `next.href` and `Link` several times;
#: the sandbox's SFTP storage, so opt_outs reads its export files.
CONFIG = connection(
    SANDBOX,
    page_size=7,
    events_page_limit=5,
    opt_out_sync="bidirectional",
    **{key: SANDBOX.info[key] for key in SFTP_KEYS},
)
URL = "https://shop.example/"


@pytest.fixture(scope="module", autouse=True)
def fresh_sandbox() -> None:
    """Seed data, default settings, no faults, whatever the tests before did, plus one send.

    The send puts delivery/tracking log events in the journal, so email_events has records;
    a full opt-out export and an increment give opt_outs two files.
    Module-scoped: the suite syncs once, in its class-scoped `runner` fixture.
    """
    SANDBOX.restore()
    SANDBOX.admin.simulate_send(
        "DM190", profiles=20, hard_bounce_rate=0.1, open_rate=0.5, click_rate=0.5, urls=[URL]
    )
    assert SANDBOX.admin.run_opt_out_export(full=True)["rows"]
    (profile, *_) = SANDBOX.admin.find_rows("profile")
    SANDBOX.admin.update_row("profile", profile["PKey"], {"blackListFax": True})
    assert SANDBOX.admin.run_opt_out_export()["rows"] == 1


TestTapAdobeCampaign = get_tap_test_class(
    tap_class=TapAdobeCampaign,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=PROFILES),
)
