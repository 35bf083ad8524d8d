"""profiles and unlinked_profiles on backend v8 (nms:recipient over SOAP) against the sandbox."""

from __future__ import annotations

import logging
import typing as t

from tap_adobe_campaign.tap import TapAdobeCampaign

from .conftest import connection
from .v8_helpers import run, selecting, soap_actions, v8_config

if t.TYPE_CHECKING:
    from crm_sandbox.campaign.inprocess import RunningCampaign

#: Fields Campaign Standard computes and v8's nms:recipient does not have.
REST_ONLY = {"age", "PKey"}


def linked(campaign: RunningCampaign) -> dict[str, dict]:
    rows = campaign.admin.find_rows("profile")
    return {r["externalId"]: r for r in rows if r["externalId"]}


def test_records_and_schema_are_the_rest_streams(campaign, capsys) -> None:
    rest_config = connection(campaign, page_size=100)
    rest = run(capsys, rest_config, "profiles", "unlinked_profiles").records
    v8 = run(capsys, v8_config(campaign), "profiles", "unlinked_profiles").records

    rest_tap = TapAdobeCampaign(config=rest_config)
    v8_tap = TapAdobeCampaign(config=v8_config(campaign))
    for name in ("profiles", "unlinked_profiles"):
        assert v8_tap.streams[name].schema == rest_tap.streams[name].schema
        assert v8_tap.streams[name].primary_keys == rest_tap.streams[name].primary_keys
    by_id = {r["externalId"]: r for r in rest["profiles"]}
    assert (
        sorted(r["externalId"] for r in v8["profiles"]) == sorted(by_id) == sorted(linked(campaign))
    )
    for record in v8["profiles"]:
        expected = {k: v for k, v in by_id[record["externalId"]].items() if k not in REST_ONLY}
        assert {k: v for k, v in record.items() if k != "PKey"} == expected
    assert any(r["gender"] in {"male", "female"} for r in v8["profiles"])  # enum value names
    assert any(r["cusJobTitle"] for r in v8["profiles"])  # custom fields from the schema
    unlinked = {r["email"] for r in v8["unlinked_profiles"]}
    assert unlinked == {r["email"] for r in rest["unlinked_profiles"]}
    assert unlinked
    assert all("externalId" not in r and r["PKey"].isdigit() for r in v8["unlinked_profiles"])


def test_a_checkpoint_per_page_and_a_resume_after_the_last_page(campaign, capsys) -> None:
    config = v8_config(campaign)
    full = run(capsys, config, "profiles")
    records = full.records["profiles"]
    pages = -(-len(records) // 10)
    states = [s for s in full.states if "keyset" in s["bookmarks"].get("profiles", {})]
    assert len(states) >= pages  # one per page (and the SDK's own at the end)
    assert [m["type"] for m in full.messages].count("ACTIVATE_VERSION") == 1  # a full read
    modified = [r["lastModified"] for r in records]
    assert modified == sorted(modified)

    # A run stopped after its second page resumes with the 21st record, exactly.
    second_page = states[1]
    assert second_page["bookmarks"]["profiles"]["keyset"]["id"] is not None
    resumed = run(capsys, config, "profiles", state=second_page)
    assert resumed.records["profiles"] == records[20:]
    assert "ACTIVATE_VERSION" not in [m["type"] for m in resumed.messages]


def test_an_incremental_run_reads_only_changed_recipients(campaign, capsys) -> None:
    config = v8_config(campaign)
    first = run(capsys, config, "profiles")
    campaign.admin.clear_requests()
    again = run(capsys, config, "profiles", state=first.states[-1])
    assert again.records["profiles"] == []
    assert soap_actions(campaign).count("xtk:queryDef#ExecuteQuery") == 1  # one empty page

    profiles = linked(campaign)
    opted_out, renamed = sorted(profiles)[:2]
    campaign.admin.update_row("profile", profiles[opted_out]["PKey"], {"blackListEmail": True})
    campaign.admin.update_row("profile", profiles[renamed]["PKey"], {"lastName": "Renamed"})
    changed = run(capsys, config, "profiles", state=again.states[-1]).records["profiles"]
    assert [r["externalId"] for r in changed] == [opted_out, renamed]
    assert changed[0]["blackListEmail"] is True
    assert changed[1]["lastName"] == "Renamed"


def test_a_session_that_expires_mid_read_is_opened_again(campaign, capsys, caplog) -> None:
    info = campaign.info
    config = v8_config(
        campaign,
        soap_auth="login_password",
        soap_login=info["operator_login"],
        soap_password=info["operator_password"],
    )
    expected = run(capsys, config, "profiles").records["profiles"]
    tap = TapAdobeCampaign(config=config, catalog=selecting(config, "profiles"))
    session = tap.soap_session  # not logged on yet: its first call logs on
    call = session.call
    calls = 0

    def expire_after_the_first_page(*args: t.Any, **kwargs: t.Any) -> t.Any:
        nonlocal calls
        calls += 1
        if calls == 2:  # the second page's call
            campaign.admin.expire_sessions()
        return call(*args, **kwargs)

    session.call = expire_after_the_first_page  # type: ignore[method-assign]
    campaign.admin.clear_requests()
    with caplog.at_level(logging.INFO):
        records = run(capsys, config, "profiles", tap=tap).records
    assert records["profiles"] == expected
    assert "Campaign session expired (XSV-350008): logging on again" in caplog.text
    # the tap's first logon, then one more after the expiry; the refused call is replayed
    assert soap_actions(campaign).count("xtk:session#Logon") == 2
