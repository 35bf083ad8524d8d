"""Unknown settings at start-up: a warning naming each, or an error with strict_settings."""

from __future__ import annotations

import pytest
from sync_support.settings_check import ConfigError
from tap_adobe_campaign.tap import TapAdobeCampaign

from .journal_fakes import CONFIG

pytestmark = pytest.mark.usefixtures("no_profile_metadata")


def test_unknown_settings_are_warned_about_with_a_hint(caplog) -> None:
    TapAdobeCampaign(
        config={**CONFIG, "page_sise": 100, "client_secrt": "x"}, parse_env_config=False
    )
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert "Unknown setting 'client_secrt' (did you mean 'client_secret'?) is ignored" in warnings
    assert "Unknown setting 'page_sise' (did you mean 'page_size'?) is ignored" in warnings


def test_strict_settings_refuses_unknown_settings() -> None:
    with pytest.raises(ConfigError) as info:
        TapAdobeCampaign(
            config={**CONFIG, "strict_settings": True, "max_concurency": 4},
            parse_env_config=False,
        )
    assert info.value.errors == ["unknown setting 'max_concurency' (strict_settings is on)"]
    assert info.value.line() == (
        "tap-adobe-campaign: config error: unknown setting 'max_concurency' (strict_settings is on)"
    )


def test_a_missing_ca_bundle_is_refused(tmp_path) -> None:
    missing = tmp_path / "ca.pem"
    with pytest.raises(ConfigError) as info:
        TapAdobeCampaign(config={**CONFIG, "ca_bundle": str(missing)}, parse_env_config=False)
    assert info.value.errors == [f"ca_bundle must be a CA bundle file, got '{missing}'"]
