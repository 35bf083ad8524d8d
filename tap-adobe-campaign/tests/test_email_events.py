"""email_events against the Campaign sandbox's Adobe I/O Events journal."""

from __future__ import annotations

import datetime
import json
import logging
import time
import typing as t
from collections import Counter

import pytest
from campaign_client.client import AccessDeniedError
from tap_adobe_campaign.tap import TapAdobeCampaign

from .conftest import connection, gateway_requests

if t.TYPE_CHECKING:
    from crm_sandbox.campaign.inprocess import RunningCampaign

DAY = 86_400
RATES = {
    "hard_bounce_rate": 0.1,
    "soft_bounce_rate": 0.1,
    "open_rate": 0.6,
    "click_rate": 0.5,
    "unsubscribe_rate": 0.3,
    "mirror_page_rate": 0.3,
    "urls": ["https://shop.example/a", "https://shop.example/b"],
}


def events_only(config: dict) -> dict:
    """A catalog selecting the email_events stream alone."""
    catalog = TapAdobeCampaign(config=config).catalog_dict
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if not entry["breadcrumb"]:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "email_events"
    return catalog


def sync(campaign: RunningCampaign, capsys, state: dict | None = None, **config):
    """Run email_events; return (records, states)."""
    settings = connection(campaign, **config)
    capsys.readouterr()
    TapAdobeCampaign(config=settings, state=state, catalog=events_only(settings)).sync_all()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return records, states


def journal_reads(campaign: RunningCampaign) -> list[dict]:
    return gateway_requests(campaign, "events")


def kinds(records: list[dict]) -> Counter[str]:
    return Counter(r["event_type"] for r in records)


def test_a_send_becomes_one_record_per_email_event(campaign, capsys, caplog) -> None:
    campaign.admin.shift_clock(-campaign.admin.clock()["offset"])  # sandbox time = real time
    sent = campaign.admin.simulate_send("DM190", profiles=40, seed=3, **RATES)
    counts = sent["counts"]
    before = time.time()
    with caplog.at_level(logging.INFO):
        records, states = sync(campaign, capsys, events_page_limit=7)
    after = time.time()
    # the summary's lag: the age of the oldest event read, when the read started
    oldest = min(datetime.datetime.fromisoformat(r["event_time"]).timestamp() for r in records)
    (summary,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Summary")]
    lag = int(summary.rsplit("lag_seconds ", 1)[1])
    assert before - oldest - 1 <= lag <= after - oldest + 1, summary
    assert kinds(records) == {
        "send": counts["sent"],
        "bounce": counts["hard_bounce"],  # soft bounces are left out by default
        "open": counts["open"],
        "click": counts["click"],
    }
    assert len({r["event_id"] for r in records}) == len(records)
    bounce = next(r for r in records if r["event_type"] == "bounce")
    assert bounce["bounce_type"] == "hard"
    assert bounce["bounce_reason"].endswith(")")  # "User unknown (1)"
    click = next(r for r in records if r["event_type"] == "click")
    assert click["url"] in RATES["urls"]
    assert all(r["delivery_name"] == "DM190" and r["profile_external_id"] for r in records)
    assert all(r["event_time"].endswith("+00:00") for r in records)
    # one STATE per journal page: ceil(events / 7) pages, then the 204
    pages = len(journal_reads(campaign)) - 1
    assert pages == -(-sent["journal_events"] // 7)
    bookmarks = [s["bookmarks"]["email_events"].get("replication_key_value") for s in states]
    assert len({b for b in bookmarks if b}) == pages
    skipped = counts["soft_bounce"] + counts["optout"] + counts["mirror_page"]
    assert skipped > 0
    assert f"Skipped {skipped} (" in caplog.text  # one INFO line with the reasons


def test_soft_bounces_and_event_types_settings(campaign, capsys) -> None:
    counts = campaign.admin.simulate_send("DM191", profiles=40, seed=5, **RATES)["counts"]
    records, _ = sync(campaign, capsys, include_soft_bounces=True, event_types=["bounce"])
    assert kinds(records) == {"bounce": counts["hard_bounce"] + counts["soft_bounce"]}
    assert {r["bounce_type"] for r in records} == {"hard", "soft"}


def test_a_rerun_reads_nothing_and_a_late_bounce_arrives_next_time(campaign, capsys) -> None:
    campaign.admin.simulate_send("DM192", profiles=10, seed=7)
    first, states = sync(campaign, capsys)
    assert kinds(first) == {"send": 10}
    campaign.admin.clear_requests()
    again, states = sync(campaign, capsys, state=states[-1])
    assert again == []
    assert len(journal_reads(campaign)) == 1  # one 204
    bounced = campaign.admin.late_bounces("DM192", 2)["bounced"]
    late, _ = sync(campaign, capsys, state=states[-1])
    expected = {f"bounce:{b['broadLogId']}" for b in bounced}
    assert {r["event_id"] for r in late} == expected
    sends = {r["event_id"] for r in first}
    assert {e.replace("bounce:", "send:") for e in expected} <= sends  # same delivery logs


def test_an_expired_position_is_reported_and_reading_resumes_at_the_oldest_event(
    campaign, capsys, caplog
) -> None:
    campaign.admin.simulate_send("DM193", profiles=5, seed=9)
    _, states = sync(campaign, capsys)
    expired = states[-1]["bookmarks"]["email_events"]["replication_key_value"]
    campaign.admin.simulate_send("DM-LOST", profiles=5, seed=9)  # never read: the gap
    campaign.admin.shift_clock(8 * DAY)  # past the 7-day retention
    campaign.admin.simulate_send("DM194", profiles=5, seed=9)
    with caplog.at_level(logging.WARNING):
        records, states = sync(campaign, capsys, state=states[-1])
    assert {r["delivery_name"] for r in records} == {"DM194"}
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any(f"Journal position {expired} has expired" in w for w in warnings)
    assert any("Gap in email_events" in w for w in warnings)
    assert states[-1]["bookmarks"]["email_events"]["replication_key_value"] != expired


def test_throttling_is_retried_after_retry_after(campaign, capsys) -> None:
    campaign.admin.simulate_send("DM195", profiles=3, seed=1)
    campaign.admin.inject_journal_fault("429", retry_after=1)
    records, _ = sync(campaign, capsys)
    assert kinds(records) == {"send": 3}
    assert [r["status"] for r in journal_reads(campaign)][:2] == [429, 200]


def test_another_ims_org_is_refused(campaign, capsys) -> None:
    with pytest.raises(AccessDeniedError, match="403"):
        sync(campaign, capsys, ims_org_id="OTHER0000000000000000@AdobeOrg")
