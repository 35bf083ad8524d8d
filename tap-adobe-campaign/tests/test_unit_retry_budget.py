"""The retry budget is time (`max_retry_seconds`), not a count: a fake clock, no real waits."""

from __future__ import annotations

import logging
import time

import pytest
from campaign_client.client import CampaignClient, RetryPolicy
from campaign_client.sftp import SFTPSettings
from sync_support.retry import RetryBudgetExceededError
from tap_adobe_campaign.tap import TapAdobeCampaign

from .fakes import FakeAdapter
from .journal_fakes import CONFIG, install
from .sftp_fakes import SFTP_CONFIG

PROFILES = "/org/campaign/profileAndServicesExt/profile"
SETTINGS = {k: v for k, v in CONFIG.items() if k != "max_retries"}
THROTTLED = (429, {"Retry-After": "30"}, {"error_code": "429050", "message": "Too many requests"})


class FakeClock:
    """`time.monotonic` that only `time.sleep` moves forward."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(time, "monotonic", fake.monotonic)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    return fake


def _client(adapter: FakeAdapter, **settings) -> CampaignClient:
    client = CampaignClient.from_config({**SETTINGS, **settings})
    install(adapter, client)
    return client


def _sent(adapter: FakeAdapter) -> int:
    return sum(1 for r in adapter.sent if PROFILES in (r.url or ""))


def test_a_storm_of_twenty_429s_is_survived_and_each_wait_logged(clock, caplog) -> None:
    adapter = FakeAdapter()  # 10 minutes of waits, 20 retries
    adapter.route(PROFILES, *[THROTTLED] * 20, (200, {}, {"content": [{"PKey": "@a"}]}))
    with caplog.at_level(logging.WARNING):
        assert _client(adapter).get_json(PROFILES)["content"] == [{"PKey": "@a"}]
    assert _sent(adapter) == 21
    assert clock.sleeps == [30] * 20
    waits = [r.getMessage() for r in caplog.records if "Retrying in" in r.getMessage()]
    assert len(waits) == 20
    assert "Retrying in 30.0 s (Retry-After: 30; attempt 20 failed; 570 of" in waits[-1]
    assert "429 429050: Too many requests" in waits[-1]


def test_a_create_throttled_past_the_budget_fails_with_a_clear_error(clock) -> None:
    adapter = FakeAdapter()
    adapter.route(PROFILES, THROTTLED)
    with pytest.raises(RetryBudgetExceededError) as info:
        _client(adapter, max_retry_seconds=600).post(PROFILES, {"email": "a@example.org"})
    assert sum(clock.sleeps) == 600  # every Retry-After honoured up to the budget, none cut
    assert _sent(adapter) == 21
    assert "gave up after 600 s of retries" in str(info.value)
    assert "max_retry_seconds=600" in str(info.value)


def test_a_retry_after_past_the_budget_fails_at_once_without_waiting(clock) -> None:
    adapter = FakeAdapter()
    adapter.route(PROFILES, (429, {"Retry-After": "700"}, {"message": "slow down"}))
    with pytest.raises(RetryBudgetExceededError, match="waiting 700 s more"):
        _client(adapter, max_retry_seconds=600).get_json(PROFILES)
    assert clock.sleeps == []
    assert _sent(adapter) == 1


def test_the_budget_is_a_setting_of_the_client_and_the_sftp_transport() -> None:
    tap = TapAdobeCampaign(config=SETTINGS, parse_env_config=False, setup_mapper=False)
    assert tap.config["max_retry_seconds"] == 900
    assert "max_retries" not in tap.config
    assert RetryPolicy().max_tries is None
    sftp_settings = {k: v for k, v in SFTP_CONFIG.items() if k != "max_retries"}
    sftp = SFTPSettings.from_config({**sftp_settings, "max_retry_seconds": 60})
    assert (sftp.max_retry_seconds, sftp.max_retries) == (60, None)
