"""opt_outs and the check against the sandbox: its export workflow and its SFTP server."""

from __future__ import annotations

import json
import time
import typing as t
from datetime import UTC, datetime

import pytest
from campaign_client.optouts import FLAGS
from campaign_client.sftp import HostKeyError, SFTPError
from tap_adobe_campaign.check import main
from tap_adobe_campaign.tap import TapAdobeCampaign

from .conftest import SFTP_KEYS, connection
from .sftp_fakes import key_pair

if t.TYPE_CHECKING:
    from pathlib import Path

    from crm_sandbox.campaign.inprocess import RunningCampaign


def sftp_config(campaign: RunningCampaign, **overrides: t.Any) -> dict[str, t.Any]:
    """Tap settings with the sandbox's SFTP storage, in bidirectional mode."""
    sftp = {key: campaign.info[key] for key in SFTP_KEYS}
    return connection(campaign, **{"opt_out_sync": "bidirectional", **sftp, **overrides})


def sync(
    capsys: pytest.CaptureFixture[str], config: dict[str, t.Any], state: dict | None = None
) -> tuple[list[dict], dict | None]:
    """Sync opt_outs; return its records and the last STATE."""
    capsys.readouterr()
    tap = TapAdobeCampaign(config=config, state=state)
    tap.streams["opt_outs"].sync()
    messages = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    states = [m["value"] for m in messages if m["type"] == "STATE"]
    return [m["record"] for m in messages if m["type"] == "RECORD"], (states or [None])[-1]


def opt_out(campaign: RunningCampaign, external_id: str, **flags: bool) -> None:
    """Change opt-out flags inside Campaign (the attribute change times move)."""
    (profile,) = campaign.admin.find_rows("profile", externalId=external_id)
    campaign.admin.update_row("profile", profile["PKey"], flags)


def linked_ids(campaign: RunningCampaign, n: int) -> list[str]:
    """External ids of n CRM-linked profiles."""
    rows = campaign.admin.find_rows("profile")
    return sorted(r["externalId"] for r in rows if r.get("externalId"))[:n]


def test_a_full_export_is_read_then_only_new_increments(campaign, capsys) -> None:
    first, second = linked_ids(campaign, 2)
    opt_out(campaign, first, blackListEmail=True)
    full = campaign.admin.run_opt_out_export(full=True)
    assert full["file"]
    assert full["rows"] >= 1

    records, state = sync(capsys, sftp_config(campaign))
    assert len(records) == full["rows"]
    assert {r["export_file"] for r in records} == {full["file"]}
    assert [r["export_position"] for r in records] == sorted(r["export_position"] for r in records)
    (mine,) = [r for r in records if r["externalId"] == first]
    assert mine["blackListEmail"] is True
    assert mine["blackListEmailLastModified"] is not None
    assert all(isinstance(mine[flag], bool) for flag in FLAGS)
    assert state is not None
    bookmark = state["bookmarks"]["opt_outs"]["replication_key_value"]
    assert bookmark == records[-1]["export_position"]

    opt_out(campaign, second, blackListPhone=True, blackListEmail=True)
    increment = campaign.admin.run_opt_out_export()
    assert increment["file"]
    assert increment["file"] > full["file"]
    records, state = sync(capsys, sftp_config(campaign), state)
    assert [r["externalId"] for r in records] == [second]
    assert records[0]["export_position"] == f"{increment['file']}:0000001"
    assert records[0]["blackListPhone"] is records[0]["blackListEmail"] is True

    assert campaign.admin.run_opt_out_export() == {"file": None, "rows": 0}
    records, _ = sync(capsys, sftp_config(campaign), state)
    assert records == []

    # Full refresh (no state): every file still in the folder, in order.
    everything, _ = sync(capsys, sftp_config(campaign))
    assert len(everything) == full["rows"] + 1
    assert everything[-1]["export_file"] == increment["file"]


def test_start_date_skips_files_written_before_it(campaign, capsys) -> None:
    first, second = linked_ids(campaign, 2)
    opt_out(campaign, first, blackListFax=True)
    older = campaign.admin.run_opt_out_export(full=True)
    time.sleep(0.01)  # file names carry milliseconds
    start = datetime.fromtimestamp(campaign.admin.clock()["time"], UTC)  # the sandbox's clock
    time.sleep(0.01)
    opt_out(campaign, second, blackListFax=True)
    newer = campaign.admin.run_opt_out_export()

    config = sftp_config(campaign, start_date=start.isoformat())
    records, _ = sync(capsys, config)
    assert {r["export_file"] for r in records} == {newer["file"]} != {older["file"]}
    assert [r["externalId"] for r in records] == [second]
    # Once bookmarked, start_date no longer matters: a full refresh without it reads both.
    everything, _ = sync(capsys, sftp_config(campaign))
    assert {r["export_file"] for r in everything} >= {older["file"], newer["file"]}


def test_a_run_resumes_mid_file_from_its_bookmark(campaign, capsys) -> None:
    for external_id in linked_ids(campaign, 4):
        opt_out(campaign, external_id, blackList=True)
    export = campaign.admin.run_opt_out_export(full=True)
    everything, _ = sync(capsys, sftp_config(campaign))
    state = {
        "bookmarks": {
            "opt_outs": {
                "replication_key": "export_position",
                "replication_key_value": f"{export['file']}:0000002",
            }
        }
    }
    rest, _ = sync(capsys, sftp_config(campaign), state)
    assert rest == everything[2:]


def test_another_host_key_is_refused(campaign, capsys) -> None:
    campaign.admin.run_opt_out_export(full=True)
    _, impostor = key_pair()
    with pytest.raises(HostKeyError, match="refused"):
        sync(capsys, sftp_config(campaign, sftp_host_key=impostor))


def test_wrong_credentials_fail_without_retrying(campaign, capsys) -> None:
    with pytest.raises(SFTPError, match="refused user campaign-sftp"):
        sync(capsys, sftp_config(campaign, sftp_password="wrong", max_retries=5))


def test_private_key_login(campaign, capsys) -> None:
    private, public = key_pair()
    campaign.admin.authorize_sftp_key(public)
    export = campaign.admin.run_opt_out_export(full=True)
    config = sftp_config(campaign, sftp_private_key=private)
    del config["sftp_password"]
    records, _ = sync(capsys, config)
    assert len(records) == export["rows"]


def test_d365_to_campaign_mode_reads_nothing(campaign, capsys) -> None:
    campaign.admin.run_opt_out_export(full=True)
    records, _ = sync(capsys, sftp_config(campaign, opt_out_sync="d365_to_campaign"))
    assert records == []


def test_check_against_the_sandbox(campaign, capsys, tmp_path: Path) -> None:
    export = campaign.admin.run_opt_out_export(full=True)
    config = tmp_path / "config.json"
    config.write_text(json.dumps(sftp_config(campaign)))
    assert main(["--config", str(config), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    steps = {step["step"]: step for step in report["steps"]}
    assert list(steps) == ["token", "metadata", "page", "journal", "sftp"]
    assert steps["page"]["detail"].endswith("first page, 5 records, more pages")
    assert steps["sftp"]["detail"].endswith(f"1 opt-out export file(s), latest {export['file']}")
    assert campaign.info["client_secret"] not in json.dumps(report)

    _, impostor = key_pair()
    config.write_text(json.dumps(sftp_config(campaign, sftp_host_key=impostor)))
    assert main(["--config", str(config)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("ok token: acquired; expires in ")
    assert lines[-1].startswith("FAIL sftp: SFTP server 127.0.0.1") or lines[-1].startswith(
        "FAIL sftp: SFTP server [127.0.0.1]"
    )
