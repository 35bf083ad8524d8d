"""The opt-out export workflow: file names, CSV format, incremental watermark, full mode."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign, start_in_thread
from crm_sandbox.campaign.seed import SeedSizes
from crm_sandbox.campaign.server import CampaignServeOptions

from .conftest import serve_campaign

FLAGS = [
    "blackList",
    "blackListEmail",
    "blackListFax",
    "blackListMobile",
    "blackListPhone",
    "blackListPostalMail",
    "blackListPushnotification",
    "ccpaOptOut",
]
HEADER = ["PKey", "externalId", "email", "lastModified"] + [
    c for f in FLAGS for c in (f, f"{f}LastModified")
]
NAME = re.compile(r"^optouts_\d{8}T\d{9}Z\.csv$")
STAMP = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(60, projects=0), seed=7)


@pytest.fixture(autouse=True)
def fresh(campaign: RunningCampaign) -> None:
    campaign.restore()


def folder(campaign: RunningCampaign) -> Path:
    return Path(campaign.options.state_dir) / "campaign-sftp" / "d365_loads" / "exports"


def read(campaign: RunningCampaign, name: str) -> list[dict[str, str]]:
    raw = (folder(campaign) / name).read_bytes()
    reader = csv.reader(io.StringIO(raw.decode("utf-8"), newline=""))
    header, *rows = list(reader)
    assert header == HEADER
    return [dict(zip(header, row, strict=True)) for row in rows]


def latest(profile: dict[str, Any]) -> str:
    return max((t for t in profile["optOutChanges"].values() if t), default="")


def expected_row(profile: dict[str, Any]) -> dict[str, str]:
    row = {
        "PKey": profile["PKey"],
        "externalId": profile.get("externalId") or "",
        "email": profile.get("email") or "",
        "lastModified": profile["lastModified"],
    }
    for flag in FLAGS:
        row[flag] = "1" if profile[flag] else "0"
        row[f"{flag}LastModified"] = profile["optOutChanges"][flag] or ""
    return row


def ordered(profiles: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [expected_row(p) for p in sorted(profiles, key=lambda p: (latest(p), p["PKey"]))]


def test_first_run_exports_every_profile_with_a_change_time(campaign: RunningCampaign) -> None:
    profiles = campaign.admin.find_rows("profile")
    changed = [p for p in profiles if latest(p)]
    assert 0 < len(changed) < len(profiles)
    result = campaign.admin.run_opt_out_export()
    assert result["rows"] == len(changed)
    assert NAME.match(result["file"])
    rows = read(campaign, result["file"])
    assert rows == ordered(changed)
    assert all(STAMP.match(r["lastModified"]) for r in rows)
    status = campaign.admin.opt_out_export_status()
    assert status["watermark"] == max(latest(p) for p in changed)
    assert status["files"] == [result["file"]]


def test_an_empty_increment_writes_no_file(campaign: RunningCampaign) -> None:
    first = campaign.admin.run_opt_out_export()
    assert campaign.admin.run_opt_out_export() == {"file": None, "rows": 0}
    assert sorted(p.name for p in folder(campaign).iterdir()) == [first["file"]]


def test_an_increment_holds_only_the_profiles_changed_since(campaign: RunningCampaign) -> None:
    campaign.admin.run_opt_out_export()
    profiles = campaign.admin.find_rows("profile")
    raised = next(p for p in profiles if not p["blackListPhone"])
    cleared = next(p for p in profiles if p["blackListEmail"] and p["PKey"] != raised["PKey"])
    campaign.admin.update_row("profile", raised["PKey"], {"blackListPhone": True})
    campaign.admin.shift_clock(1)  # distinct change times, whatever the machine's speed
    campaign.admin.update_row("profile", cleared["PKey"], {"blackListEmail": False})
    campaign.admin.update_row("profile", profiles[0]["PKey"], {"firstName": "Not an opt-out"})
    result = campaign.admin.run_opt_out_export()
    assert result["rows"] == 2
    now = {p["PKey"]: p for p in campaign.admin.find_rows("profile")}
    rows = read(campaign, result["file"])
    assert rows == [expected_row(now[raised["PKey"]]), expected_row(now[cleared["PKey"]])]
    assert rows[0]["blackListPhone"] == "1"
    assert rows[1]["blackListEmail"] == "0"
    assert rows[1]["blackListEmailLastModified"] > rows[0]["blackListPhoneLastModified"]
    status = campaign.admin.opt_out_export_status()
    assert status["watermark"] == rows[1]["blackListEmailLastModified"]


def test_full_exports_every_profile_with_an_opt_out_and_keeps_the_increment_going(
    campaign: RunningCampaign,
) -> None:
    campaign.admin.run_opt_out_export()
    created = campaign.admin.create_row("profile", {"email": "set@example.com", "ccpaOptOut": True})
    profiles = campaign.admin.find_rows("profile")
    relevant = [p for p in profiles if latest(p) or any(p[f] for f in FLAGS)]
    assert created["PKey"] in {p["PKey"] for p in relevant}
    full = campaign.admin.run_opt_out_export(full=True)
    assert full["rows"] == len(relevant)
    assert read(campaign, full["file"]) == ordered(relevant)
    assert campaign.admin.run_opt_out_export() == {"file": None, "rows": 0}


def test_csv_quoting_utf8_and_line_ends(campaign: RunningCampaign) -> None:
    campaign.admin.run_opt_out_export()
    external_id = 'CRM,"7"\u00e9'
    created = campaign.admin.create_row("profile", {"externalId": external_id, "blackList": True})
    result = campaign.admin.run_opt_out_export()
    raw = (folder(campaign) / result["file"]).read_bytes()
    assert b"\r" not in raw
    assert raw.endswith(b"\n")
    assert raw.count(b"\n") == 2  # header + one row
    assert '"CRM,""7""\u00e9"'.encode() in raw
    (row,) = read(campaign, result["file"])
    assert row["PKey"] == created["PKey"]
    assert row["externalId"] == external_id
    assert row["email"] == ""
    assert row["blackListEmailLastModified"] == ""
    assert row["blackList"] == "1"
    assert STAMP.match(row["blackListLastModified"])


def test_names_follow_run_order_even_when_the_clock_goes_back(campaign: RunningCampaign) -> None:
    profile = campaign.admin.find_rows("profile")[0]
    first = campaign.admin.run_opt_out_export(full=True)["file"]
    campaign.admin.shift_clock(-3600)
    try:
        campaign.admin.update_row("profile", profile["PKey"], {"blackListFax": True})
        second = campaign.admin.run_opt_out_export(full=True)["file"]
    finally:
        campaign.admin.shift_clock(3600)
    assert NAME.match(second)
    assert second > first
    assert not [p for p in folder(campaign).iterdir() if p.suffix == ".part"]


def test_a_reseed_empties_the_export_folder_and_forgets_the_watermark(
    campaign: RunningCampaign,
) -> None:
    first = campaign.admin.run_opt_out_export()
    campaign.restore()
    assert campaign.admin.opt_out_export_status()["files"] == []
    assert campaign.admin.opt_out_export_status()["watermark"] is None
    assert campaign.admin.run_opt_out_export()["rows"] == first["rows"]


def test_the_watermark_survives_a_restart(tmp_path: Path) -> None:
    options = CampaignServeOptions(
        tmp_path,
        ims_port=0,
        gateway_port=0,
        events_port=0,
        sftp_port=0,
        sizes=SeedSizes(20, projects=0),
    )
    with start_in_thread(options) as first:
        exported = first.admin.run_opt_out_export()
        watermark = first.admin.opt_out_export_status()["watermark"]
    assert exported["rows"] > 0
    with start_in_thread(options) as second:
        status = second.admin.opt_out_export_status()
        assert status["watermark"] == watermark
        assert status["files"] == [exported["file"]]
        assert second.admin.run_opt_out_export() == {"file": None, "rows": 0}
        profiles = second.admin.find_rows("profile")
        pkey = next(p["PKey"] for p in profiles if not p["blackListMobile"])
        second.admin.update_row("profile", pkey, {"blackListMobile": True})
        again = second.admin.run_opt_out_export()
        assert again["rows"] == 1
        assert again["file"] > exported["file"]
