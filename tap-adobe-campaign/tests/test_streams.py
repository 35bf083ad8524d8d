"""The profiles stream against the Campaign sandbox: big tables, incremental runs, opt-outs."""

from __future__ import annotations

import datetime
import json
import logging
import typing as t

from campaign_client.dates import from_campaign_datetime
from tap_adobe_campaign.tap import TapAdobeCampaign

from .conftest import connection, gateway_requests, profiles_only

if t.TYPE_CHECKING:
    from crm_sandbox.campaign.inprocess import RunningCampaign


def sync_states(
    campaign: RunningCampaign, capsys, state: dict | None = None, **config
) -> tuple[list, list]:
    """Run the tap (profiles only); return its records and every STATE it wrote."""
    settings = connection(campaign, page_size=10, **config)
    capsys.readouterr()
    TapAdobeCampaign(config=settings, state=state, catalog=profiles_only(settings)).sync_all()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return records, states


def sync(campaign: RunningCampaign, capsys, state: dict | None = None) -> tuple[list, dict]:
    """Run the tap (profiles only); return its records and final state."""
    records, states = sync_states(campaign, capsys, state)
    return records, states[-1]


def page_requests(campaign: RunningCampaign) -> list[dict]:
    """The gateway requests reading profiles (discovery's metadata read left out)."""
    return [r for r in gateway_requests(campaign) if "/resourceType/" not in r["path"]]


def bookmark_of(state: dict) -> str | None:
    return state.get("bookmarks", {}).get("profiles", {}).get("replication_key_value")


def linked_profiles(campaign: RunningCampaign) -> dict[str, dict]:
    """Campaign's profiles that carry a CRM id, by externalId."""
    rows = campaign.admin.find_rows("profile")
    return {r["externalId"]: r for r in rows if r["externalId"]}


def test_a_full_read_above_the_big_table_threshold_reads_every_profile(campaign, capsys) -> None:
    campaign.admin.set_config(big_table_threshold=20)  # 60 profiles: a "big table"
    records, _ = sync(campaign, capsys)
    expected = linked_profiles(campaign)
    assert 0 < len(expected) < 60  # the seed has profiles without a CRM id: skipped
    assert sorted(r["externalId"] for r in records) == sorted(expected)
    assert len(page_requests(campaign)) == 6  # 60 rows, 10 a page, via next.href
    first = records[0]
    assert first["PKey"] == expected[first["externalId"]]["PKey"]
    assert first["lastModified"].endswith("+00:00")  # ISO 8601, from "… .mmmZ"
    assert "href" not in first
    pages = page_requests(campaign)
    assert all("_order=lastModified&" in p["query"] for p in pages[:1])
    modified = [r["lastModified"] for r in records]
    assert modified == sorted(modified)  # oldest change first


def test_an_incremental_run_returns_only_changed_profiles_with_opt_outs(
    campaign, capsys, caplog
) -> None:
    _, state = sync(campaign, capsys)
    bookmark = state["bookmarks"]["profiles"]["replication_key_value"]
    profiles = linked_profiles(campaign)
    opted_out, renamed = sorted(profiles)[:2]
    admin = campaign.admin
    admin.update_row("profile", profiles[opted_out]["PKey"], {"blackListEmail": True})
    admin.update_row("profile", profiles[opted_out]["PKey"], {"ccpaOptOut": True})
    admin.update_row("profile", profiles[renamed]["PKey"], {"lastName": "Renamed"})
    admin.clear_requests()

    with caplog.at_level(logging.INFO):
        records, state = sync(campaign, capsys, state)
    at_bookmark = {  # read again: modified at the bookmark's very millisecond
        k
        for k, p in profiles.items()
        if from_campaign_datetime(p["lastModified"]) == datetime.datetime.fromisoformat(bookmark)
    }
    assert {r["externalId"] for r in records} == {opted_out, renamed} | at_bookmark
    changed = {r["externalId"]: r for r in records}
    assert changed[opted_out]["blackListEmail"] is True
    assert changed[opted_out]["ccpaOptOut"] is True
    assert changed[renamed]["blackListEmail"] is False
    assert changed[renamed]["lastName"] == "Renamed"
    assert len(page_requests(campaign)) == 6  # no filter configured: every page is read
    assert "profiles modified before the bookmark" in caplog.text
    assert state["bookmarks"]["profiles"]["replication_key_value"] > bookmark


def test_empty_values_are_emitted_as_null(campaign, capsys) -> None:
    pkey = campaign.admin.create_row("profile", {"externalId": "blank-1", "email": "b@x.org"})[
        "PKey"
    ]
    records, _ = sync(campaign, capsys)
    (record,) = [r for r in records if r["externalId"] == "blank-1"]
    assert record["PKey"] == pkey
    assert record["birthDate"] is None
    assert record["firstName"] is None
    assert record["gender"] == "unknown"


def test_each_page_is_checkpointed_and_a_run_resumes_from_the_last_one(campaign, capsys) -> None:
    records, states = sync_states(campaign, capsys)
    marks = [bookmark_of(s) for s in states if bookmark_of(s)]
    assert len(marks) >= 6  # after each of the 6 pages, and at the end
    assert marks == sorted(marks)
    # a run stopped after page 2 resumes from page 2's last profile: nothing is lost
    second_page_mark = marks[1]
    resumed, _ = sync_states(
        campaign,
        capsys,
        {
            "bookmarks": {
                "profiles": {
                    "replication_key": "lastModified",
                    "replication_key_value": second_page_mark,
                }
            }
        },
    )
    expected = [r["externalId"] for r in records if r["lastModified"] >= second_page_mark]
    assert [r["externalId"] for r in resumed] == expected


def test_with_the_tenants_modified_since_filter_only_changed_profiles_are_read(
    campaign, capsys
) -> None:
    _, states = sync_states(campaign, capsys)
    profiles = linked_profiles(campaign)
    changed = sorted(profiles)[:3]
    for external_id in changed:
        campaign.admin.update_row("profile", profiles[external_id]["PKey"], {"lastName": "New"})
    campaign.admin.clear_requests()
    records, _ = sync_states(
        campaign,
        capsys,
        states[-1],
        modified_since_filter="byLastModified",
        modified_since_parameter="lastModified_parameter",
    )
    assert set(changed) <= {r["externalId"] for r in records}
    assert len(records) < 10  # changed ones (+ any at the bookmark's millisecond): one page
    (request,) = page_requests(campaign)
    assert request["path"].endswith("/profileAndServicesExt/profile/byLastModified")
    assert "lastModified_parameter=" in request["query"]


def test_the_tenants_custom_profile_fields_reach_the_stream(campaign, capsys) -> None:
    """`cus*` fields of the Ext resource's metadata are in the schema and in the records."""
    settings = connection(campaign)
    properties = TapAdobeCampaign(config=settings).catalog_dict["streams"]
    profiles = next(s for s in properties if s["tap_stream_id"] == "profiles")
    schema = profiles["schema"]["properties"]
    assert schema["cusJobTitle"]["type"] == ["string", "null"]
    assert schema["cusCustomerSince"] == {
        "type": ["string", "null"],
        "format": "date",
        "description": "Customer since (custom field)",
    }

    records, _ = sync(campaign, capsys)
    stored = {
        p["externalId"]: p
        for p in campaign.admin.find_rows("profile")
        if p.get("externalId") and p.get("cusJobTitle")
    }
    assert stored
    for record in records:
        if record["externalId"] in stored:
            assert record["cusJobTitle"] == stored[record["externalId"]]["cusJobTitle"]
    assert any(r.get("cusCustomerSince") for r in records)


def test_the_plain_profile_resource_has_no_custom_fields(campaign) -> None:
    """`profileAndServices/profile` (not Ext) shows no `cus*` field: the schema has none."""
    settings = connection(campaign, profile_resource="profileAndServices/profile")
    streams = TapAdobeCampaign(config=settings).catalog_dict["streams"]
    profiles = next(s for s in streams if s["tap_stream_id"] == "profiles")
    assert not [name for name in profiles["schema"]["properties"] if name.startswith("cus")]


def test_a_read_of_every_profile_ends_with_activate_version(campaign, capsys) -> None:
    """Loaders remove profiles deleted in Campaign; a read from the bookmark says nothing."""
    settings = connection(campaign, page_size=10)
    capsys.readouterr()
    TapAdobeCampaign(config=settings, catalog=profiles_only(settings)).sync_all()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [m["type"] for m in messages if m.get("stream") == "profiles"]
    assert kinds.count("ACTIVATE_VERSION") == 1
    last_record = len(kinds) - 1 - kinds[::-1].index("RECORD")
    assert kinds.index("ACTIVATE_VERSION") > last_record
    (activate,) = [m for m in messages if m["type"] == "ACTIVATE_VERSION"]
    versions = {m["version"] for m in messages if m["type"] == "RECORD"}
    assert versions == {activate["version"]}
    state = [m["value"] for m in messages if m["type"] == "STATE"][-1]

    capsys.readouterr()
    TapAdobeCampaign(config=settings, state=state, catalog=profiles_only(settings)).sync_all()
    again = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert "ACTIVATE_VERSION" not in [m["type"] for m in again]


def test_unlinked_profiles_are_the_profiles_without_a_crm_id(campaign, capsys) -> None:
    """The "Export to CRM" source: every profile made in Campaign, keyed on PKey."""
    settings = connection(campaign, page_size=10)
    catalog = profiles_only(settings, "unlinked_profiles")
    capsys.readouterr()
    TapAdobeCampaign(config=settings, catalog=catalog).sync_all()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    (schema,) = [m for m in messages if m["type"] == "SCHEMA"]
    assert schema["key_properties"] == ["PKey"]
    assert "externalId" not in schema["schema"]["properties"]
    records = [m["record"] for m in messages if m["type"] == "RECORD"]
    expected = {r["PKey"]: r for r in campaign.admin.find_rows("profile") if not r["externalId"]}
    assert expected
    assert sorted(r["PKey"] for r in records) == sorted(expected)
    assert all(r.get("email") == (expected[r["PKey"]]["email"] or None) for r in records)
    assert {m["stream"] for m in messages if m["type"] == "RECORD"} == {"unlinked_profiles"}


def test_only_a_read_from_a_bookmark_tells_its_lag(campaign, capsys, caplog) -> None:
    """A first read (even from start_date) has no lag to tell; the next one has."""
    with caplog.at_level(logging.INFO):
        _, states = sync_states(campaign, capsys, start_date="2000-01-01T00:00:00Z")
    first = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Summary")]
    assert first
    assert "lag_seconds" not in first[-1]
    caplog.clear()
    with caplog.at_level(logging.INFO):
        sync_states(campaign, capsys, state=states[-1])
    again = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Summary")]
    assert again
    assert "lag_seconds" in again[-1]
