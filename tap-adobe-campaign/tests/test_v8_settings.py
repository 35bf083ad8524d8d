"""backend v8: settings checked before any request, the check command, positions."""

from __future__ import annotations

import datetime
import json
import typing as t

import pytest
from campaign_client.querydef import Cursor
from sync_support.settings_check import ConfigError
from tap_adobe_campaign.check import main
from tap_adobe_campaign.tap import TapAdobeCampaign
from tap_adobe_campaign.v8.event_logs import LogPosition
from tap_adobe_campaign.v8.optouts import parse_position, position

from .conftest import connection
from .v8_helpers import selecting, soap_actions, v8_config

if t.TYPE_CHECKING:
    from pathlib import Path

AT = datetime.datetime(2025, 6, 1, 12, 0, 0, 5000, tzinfo=datetime.UTC)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"backend": "v9"}, "backend"),
        ({"soap_url": "http://campaign.example/nl/jsp/soaprouter.jsp"}, "soap_url must be an"),
        ({"soap_auth": "login_password"}, "soap_login is required with soap_auth=login_password"),
    ],
)
def test_bad_settings_fail_before_any_request(campaign, overrides, message) -> None:
    campaign.admin.clear_requests()
    with pytest.raises(ConfigError, match=message):
        TapAdobeCampaign(config=v8_config(campaign, **overrides))
    assert soap_actions(campaign) == []


def test_v8_needs_no_journal_settings_for_email_events(campaign) -> None:
    config = v8_config(campaign)
    del config["events_journal_url"], config["ims_org_id"]
    TapAdobeCampaign(config=config, catalog=selecting(config, "email_events"))  # no ConfigError
    standard = connection(campaign)
    del standard["events_journal_url"]
    with pytest.raises(ConfigError, match="events_journal_url"):
        TapAdobeCampaign(config=standard, catalog=selecting(config, "email_events"))


def test_check_on_v8(campaign, capsys, tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(v8_config(campaign)))
    capsys.readouterr()
    assert main(["--config", str(config), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    steps = ["logon", "schema nms:recipient", "page nms:recipient"]
    assert [s["step"] for s in report["steps"]] == steps
    assert "nms:recipient: first page, 5 records" in report["steps"][2]["detail"]
    config.write_text(json.dumps(v8_config(campaign, soap_url=campaign.info["soap_url"] + "x")))
    assert main(["--config", str(config)]) == 1


def test_log_positions_read_back_and_refuse_other_bookmarks() -> None:
    for value in (LogPosition(), LogPosition(Cursor(AT, "42")), LogPosition(None, 7)):
        assert LogPosition.parse(str(value)) == value
    assert str(LogPosition(Cursor(AT, "42"), 7)) == "v8:b=2025-06-01T12:00:00.005Z,42;t=7"
    assert LogPosition.parse("3:AAAA") is None  # a journal position


def test_opt_out_positions_sort_as_read() -> None:
    later = AT + datetime.timedelta(milliseconds=1)
    ordered = [Cursor(AT, "9"), Cursor(AT, "10"), Cursor(later, "1")]
    assert sorted(position(c) for c in ordered) == [position(c) for c in ordered]
    assert parse_position(position(ordered[1])) == ordered[1]
    assert parse_position("optouts_20261120T020000000Z.csv:0000001") is None
