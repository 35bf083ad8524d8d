"""tap-adobe-campaign-check without a server: steps, report lines, JSON, exit statuses."""

from __future__ import annotations

import json
import typing as t

import pytest
from campaign_client.client import CampaignClient
from campaign_client.sftp import RemoteFolder, SFTPSettings
from sync_support.checks import CheckStep, print_report, run_checks
from tap_adobe_campaign.check import journal_step, main, sftp_step, tap_steps
from tap_adobe_campaign.optout_export import DEFAULT_EXPORTS_DIR, is_export_file

from .fakes import FakeAdapter, Reply, query
from .journal_fakes import CONFIG, JOURNAL_PATH, JOURNAL_URL, install
from .sftp_fakes import SFTP_CONFIG, FakeServer, export, row

if t.TYPE_CHECKING:
    from pathlib import Path

    import requests

API = "/org/campaign/profileAndServicesExt"
F1 = "optouts_20261120T020000000Z.csv"


def client_with(adapter: FakeAdapter) -> CampaignClient:
    client = CampaignClient.from_config({**CONFIG, "max_retries": 0})
    install(adapter, client)
    return client


def campaign() -> FakeAdapter:
    adapter = FakeAdapter()
    adapter.route(API + "/resourceType/profile", (200, {}, {"content": {"email": {}, "PKey": {}}}))

    def page(request: requests.PreparedRequest) -> Reply:
        rows = [{"PKey": "@a"}] * int(query(request)["_lineCount"])
        return 200, {}, {"content": rows, "next": {"href": "x"}}

    adapter.route(API + "/profile", page)
    adapter.route(JOURNAL_PATH, (204, {}, b""))
    return adapter


def test_every_step_runs_and_a_failure_becomes_one_line() -> None:
    def boom() -> str:
        raise RuntimeError("gateway said\nno")

    results = run_checks([CheckStep("a", lambda: "fine"), CheckStep("b", boom)])
    assert [(r.step, r.ok, r.detail) for r in results] == [
        ("a", True, "fine"),
        ("b", False, "gateway said no"),
    ]
    assert results[1].line().startswith("FAIL b: gateway said no (")
    assert results[1].line().endswith(" ms)")


def test_report_lines_json_and_exit_status(capsys) -> None:
    results = run_checks([CheckStep("token", lambda: "acquired; expires in 5 s")])
    assert print_report(results) == 0
    assert capsys.readouterr().out.startswith("ok token: acquired; expires in 5 s (")
    failed = run_checks([CheckStep("page", lambda: 1 / 0)])
    assert print_report(failed, as_json=True) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["ok"] is False
    assert document["steps"][0]["step"] == "page"
    assert set(document["steps"][0]) == {"step", "ok", "detail", "ms"}


def test_tap_steps_token_metadata_page_journal_and_sftp() -> None:
    adapter = campaign()
    client = client_with(adapter)
    steps = tap_steps(client, {**SFTP_CONFIG, "sftp_host": None})
    results = run_checks(steps)
    assert [(r.step, r.ok) for r in results] == [
        ("token", True),
        ("metadata", True),
        ("page", True),
        ("journal", True),
    ]
    assert results[0].detail == "acquired; expires in 86399 s"
    assert "tok" not in " ".join(r.detail for r in results)
    assert results[1].detail == "profileAndServicesExt/profile: 2 fields"
    assert results[2].detail == "profileAndServicesExt/profile: first page, 5 records, more pages"
    assert results[3].detail == "reachable, no events retained"
    journal = next(r for r in adapter.sent if r.url and r.url.startswith(JOURNAL_URL))
    assert query(journal) == {"limit": "1"}
    assert journal.headers["x-ims-org-id"] == CONFIG["ims_org_id"]
    assert [s.step for s in tap_steps(client, SFTP_CONFIG)][-1] == "sftp"
    no_journal = {k: v for k, v in CONFIG.items() if k != "events_journal_url"}
    assert [s.step for s in tap_steps(client, no_journal)] == ["token", "metadata", "page"]


def test_a_refused_journal_fails_its_step_only() -> None:
    adapter = campaign()
    adapter.route(JOURNAL_PATH, (403, {}, {"error_code": "403003", "message": "Api Key invalid"}))
    [result] = run_checks([journal_step(client_with(adapter), JOURNAL_URL, "org@AdobeOrg")])
    assert not result.ok
    assert "403 403003" in result.detail


def test_sftp_step_lists_the_export_folder() -> None:
    server = FakeServer({F1: export(row("@p1")), "other.txt": b""})
    settings = SFTPSettings.from_config(SFTP_CONFIG)
    [result] = run_checks(
        [sftp_step(lambda: RemoteFolder(settings, DEFAULT_EXPORTS_DIR, opener=server))]
    )
    where = "[sftp.test]:2222:d365_loads/exports"
    assert result.detail == f"{where}: 1 opt-out export file(s), latest {F1}"
    assert server.closed == 1
    assert is_export_file(F1)


def test_config_errors_exit_2(tmp_path: Path, capsys) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**SFTP_CONFIG, "sftp_host_key": None}))
    assert main(["--config", str(config)]) == 2
    assert "sftp_host_key is required with sftp_host" in capsys.readouterr().err
    assert main(["--config", str(tmp_path / "missing.json")]) == 2
    assert "cannot read the config" in capsys.readouterr().err


def test_env_config(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("TAP_ADOBE_CAMPAIGN_ORGANIZATION", "org")
    monkeypatch.setenv("TAP_ADOBE_CAMPAIGN_CLIENT_ID", "c")
    monkeypatch.setenv("TAP_ADOBE_CAMPAIGN_CLIENT_SECRET", "s")
    monkeypatch.setenv("TAP_ADOBE_CAMPAIGN_OPT_OUT_SYNC", "sideways")
    assert main(["--config", "ENV"]) == 2
    assert "config['opt_out_sync']" in capsys.readouterr().err
