"""The profiles stream: paging, ISO dates, and stopping at the bookmark (newest first)."""

from __future__ import annotations

import json

from tap_adobe_campaign.tap import TapAdobeCampaign
from tap_adobe_campaign.testing import FakeCampaign

PROFILES = "profileAndServicesExt/profile"


def make_tap(fake: FakeCampaign, state: dict | None = None) -> TapAdobeCampaign:
    tap = TapAdobeCampaign(
        config={
            "organization": "test-org",
            "client_id": fake.client_id,
            "client_secret": fake.client_secret,
            "ims_url": fake.ims_url,
            "api_base_url": fake.api_base_url,
            "page_size": 2,
        },
        state=state,
    )
    fake.install(tap.client)
    return tap


def seed(fake: FakeCampaign) -> None:
    # The fake does not sort: add the profiles newest first, as `_order=lastModified desc` reads
    for day in (5, 4, 3, 2, 1):
        fake.add(
            PROFILES,
            externalId=f"c{day}",
            blackListEmail=day % 2 == 0,
            lastModified=f"2024-01-0{day} 10:00:00.000Z",
            href="not in the schema",
        )


def test_full_read_pages_and_converts_dates() -> None:
    fake = FakeCampaign()
    seed(fake)
    stream = make_tap(fake).streams["profiles"]
    records = list(stream.get_records(None))
    assert [r["externalId"] for r in records] == ["c5", "c4", "c3", "c2", "c1"]
    first = stream.post_process(records[0])
    assert first["lastModified"] == "2024-01-05T10:00:00+00:00"
    assert "href" not in first
    gets = [u for m, u, _ in fake.requests if m == "GET"]
    assert len(gets) == 3
    assert "_order=lastModified%20desc" in gets[0]
    assert "_forcePagination=true" in gets[0]


def test_incremental_read_stops_at_the_bookmark(capsys) -> None:
    fake = FakeCampaign()
    seed(fake)
    state = {
        "bookmarks": {
            "profiles": {
                "replication_key": "lastModified",
                "replication_key_value": "2024-01-04T10:00:00+00:00",
            }
        }
    }
    make_tap(fake, state).sync_all()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    assert [r["externalId"] for r in records] == ["c5", "c4"]
    assert len([u for m, u, _ in fake.requests if m == "GET"]) == 2
    final = [m["value"] for m in messages if m["type"] == "STATE"][-1]
    bookmark = final["bookmarks"]["profiles"]["replication_key_value"]
    assert bookmark == "2024-01-05T10:00:00+00:00"
