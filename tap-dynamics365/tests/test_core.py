"""The SDK's standard tap tests, against the sandbox."""

from __future__ import annotations

from singer_sdk.testing import SuiteConfig, get_tap_test_class
from tap_dynamics365.tap import TapDynamics365

from .conftest import CONFIG

TestTapDynamics365 = get_tap_test_class(
    tap_class=TapDynamics365,
    config=CONFIG,
    suite_config=SuiteConfig(max_records_limit=150),
)
