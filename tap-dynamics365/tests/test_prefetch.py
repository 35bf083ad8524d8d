"""Page prefetch: page N+1 is requested while page N is written, and nothing else changes.

A transport adapter in front of the sandbox (`PageSpy`) notes when each contacts page request
starts, and a message writer (`Recorder`) when each record and STATE is written, in one event
list. The proofs use events, never durations: the writer blocks on the first record until the
next page's request has started, which can only happen when that request runs on another thread.
"""

from __future__ import annotations

import json
import logging
import threading
import typing as t

import pytest
from singer_sdk.exceptions import FatalAPIError

from .helpers import BAD_REQUEST, Event, PageSpy, Recorder, answer, run_tap

if t.TYPE_CHECKING:
    import requests

PAGE = 10
SERVICE_UNAVAILABLE = json.dumps(
    {"error": {"code": "0x80040216", "message": "The service is temporarily unavailable."}}
).encode()


def test_the_next_page_is_requested_while_a_page_is_written(admin) -> None:
    events: list[Event] = []
    spy = PageSpy(events)
    overlapped: list[bool] = []

    def first_record(number: int) -> None:
        if number == 1:  # hold page 1's writing until page 2's request has started
            overlapped.append(spy.started[2].wait(timeout=30))

    recorder = Recorder(events, first_record)
    run_tap(["contact"], page_size=PAGE, prepare=spy.mount_on, collector=recorder)

    assert overlapped == [True]
    assert events.index(("request", 2)) < events.index(("record", PAGE))
    assert spy.max_in_flight == 1
    # At most one page ahead: page k+2 is requested only once page k is written and checkpointed.
    for k in range(1, spy.requests - 1):
        assert events.index(("request", k + 2)) > events.index(("state", k))
        assert events.index(("state", k)) > events.index(("record", k * PAGE))


def test_records_and_states_keep_the_page_order(admin) -> None:
    """Each page's rows in the order served, then a STATE with the link after that page."""
    spy = PageSpy([])
    output = run_tap(["contact"], page_size=PAGE, prepare=spy.mount_on)

    expected: list[tuple[str, t.Any]] = []
    for body in spy.bodies:
        expected += [("record", row["contactid"]) for row in body["value"]]
        link = body.get("@odata.nextLink") or body["@odata.deltaLink"]
        expected.append(("state", link))
    written: list[tuple[str, t.Any]] = []
    for message in output.messages:
        if message["type"] == "ACTIVATE_VERSION":
            break
        if message["type"] == "RECORD":
            written.append(("record", message["record"]["contactid"]))
        elif message["type"] == "STATE":
            bookmark = message["value"]["bookmarks"]["contact"]
            written.append(("state", bookmark.get("next_link") or bookmark["delta_link"]))
    assert len(spy.bodies) > 2
    assert written == expected


def test_an_error_on_a_prefetched_page_is_raised_after_the_pages_before(admin) -> None:
    spy = PageSpy([])
    spy.answers[3] = lambda request: answer(request, 400, BAD_REQUEST)
    recorder = Recorder([])
    with pytest.raises(FatalAPIError, match="400 0x80040203"):
        run_tap(["contact"], page_size=PAGE, prepare=spy.mount_on, collector=recorder)

    assert recorder.written == 2 * PAGE  # pages 1 and 2 written in full, then the error
    third = spy.bodies[1]["@odata.nextLink"]
    assert recorder.states[-1]["bookmarks"]["contact"]["next_link"] == third


def test_a_prefetched_page_is_retried_after_retry_after(admin, caplog) -> None:
    total = admin.state()["counts"]["contacts"]
    admin.inject_429(1, every=3, retry_after=1, path="contacts")  # the third page request
    with caplog.at_level(logging.WARNING):
        output = run_tap(["contact"], page_size=PAGE)
    ids = [r["contactid"] for r in output.records("contact")]
    assert len(ids) == len(set(ids)) == total
    statuses = [r["status"] for r in admin.requests() if r["path"].endswith("/contacts")]
    assert statuses[:4] == [200, 200, 429, 200]
    assert any("Retry-After: 1" in r.getMessage() for r in caplog.records)


def test_a_token_revoked_mid_read_is_renewed_for_the_prefetched_page(admin) -> None:
    total = admin.state()["counts"]["contacts"]
    responses = 0

    def revoke_after_second_page(response: requests.Response, *args: t.Any, **kw: t.Any) -> None:
        nonlocal responses
        if response.request.path_url.split("?")[0].endswith("/contacts"):
            responses += 1
            if responses == 2:
                admin.revoke_tokens()

    output = run_tap(
        ["contact"],
        page_size=PAGE,
        prepare=lambda tap: tap.client.session.hooks["response"].append(revoke_after_second_page),
    )
    assert len(output.records("contact")) == total
    statuses = [r["status"] for r in admin.requests() if r["path"].endswith("/contacts")]
    assert statuses[:4] == [200, 200, 401, 200]
    tokens = [r for r in admin.requests() if r["app"] == "entra" and r["method"] == "POST"]
    assert len(tokens) == 2


def test_a_read_stopped_part_way_makes_no_further_attempt_for_its_prefetched_page(admin) -> None:
    """The run stops after page 1 while page 2 waits out a 503: page 2 is not requested again."""
    spy = PageSpy([])

    def first_record(number: int) -> None:
        if number == 1:  # page 2's request is on its way before the run stops
            assert spy.started[2].wait(timeout=30)

    collector = Recorder([], first_record, stop_after_states=1)

    def unavailable_once_stopped(request: requests.PreparedRequest) -> requests.Response:
        while not collector.states:  # page 1 written and checkpointed: the run stops
            threading.Event().wait(0.01)
        response = answer(request, 503, SERVICE_UNAVAILABLE)
        response.headers["Retry-After"] = "1"
        return response

    spy.answers[2] = unavailable_once_stopped
    run_tap(["contact"], page_size=PAGE, prepare=spy.mount_on, collector=collector)

    assert len(collector.records("contact")) == PAGE
    assert spy.requests == 2  # the retry after the wait found the read gone
