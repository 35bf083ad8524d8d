"""Simulated sends: delivery and tracking logs, XDM event shapes, late bounces, opt-outs."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urljoin

import pytest
import requests
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import serve_campaign, url

PROFILES = 60
SEED = 9
NS = "https://ns.adobe.com/experience/campaign/"
ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(PROFILES, projects=0), seed=SEED)


@pytest.fixture(autouse=True)
def _fresh(campaign: RunningCampaign) -> Iterator[None]:
    campaign.admin.reset(PROFILES, SEED, projects=0)
    yield
    campaign.admin.shift_clock(-campaign.admin.clock()["offset"])


def all_events(campaign: RunningCampaign, since: str | None = None) -> list[dict]:
    journal = campaign.journal_session()
    href = campaign.info["journal_url"] + (f"?since={since}" if since else "")
    events = []
    while (resp := journal.get(href)).status_code == 200:
        events += [e["event"] for e in resp.json()["events"]]
        href = urljoin(campaign.info["journal_url"], resp.links["next"]["url"])
    assert resp.status_code == 204
    return events


def send(campaign: RunningCampaign, **kwargs) -> dict:
    spec = {"profiles": 20, "label": "Summer offer", "campaign": "2019LoyaltyCamp", **kwargs}
    return campaign.admin.simulate_send("DM190", **spec)


def test_send_writes_logs_and_one_event_per_log(campaign):
    result = send(
        campaign, hard_bounce_rate=0.2, soft_bounce_rate=0.1, open_rate=0.6, click_rate=0.5
    )
    counts = result["counts"]
    assert result["targeted"] == 20
    assert counts["sent"] + counts["hard_bounce"] + counts["soft_bounce"] == 20
    assert counts["hard_bounce"]
    assert counts["open"]
    assert counts["click"]
    broadlogs = campaign.admin.log_rows("broadLogRcp")
    assert len(broadlogs) == 20
    assert {b["status"] for b in broadlogs} == {1, 2}
    failed = [b for b in broadlogs if b["status"] == 2]
    assert {b["failureType"] for b in failed} <= {1, 2}
    assert all(b["failureReason"] in (1, 2, 3, 4, 5, 20) for b in failed)
    tracking = campaign.admin.log_rows("trackingLogRcp")
    opens = [t for t in tracking if t["urlType"] == 2]
    clicks = [t for t in tracking if t["urlType"] == 1]
    assert len(opens) == counts["open"]
    assert len(clicks) == counts["click"]
    assert all(t["url-id"] == 1 and t["urlLabel"] == "Open" for t in opens)
    assert all(t["urlSource"].startswith("https://") for t in clicks)
    events = all_events(campaign)
    assert len(events) == result["journal_events"] == 20 + len(tracking)
    per_profile = result["by_external_id"]
    assert sum(v["open"] for v in per_profile.values()) == counts["open"]
    assert len(campaign.admin.deliveries()) == 1


def test_profiles_are_eligible_ones_and_outcomes_are_seeded(campaign):
    rates = {"open_rate": 0.5, "click_rate": 0.5, "hard_bounce_rate": 0.2, "seed": 4}
    first = send(campaign, **rates)
    targeted = list(first["by_external_id"])
    for ext in targeted:
        profile = campaign.admin.find_rows("profile", externalId=ext)[0]
        assert profile["email"]
        assert not profile["blackList"]
        assert not profile["blackListEmail"]
    campaign.admin.reset(PROFILES, SEED, projects=0)
    again = send(campaign, **rates)
    assert again["by_external_id"] == first["by_external_id"]
    chosen = campaign.admin.simulate_send(
        "DM191", external_ids=[targeted[0], "not-a-contact"], open_rate=1.0
    )
    assert list(chosen["by_external_id"]) == [targeted[0]]
    assert chosen["left_out"] == ["not-a-contact"]


def test_delivery_log_event_shape(campaign):
    result = send(campaign, profiles=6, hard_bounce_rate=0.5, seed=2)
    assert result["counts"]["hard_bounce"]
    assert result["counts"]["sent"]
    events = all_events(campaign)
    for event in events:
        assert set(event) == {
            "specversion",
            "id",
            "source",
            "type",
            "time",
            "datacontenttype",
            "data",
        }
        assert event["specversion"] == "1.0"
        assert event["type"] == "com.adobe.campaign.deliveryLog"
        assert event["source"].startswith("urn:uuid:")
        assert event["datacontenttype"] == "application/json"
        data = event["data"]
        assert ISO_MS.match(data["xdm:timestamp"])
        assert event["time"] == data["xdm:timestamp"]
        assert data[NS + "deliveryName"] == "DM190"
        assert data[NS + "deliveryLabel"] == "Summer offer"
        assert data[NS + "campaignName"] == "2019LoyaltyCamp"
        assert data[NS + "channel"] == "email"
        assert data[NS + "externalID"] in result["by_external_id"]
        assert data["nms"]["address"]
        assert ISO_MS.match(data["nms"]["lastModified"])
        assert data["nms"]["mirrorPageUrl"].startswith("https://")
    sent = [e["data"] for e in events if e["data"][NS + "status"] == "sent"]
    failed = [e["data"] for e in events if e["data"][NS + "status"] == "failed"]
    assert len(failed) == result["counts"]["hard_bounce"]
    assert all(NS + "reason" not in d and "failureType" not in d["nms"] for d in sent)
    for d in failed:
        assert d["nms"]["failureType"] == 2
        assert d[NS + "quarantine"] is True
        assert d[NS + "reason"] in ("User unknown", "Account disabled")
        assert d["nms"]["failureReason"] in (1, 4)
        assert d[NS + "reasonMessage"]


def test_tracking_log_event_shape(campaign):
    send(campaign, profiles=10, open_rate=1.0, click_rate=1.0, seed=3)
    tracking = [e["data"] for e in all_events(campaign) if e["type"].endswith("trackingLog")]
    opens = [d for d in tracking if d[NS + "urlCategory"] == "open"]
    clicks = [d for d in tracking if d[NS + "urlCategory"] == "click"]
    assert len(opens) == len(clicks) == 10
    assert all(NS + "url" not in d and d["nms"]["urlType"] == 2 for d in opens)
    assert all(d[NS + "url"].startswith("https://") and d["nms"]["urlType"] == 1 for d in clicks)
    assert all(d[NS + "trackinglogID"] and d[NS + "broadlogID"] for d in tracking)
    assert all(NS + "status" not in d for d in tracking)


def test_late_bounce_is_a_new_event_for_an_existing_delivery_log(campaign):
    send(campaign, profiles=5)
    before = {b["id"]: b for b in campaign.admin.log_rows("broadLogRcp")}
    end = campaign.admin.journal()["end_position"]
    campaign.admin.shift_clock(3 * 86400)
    bounced = campaign.admin.late_bounces("DM190", 2)
    assert bounced["count"] == 2
    new = all_events(campaign, since=end)
    assert [e["data"][NS + "status"] for e in new] == ["failed", "failed"]
    ids = {int(e["data"][NS + "broadlogID"]) for e in new}
    assert ids == {b["broadLogId"] for b in bounced["bounced"]} <= set(before)
    for log_id in ids:
        row = campaign.admin.log_rows("broadLogRcp", id=str(log_id))[0]
        assert (row["status"], row["failureType"], row["failureReason"]) == (2, 2, 1)
        assert row["lastModified"] > before[log_id]["lastModified"]
    soft = campaign.admin.late_bounces("DM190", 1, failure_type="soft", reason=5)
    assert soft["count"] == 1


def test_unsubscribe_click_opts_the_profile_out(campaign):
    result = send(campaign, profiles=3, open_rate=1.0, unsubscribe_rate=1.0)
    assert result["counts"]["optout"] == 3
    api = campaign.api_session()
    for ext in result["by_external_id"]:
        profile = campaign.admin.find_rows("profile", externalId=ext)[0]
        assert profile["blackListEmail"] is True
        assert profile["optOutChanges"]["blackListEmail"] == profile["lastModified"]
        rest = api.get(url(campaign, f"profileAndServicesExt/profile/{ext}")).json()
        assert rest["blackListEmail"] is True
    optouts = [
        e["data"] for e in all_events(campaign) if e["data"].get(NS + "urlCategory") == "optout"
    ]
    assert len(optouts) == 3
    assert all(d["nms"]["urlType"] == 3 for d in optouts)
    again = campaign.admin.simulate_send("DM191", profiles=PROFILES)
    assert not set(result["by_external_id"]) & set(again["by_external_id"])  # now excluded


def test_single_tracking_call(campaign):
    result = send(campaign, profiles=2)
    ext = next(iter(result["by_external_id"]))
    row = campaign.admin.track("DM190", ext, "optout")
    assert row["urlType"] == 3
    assert campaign.admin.find_rows("profile", externalId=ext)[0]["blackListEmail"] is True
    with pytest.raises(RuntimeError, match="400"):
        campaign.admin.track("DM190", "unknown", "open")
    with pytest.raises(RuntimeError, match="exists"):
        campaign.admin.simulate_send("DM190", profiles=1)


def test_admin_refuses_bad_input(campaign):
    with pytest.raises(RuntimeError, match="400"):
        campaign.admin.simulate_send("DM1", profiles=1, open_rate=2.0)
    with pytest.raises(RuntimeError, match="400"):
        campaign.admin.late_bounces("nope", 1)


def test_journal_requests_are_logged_as_events(campaign):
    campaign.admin.clear_requests()
    session: requests.Session = campaign.journal_session()
    session.get(campaign.info["journal_url"])
    assert [r["app"] for r in campaign.admin.requests() if r["app"] == "events"] == ["events"]
