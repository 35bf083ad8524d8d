"""Incremental behaviour against the sandbox: resume, deletes, delta expiry, same-second rows."""

from __future__ import annotations

import datetime
import json
import logging
import time
from urllib.parse import unquote

import pytest
import requests
from requests.adapters import HTTPAdapter

from .conftest import SANDBOX
from .helpers import bookmark, run_tap

EXPIRED = json.dumps(
    {
        "error": {
            "code": "0x80044352",
            "message": "Version stamp associated with the client has expired. "
            "Please perform a full sync.",
        }
    }
).encode()


def _ids(records: list[dict], key: str) -> list[str]:
    return [r[key] for r in records]


def test_initial_snapshot_resumes_from_the_stored_next_link(admin) -> None:
    total = admin.state()["counts"]["contacts"]
    # Killed right after the checkpoint of the first page.
    first = run_tap(["contact"], page_size=25, stop_after_states=1)
    interrupted_state = first.states[-1]
    contact_state = interrupted_state["bookmarks"]["contact"]
    assert "next_link" in contact_state
    assert "delta_link" not in contact_state
    assert len(first.records("contact")) == 25

    second = run_tap(["contact"], page_size=25, state=interrupted_state)
    ids = _ids(first.records("contact") + second.records("contact"), "contactid")
    assert len(ids) == len(set(ids)) == total
    final = bookmark(second, "contact")
    assert "next_link" not in final
    assert final["delta_link"]
    assert "progress_markers" not in final


def test_delta_run_emits_changes_and_deletes(admin) -> None:
    state = run_tap(["contact"]).states[-1]
    updated = admin.touch_rows("contacts", 2)
    victim = admin.create_row("contacts", {"lastname": "Temporary"})["contactid"]
    admin.delete_row("contacts", victim)
    deleted = admin.delete_rows("contacts", 1)

    delta = run_tap(["contact"], state=state)
    records = delta.records("contact")
    changed = [r for r in records if "_sdc_deleted_at" not in r]
    removed = [r for r in records if "_sdc_deleted_at" in r]
    assert sorted(_ids(changed, "contactid")) == sorted(set(updated) - set(deleted))
    assert sorted(_ids(removed, "contactid")) == sorted([victim, *deleted])
    assert all(set(r) == {"contactid", "_sdc_deleted_at"} for r in removed)
    assert bookmark(delta, "contact")["delta_link"] != state["bookmarks"]["contact"]["delta_link"]


def test_polling_never_loses_or_duplicates_same_second_rows(admin) -> None:
    ids = admin.touch_rows("new_categories", 12)  # one transaction: one modifiedon second
    first = run_tap(["new_category"], page_size=5, stop_after_states=1)
    rows = first.records("new_category")
    assert len({r["modifiedon"] for r in rows}) == 1
    assert len(rows) == 5

    second = run_tap(["new_category"], state=first.states[-1], page_size=5)
    emitted = _ids(rows + second.records("new_category"), "new_categoryid")
    assert sorted(emitted) == sorted(ids)

    admin.update_row("new_categories", ids[0], {"new_colour": "#123456"})
    third = run_tap(["new_category"], state=second.states[-1])
    assert _ids(third.records("new_category"), "new_categoryid") == [ids[0]]
    assert run_tap(["new_category"], state=third.states[-1]).records("new_category") == []


def test_expired_delta_token_triggers_a_full_resync_with_a_warning(admin, caplog) -> None:
    state = run_tap(["account"]).states[-1]
    total = admin.state()["counts"]["accounts"]
    retention = admin.config()["expire_change_tracking_in_days"]
    admin.shift_clock((retention + 1) * 86400)
    with caplog.at_level(logging.WARNING):
        resync = run_tap(["account"], state=state)
    assert any("expired" in r.message and r.levelno == logging.WARNING for r in caplog.records)
    assert len(resync.records("account")) == total
    assert bookmark(resync, "account")["delta_link"] != state["bookmarks"]["account"]["delta_link"]


def test_start_date_filters_tracked_and_polled_tables(admin) -> None:
    start = "2100-01-01T00:00:00Z"
    collector = run_tap(["contact", "new_category"], start_date=start)
    assert collector.records("contact") == []
    assert collector.records("new_category") == []
    polled = [r for r in SANDBOX.admin.requests() if "new_categories" in r["path"]]
    assert any("modifiedon ge 2100-01-01T00:00:00Z" in unquote(r["query"]) for r in polled)


class _ExpiredLink(HTTPAdapter):
    """Answers the first request for a stored link as Dataverse does once its token expired.

    The sandbox checks a token's age only on the first request of a delta read: it accepts the
    `$skiptoken` nextLinks of tracked snapshots and of paged deltas at any clock (query.py /
    changes.read_delta never call `_since` for them). Only the first request for the link is
    refused: a fresh snapshot can page through the very same URL. Others go to the sandbox.
    """

    def __init__(self, link: str) -> None:
        super().__init__()
        self.link = unquote(link)
        self.hits = 0

    def send(self, request, **kwargs):
        if self.hits == 0 and unquote(request.url) == self.link:
            self.hits += 1
            response = requests.Response()
            response.status_code = 400
            response._content = EXPIRED
            response.headers["Content-Type"] = "application/json"
            response.url, response.request = request.url, request
            return response
        return super().send(request, **kwargs)


@pytest.mark.parametrize("stopped_in", ["initial snapshot", "paged delta"])
def test_expired_token_in_stored_next_link_triggers_a_full_resync(
    admin, caplog, stopped_in
) -> None:
    total = admin.state()["counts"]["contacts"]
    state: dict = {}
    if stopped_in == "paged delta":
        state = run_tap(["contact"]).states[-1]
        admin.touch_rows("contacts", 40)
    # Killed right after the checkpoint of the first page (a run given a state echoes it first):
    # the next run resumes from the stored next_link.
    first = run_tap(["contact"], state=state, page_size=25, stop_after_states=2 if state else 1)
    stopped = first.states[-1]
    next_link = stopped["bookmarks"]["contact"]["next_link"]
    assert ("delta_link" in stopped["bookmarks"]["contact"]) == (stopped_in == "paged delta")

    retention = admin.config()["expire_change_tracking_in_days"]
    admin.set_config(expire_change_tracking_in_days=1)
    try:
        admin.shift_clock(2 * 86400)
        expired = _ExpiredLink(next_link)
        admin.clear_requests()
        with caplog.at_level(logging.WARNING):
            resync = run_tap(
                ["contact"],
                state=stopped,
                page_size=25,
                prepare=lambda tap: tap.client.session.mount(SANDBOX.dataverse.url, expired),
            )
    finally:
        admin.set_config(expire_change_tracking_in_days=retention)

    assert expired.hits == 1  # the stored link was tried once, not retried or looped on
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert any("expired" in m and "next_link" in m and "'contact'" in m for m in warnings)
    # A new tracked snapshot from the start: nothing lost, each row once.
    ids = _ids(resync.records("contact"), "contactid")
    assert len(ids) == len(set(ids)) == total
    snapshot_reads = [
        r for r in admin.requests() if r["path"].endswith("/contacts") and r["status"] == 200
    ]
    assert "$skiptoken" not in unquote(snapshot_reads[0]["query"])
    assert "$deltatoken" not in unquote(snapshot_reads[0]["query"])
    final = bookmark(resync, "contact")
    assert "next_link" not in final
    assert final["delta_link"]
    if stopped_in == "paged delta":
        assert final["delta_link"] != stopped["bookmarks"]["contact"]["delta_link"]

    # The new delta link works: the next run gets just the new change.
    changed = admin.touch_rows("contacts", 1)
    after = run_tap(["contact"], state=resync.states[-1])
    assert _ids(after.records("contact"), "contactid") == changed


def test_each_stream_ends_with_a_summary_line(admin, caplog) -> None:
    """`Summary contact: records …, deletes …, pages …, requests …, retries …, seconds …`."""
    total = admin.state()["counts"]["contacts"]
    admin.clear_requests()
    with caplog.at_level(logging.INFO):
        run_tap(["contact"], page_size=25)
    summaries = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Summary")]
    assert len(summaries) == 1
    pages = -(-total // 25)
    assert summaries[0].startswith(
        f"Summary contact: records {total}, deletes 0, pages {pages}, requests {pages}, retries 0,"
    )


def test_an_incremental_read_tells_its_lag_and_a_full_read_none(admin, caplog) -> None:
    """`lag_seconds`: the age of the oldest change the read brought, when it started."""
    with caplog.at_level(logging.INFO):
        state = run_tap(["contact"]).states[-1]
    full = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Summary")]
    assert "lag_seconds" not in full[0]
    back = admin.clock()["offset"] + 3600  # sandbox time one hour behind the real time
    admin.shift_clock(-back)
    try:
        admin.touch_rows("contacts", 2)
    finally:
        admin.shift_clock(back)
    caplog.clear()
    before = time.time()
    with caplog.at_level(logging.INFO):
        delta = run_tap(["contact"], state=state)
    after = time.time()
    oldest = min(
        datetime.datetime.fromisoformat(r["modifiedon"]).timestamp()
        for r in delta.records("contact")
    )
    (summary,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Summary")]
    lag = int(summary.rsplit("lag_seconds ", 1)[1])
    assert before - oldest - 1 <= lag <= after - oldest + 1, summary
    assert lag >= 3590, summary


def test_streams_are_read_in_the_order_tables_lists_them(admin) -> None:
    """option_sets first, then the tables as listed (the SDK would sort them by name)."""
    run = run_tap(["option_sets", "contact", "account"], tables=["contact", "account"])
    order = list(dict.fromkeys(m["stream"] for m in run.messages if m["type"] == "RECORD"))
    assert order == ["option_sets", "contact", "account"]
    run = run_tap(["contact", "account"], tables=["account", "contact"])
    order = list(dict.fromkeys(m["stream"] for m in run.messages if m["type"] == "RECORD"))
    assert order == ["account", "contact"]
