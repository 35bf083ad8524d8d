"""Incremental behaviour against the sandbox: resume, deletes, delta expiry, same-second rows."""

from __future__ import annotations

import logging
from urllib.parse import unquote

from .conftest import SANDBOX
from .helpers import bookmark, run_tap


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
