"""email_events without a server: XDM mapping, filters, paging, per-page state, 410, config."""

from __future__ import annotations

import json
import logging

import pytest
from sync_support.settings_check import ConfigError
from tap_adobe_campaign.events import EventFilter, Skipped, to_record
from tap_adobe_campaign.tap import TapAdobeCampaign

from .fakes import FakeAdapter, query
from .journal_fakes import CONFIG, IMS_ORG, JOURNAL_PATH, FakeJournal, delivery, install, tracking

pytestmark = pytest.mark.usefixtures("no_profile_metadata")

ALL = EventFilter()


def entry(event: dict, position: str = "p-1") -> dict:
    return {"position": position, "event": event}


def one(event: dict, rules: EventFilter = ALL) -> tuple[dict | None, Skipped]:
    skipped = Skipped()
    return to_record(entry(event), rules, skipped), skipped


# --- mapping ----------------------------------------------------------------------------


def test_a_sent_delivery_log_is_a_send_with_every_field() -> None:
    record, _ = one(delivery(7, "sent"))
    assert record == {
        "event_id": "send:bl7",
        "event_type": "send",
        "event_time": "2026-11-20T10:00:07.123000+00:00",
        "profile_external_id": "contact-7",
        "email": "p7@example.org",
        "delivery_name": "DM190",
        "delivery_label": "Welcome",
        "campaign_name": "2019LoyaltyCamp",
        "url": None,
        "mirror_page_url": "https://m.test/7",
        "bounce_type": None,
        "bounce_reason": None,
        "broadlog_id": "bl7",
        "trackinglog_id": None,
        "journal_position": "p-1",
    }


def test_a_hard_failure_is_a_bounce_with_type_and_reason() -> None:
    record, _ = one(delivery(3, "failed", failure_type=2))
    assert record is not None
    assert (record["event_id"], record["event_type"]) == ("bounce:bl3", "bounce")
    assert (record["bounce_type"], record["bounce_reason"]) == ("hard", "User unknown (1)")


def test_soft_bounces_are_skipped_unless_included() -> None:
    soft = delivery(4, "failed", failure_type=1)
    record, skipped = one(soft)
    assert record is None
    assert skipped.reasons == {"soft bounce": 1}
    record, _ = one(soft, EventFilter(include_soft_bounces=True))
    assert record is not None
    assert (record["event_id"], record["bounce_type"]) == ("bounce:bl4", "soft")


def test_ignored_failures_and_unclassified_failures_are_skipped() -> None:
    assert one(delivery(5, "failed", failure_type=3))[0] is None
    record, skipped = one(delivery(6, "failed"))
    assert record is None
    assert skipped.reasons == {"failure without failureType": 1}


def test_opens_and_clicks_are_keyed_by_tracking_log() -> None:
    opened, _ = one(tracking(8, "open"))
    clicked, _ = one(tracking(9, "click", url="https://shop.test/?a=1"))
    assert opened is not None
    assert clicked is not None
    assert (opened["event_id"], opened["url"], opened["broadlog_id"]) == ("open:tl8", None, "bl8")
    assert (clicked["event_id"], clicked["url"]) == ("click:tl9", "https://shop.test/?a=1")


def test_url_type_is_used_when_url_category_is_missing() -> None:
    event = tracking(10, "open")
    del event["data"]["https://ns.adobe.com/experience/campaign/urlCategory"]
    event["data"]["nms"]["urlType"] = 1
    record, _ = one(event)
    assert record is not None
    assert record["event_type"] == "click"


def test_opt_outs_and_mirror_pages_are_not_email_events() -> None:
    skipped = Skipped()
    for event in (tracking(1, "optout"), tracking(2, "mirrorPage"), tracking(3, "optout")):
        assert to_record(entry(event), ALL, skipped) is None
    assert skipped.summary() == "3 (2 opt-out, 1 mirror page)"


def test_event_types_setting_filters_and_ids_are_stable() -> None:
    only_bounces = EventFilter(event_types=frozenset({"bounce"}))
    assert one(delivery(1, "sent"), only_bounces)[0] is None
    first, _ = one(delivery(1, "failed", failure_type=2), only_bounces)
    again, _ = one(delivery(1, "failed", failure_type=2), only_bounces)
    assert first is not None
    assert again is not None
    assert first["event_id"] == again["event_id"] == "bounce:bl1"


# --- the stream against a fake journal --------------------------------------------------


def sync(capsys, journal: FakeJournal, state: dict | None = None, **config):
    """Run email_events alone; return (records, states, messages)."""
    capsys.readouterr()
    tap = TapAdobeCampaign(config={**CONFIG, **config}, state=state)
    adapter = FakeAdapter()
    adapter.route(JOURNAL_PATH, journal)
    install(adapter, tap.client)
    tap.streams["email_events"].sync()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return records, states, messages


def position(state: dict) -> str:
    return state["bookmarks"]["email_events"]["replication_key_value"]


MIXED = [
    delivery(0, "sent"),
    delivery(1, "sent"),
    tracking(2, "optout"),  # page 2: nothing but filtered events
    tracking(3, "mirrorPage"),
    tracking(4, "click", url="https://x.test"),
    delivery(5, "failed", failure_type=1),
]


def test_every_page_is_checkpointed_filtered_pages_included(capsys, caplog) -> None:
    journal = FakeJournal(MIXED)
    with caplog.at_level(logging.INFO):
        records, states, messages = sync(capsys, journal, events_page_limit=2)
    assert [r["event_id"] for r in records] == ["send:bl0", "send:bl1", "click:tl4"]
    order = [
        m["record"]["event_id"] if m["type"] == "RECORD" else position(m["value"])
        for m in messages
        if m["type"] == "RECORD" or (m["type"] == "STATE" and m["value"].get("bookmarks"))
    ]  # a page's STATE follows its records, and comes before the next page's
    assert order.index(journal.position(1)) > order.index("send:bl1")
    assert order.index(journal.position(3)) < order.index("click:tl4")
    pages = [journal.position(i) for i in (1, 3, 5)]
    positions = [position(s) for s in states]
    assert [p for p in pages if p in positions] == pages  # each page's last position, in order
    assert positions[-1] == journal.position(5)  # the filtered soft bounce still moves it
    assert len(journal.requests) == 4  # 3 pages + the 204
    assert [query(r).get("limit") for r in journal.requests] == ["2"] * 4
    skipped = [r.message for r in caplog.records if "Skipped" in r.message]
    assert skipped == [
        "Skipped 3 (1 opt-out, 1 mirror page, 1 soft bounce) journal events that are not "
        "selected email events"
    ]


def test_the_next_run_resumes_from_the_bookmark_with_the_journal_headers(capsys) -> None:
    journal = FakeJournal(MIXED)
    _, states, _ = sync(capsys, journal, events_page_limit=2)
    journal.events.append(tracking(6, "open"))
    journal.requests.clear()
    records, _, _ = sync(capsys, journal, state=states[-1], start_date="2020-01-01T00:00:00Z")
    assert [r["event_id"] for r in records] == ["open:tl6"]
    first = journal.requests[0]
    assert query(first)["since"] == journal.position(5)  # not start_date
    assert first.headers["x-ims-org-id"] == IMS_ORG
    assert first.headers["x-api-key"] == "client-1"
    assert first.headers["Authorization"] == "Bearer tok"


def test_an_expired_position_restarts_at_the_oldest_event_with_a_warning(capsys, caplog) -> None:
    journal = FakeJournal([delivery(i, "sent") for i in range(6)], oldest=4)
    expired = journal.position(1)
    bookmark = {"replication_key": "journal_position", "replication_key_value": expired}
    state = {"bookmarks": {"email_events": bookmark}}
    with caplog.at_level(logging.WARNING):
        records, states, _ = sync(capsys, journal, state=state)
    assert [r["event_id"] for r in records] == ["send:bl4", "send:bl5"]
    assert [query(r).get("since") for r in journal.requests] == [expired, None, journal.position(5)]
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert f"Journal position {expired} has expired" in warnings[0]
    assert "events in the gap may be lost" in warnings[0]
    assert "before 2026-11-20T10:00:04.123Z (the oldest retained event)" in warnings[1]
    assert position(states[-1]) == journal.position(5)


def test_an_empty_journal_ends_the_run_at_the_first_204(capsys) -> None:
    journal = FakeJournal([])
    records, _, _ = sync(capsys, journal)
    assert records == []
    assert len(journal.requests) == 1


def test_throttling_is_retried_after_retry_after(capsys, caplog) -> None:
    journal = FakeJournal([delivery(0, "sent")])
    answers = iter([(429, {"Retry-After": "0"}, {"error_code": "429", "message": "slow down"})])

    def throttle_once(request):
        return next(answers, None) or journal(request)

    capsys.readouterr()
    tap = TapAdobeCampaign(config=CONFIG)
    adapter = FakeAdapter()
    adapter.route(JOURNAL_PATH, throttle_once)
    install(adapter, tap.client)
    with caplog.at_level(logging.INFO):
        tap.streams["email_events"].sync()
    out = capsys.readouterr().out.splitlines()
    records = [json.loads(line)["record"] for line in out if '"RECORD"' in line]
    assert [r["event_id"] for r in records] == ["send:bl0"]
    assert len(journal.requests) == 2  # 200 + 204, after the 429
    assert len([r for r in adapter.sent if JOURNAL_PATH in (r.url or "")]) == 3
    assert "429" in caplog.text


def test_a_selected_email_events_without_journal_settings_is_a_config_error() -> None:
    config = {k: v for k, v in CONFIG.items() if k not in {"events_journal_url", "ims_org_id"}}
    tap = TapAdobeCampaign(config=config)
    with pytest.raises(ConfigError) as info:
        list(tap.streams["email_events"].get_records(None))
    assert "events_journal_url and ims_org_id not set" in info.value.errors[0]


def test_a_catalog_selecting_email_events_without_its_settings_fails_at_start_up() -> None:
    config = {k: v for k, v in CONFIG.items() if k != "ims_org_id"}
    catalog = TapAdobeCampaign(config=config).catalog_dict  # discovery needs no journal
    with pytest.raises(ConfigError) as info:
        TapAdobeCampaign(config=config, catalog=catalog)
    assert "email_events is selected but ims_org_id not set" in info.value.errors[0]
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if not entry["breadcrumb"]:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "profiles"
    TapAdobeCampaign(config=config, catalog=catalog)  # deselected: fine


def test_the_journal_url_must_be_https() -> None:
    config = {**CONFIG, "events_journal_url": "http://events.test/x"}
    with pytest.raises(ConfigError) as info:
        TapAdobeCampaign(config=config)
    assert "events_journal_url must be an https:// URL, got 'http://events.test/x'" in (
        info.value.errors
    )


def test_every_setting_has_a_description() -> None:
    properties = TapAdobeCampaign.config_jsonschema["properties"]
    assert {"events_journal_url", "ims_org_id", "event_types", "include_soft_bounces"} <= set(
        properties
    )
    assert [name for name, p in properties.items() if not p.get("description")] == []
