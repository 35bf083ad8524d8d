"""The retry budget is time (`max_retry_seconds`), not a count: a fake clock, no real waits."""

from __future__ import annotations

import logging
import time

import pytest
import requests
from dataverse_client.client import DataverseClient, RetryPolicy
from requests.adapters import BaseAdapter
from sync_support.retry import RetryBudgetExceededError
from tap_dynamics365.tap import TapDynamics365

from .test_unit_config import BASE


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


class Throttling(BaseAdapter):
    """Answers 429 with `Retry-After` `storm` times, then 200."""

    def __init__(self, storm: int, retry_after: int) -> None:
        super().__init__()
        self.storm, self.retry_after, self.sent = storm, retry_after, 0

    def send(self, request: requests.PreparedRequest, **kwargs) -> requests.Response:
        self.sent += 1
        response = requests.Response()
        response.url, response.request, response.reason = request.url or "", request, "fake"
        if self.sent <= self.storm:
            response.status_code = 429
            response.headers["Retry-After"] = str(self.retry_after)
            response._content = b'{"error":{"code":"0x80072322","message":"Too many requests"}}'
        else:
            response.status_code = 200
            response._content = b'{"UserId": "u1"}'
        return response

    def close(self) -> None:
        pass


@pytest.fixture
def clock(monkeypatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(time, "monotonic", fake.monotonic)
    monkeypatch.setattr(time, "sleep", fake.sleep)
    return fake


def _client(adapter: Throttling, **settings) -> DataverseClient:
    client = DataverseClient.from_config({**BASE, **settings})
    client.session.auth = None  # no Entra token: only the retries are under test
    client.session.mount("https://", adapter)
    return client


def test_a_storm_of_twenty_429s_is_survived_and_each_wait_logged(clock, caplog) -> None:
    adapter = Throttling(storm=20, retry_after=30)  # 10 minutes of waits, 20 retries
    with caplog.at_level(logging.WARNING):
        assert _client(adapter).get_json("WhoAmI") == {"UserId": "u1"}
    assert adapter.sent == 21
    assert clock.sleeps == [30] * 20
    waits = [r.getMessage() for r in caplog.records if "Retrying in" in r.getMessage()]
    assert len(waits) == 20
    assert "Retrying in 30.0 s (Retry-After: 30; attempt 20 failed; 570 of" in waits[-1]
    assert "429 0x80072322: Too many requests" in waits[-1]


def test_a_storm_longer_than_the_budget_fails_with_a_clear_error(clock) -> None:
    adapter = Throttling(storm=100, retry_after=30)
    with pytest.raises(RetryBudgetExceededError) as info:
        _client(adapter, max_retry_seconds=600).get_json("WhoAmI")
    assert sum(clock.sleeps) == 600  # every Retry-After honoured up to the budget, none cut
    assert adapter.sent == 21
    message = str(info.value)
    assert "gave up after 600 s of retries" in message
    assert "max_retry_seconds=600" in message
    assert "Retry-After: 30" in message


def test_a_retry_after_past_the_budget_fails_at_once_without_waiting(clock) -> None:
    adapter = Throttling(storm=1, retry_after=700)
    with pytest.raises(RetryBudgetExceededError, match="waiting 700 s more"):
        _client(adapter, max_retry_seconds=600).get_json("WhoAmI")
    assert clock.sleeps == []
    assert adapter.sent == 1


def test_the_budget_is_a_setting_and_max_retries_an_optional_cap() -> None:
    tap = TapDynamics365(config=BASE, parse_env_config=False, setup_mapper=False)
    assert tap.config["max_retry_seconds"] == 900
    assert "max_retries" not in tap.config
    assert RetryPolicy().max_tries is None
    assert RetryPolicy(max_retries=3).max_tries == 4
