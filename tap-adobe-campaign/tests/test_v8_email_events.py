"""email_events on backend v8 (delivery and tracking logs over SOAP) against the sandbox."""

from __future__ import annotations

import logging
import typing as t
from collections import Counter

from .conftest import connection
from .v8_helpers import run, soap_actions, v8_config

if t.TYPE_CHECKING:
    from crm_sandbox.campaign.inprocess import RunningCampaign

RATES = {
    "hard_bounce_rate": 0.1,
    "soft_bounce_rate": 0.1,
    "open_rate": 0.6,
    "click_rate": 0.5,
    "unsubscribe_rate": 0.3,
    "mirror_page_rate": 0.3,
    "urls": ["https://shop.example/a", "https://shop.example/b"],
}


def kinds(records: list[dict]) -> Counter[str]:
    return Counter(r["event_type"] for r in records)


def without_position(records: list[dict]) -> dict[str, dict]:
    return {r["event_id"]: {k: v for k, v in r.items() if k != "journal_position"} for r in records}


def events(campaign: RunningCampaign, capsys, state: dict | None = None, **config: t.Any):
    return run(capsys, v8_config(campaign, **config), "email_events", state=state)


def test_the_records_and_event_ids_are_the_journal_streams(campaign, capsys, caplog) -> None:
    sent = campaign.admin.simulate_send("DM300", profiles=40, seed=3, **RATES)
    counts = sent["counts"]
    journal = run(capsys, connection(campaign), "email_events").records["email_events"]
    with caplog.at_level(logging.INFO):
        v8 = events(campaign, capsys).records["email_events"]
    assert kinds(v8) == {
        "send": counts["sent"],
        "bounce": counts["hard_bounce"],  # soft bounces are left out by default
        "open": counts["open"],
        "click": counts["click"],
    }
    assert without_position(v8) == without_position(journal)
    assert all(r["journal_position"].startswith("v8:b=") for r in v8)
    skipped = counts["soft_bounce"] + counts["optout"] + counts["mirror_page"]
    assert f"Skipped {skipped} (" in caplog.text
    # the same ids on every read: the loader's upserts stay idempotent
    assert [r["event_id"] for r in events(campaign, capsys).records["email_events"]] == [
        r["event_id"] for r in v8
    ]


def test_soft_bounces_and_event_types_settings(campaign, capsys) -> None:
    counts = campaign.admin.simulate_send("DM301", profiles=40, seed=5, **RATES)["counts"]
    records = events(campaign, capsys, include_soft_bounces=True, event_types=["bounce"])
    bounces = records.records["email_events"]
    assert kinds(bounces) == {"bounce": counts["hard_bounce"] + counts["soft_bounce"]}
    assert {r["bounce_type"] for r in bounces} == {"hard", "soft"}


def test_a_page_per_state_and_a_resume_from_any_page(campaign, capsys) -> None:
    campaign.admin.simulate_send("DM302", profiles=25, seed=7, open_rate=1, click_rate=0.4)
    full = events(campaign, capsys)
    records = full.records["email_events"]
    positions = list(dict.fromkeys(r["journal_position"] for r in records))
    bookmarks = [s["bookmarks"]["email_events"]["replication_key_value"] for s in full.states]
    assert positions == list(dict.fromkeys(bookmarks))  # each page's records, then its STATE
    assert len(positions) == 3 + 4  # 25 delivery logs, 25 + ~10 tracking logs, 10 a page
    for n, position in enumerate(positions):
        resumed = events(campaign, capsys, state=full.states[bookmarks.index(position)])
        after = [r for r in records if positions.index(r["journal_position"]) > n]
        assert without_position(resumed.records["email_events"]) == without_position(after)


def test_a_rerun_reads_nothing_then_late_bounces_and_new_tracking_arrive(campaign, capsys) -> None:
    sent = campaign.admin.simulate_send("DM303", profiles=10, seed=7)
    first = events(campaign, capsys)
    assert kinds(first.records["email_events"]) == {"send": 10}
    campaign.admin.clear_requests()
    again = events(campaign, capsys, state=first.states[-1])
    assert again.records == {}
    assert soap_actions(campaign).count("xtk:queryDef#ExecuteQuery") == 2  # one per log

    bounced = campaign.admin.late_bounces("DM303", 2)["bounced"]
    external_id = next(
        e for e, n in sent["by_external_id"].items() if n["sent"] and e not in str(bounced)
    )
    opened = campaign.admin.track("DM303", external_id, "open")
    late = events(campaign, capsys, state=again.states[-1]).records["email_events"]
    assert sorted(r["event_id"] for r in late) == sorted(
        [f"bounce:{b['broadLogId']}" for b in bounced] + [f"open:{opened['id']}"]
    )
    sends = {r["event_id"] for r in first.records["email_events"]}
    assert {f"send:{b['broadLogId']}" for b in bounced} <= sends  # the same delivery logs
    assert all(r["bounce_type"] == "hard" for r in late if r["event_type"] == "bounce")


def test_a_bookmark_of_the_journal_is_not_taken_for_a_log_position(
    campaign, capsys, caplog
) -> None:
    campaign.admin.simulate_send("DM304", profiles=5, seed=9)
    journal = run(capsys, connection(campaign), "email_events")
    with caplog.at_level(logging.WARNING):
        records = events(campaign, capsys, state=journal.states[-1]).records["email_events"]
    assert kinds(records) == {"send": 5}
    assert "is no v8 log position" in caplog.text
