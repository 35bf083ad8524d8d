"""StreamProgress: a running total at most every `every` seconds, and one summary line."""

from __future__ import annotations

import datetime
import logging

import pytest
import requests
from sync_support.progress import CallCounts, StreamProgress, field_time

UTC = datetime.UTC


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_long_read_logs_running_totals_and_a_summary(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    calls = CallCounts(requests=7, retries=1)  # earlier streams' calls are not this one's
    progress = StreamProgress("contact", logging.getLogger("t"), calls, every=10, clock=clock)

    def records():
        for n in range(30):
            clock.now += 1  # one record a second
            if n % 10 == 9:
                progress.page()
                calls.requests += 1
            if n == 12:
                calls.retries += 1
            yield {"id": n, "_sdc_deleted_at": "2026-01-01T00:00:00Z" if n < 3 else None}

    with caplog.at_level(logging.INFO, logger="t"):
        assert len(list(progress.track(records()))) == 30

    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "Progress contact: records 10, deletes 3, pages 1, requests 1, retries 0, seconds 10.0",
        "Progress contact: records 20, deletes 3, pages 2, requests 2, retries 1, seconds 20.0",
        "Progress contact: records 30, deletes 3, pages 3, requests 3, retries 1, seconds 30.0",
        "Summary contact: records 30, deletes 3, pages 3, requests 3, retries 1, seconds 30.0",
    ]


def test_a_short_read_logs_only_its_summary(caplog: pytest.LogCaptureFixture) -> None:
    progress = StreamProgress("account", logging.getLogger("t"), CallCounts(), clock=Clock())
    with caplog.at_level(logging.INFO, logger="t"):
        assert list(progress.track(iter([{"id": 1}]))) == [{"id": 1}]
    assert [r.getMessage() for r in caplog.records] == [
        "Summary account: records 1, deletes 0, pages 0, requests 0, retries 0, seconds 0.0"
    ]


def test_call_counts_count_every_response_of_a_session() -> None:
    session = requests.Session()
    calls = CallCounts()
    calls.count_responses(session)
    for hook in session.hooks["response"]:
        hook(requests.Response())
    assert calls.requests == 1


def test_the_summary_tells_the_age_of_the_oldest_change_read(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = datetime.datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    progress = StreamProgress(
        "contact",
        logging.getLogger("t"),
        CallCounts(),
        changed_at=field_time("modifiedon"),
        clock=Clock(),
        wall_clock=lambda: started,
    )
    records = [
        {"modifiedon": "2026-12-07T11:30:00Z"},
        {"modifiedon": "2026-12-07T10:00:00+00:00"},  # the oldest: 2 hours before the start
        {"modifiedon": None, "_sdc_deleted_at": "2026-12-07T11:59:00Z"},  # no change time
        {"modifiedon": "2026-12-07T11:00:00"},  # naive: UTC
    ]
    with caplog.at_level(logging.INFO, logger="t"):
        list(progress.track(iter(records)))
    assert progress.lag_seconds == 7200
    assert caplog.records[-1].getMessage().endswith(", lag_seconds 7200")


def test_nothing_changed_is_no_lag() -> None:
    progress = StreamProgress(
        "contact", logging.getLogger("t"), CallCounts(), changed_at=field_time("modifiedon")
    )
    assert list(progress.track(iter([]))) == []
    assert progress.lag_seconds == 0.0
    assert progress.counts(0.0).endswith("lag_seconds 0")
