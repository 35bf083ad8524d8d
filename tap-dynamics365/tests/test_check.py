"""tap-dynamics365-check: the steps against the sandbox, the report, exit statuses."""

from __future__ import annotations

import json
import typing as t

import pytest
from dataverse_client.checks import page_step
from dataverse_client.client import DataverseClient
from sync_support.checks import CheckResult, CheckStep, print_report, run_checks
from tap_dynamics365.check import main

from .conftest import CONFIG

if t.TYPE_CHECKING:
    from pathlib import Path


def _config_file(tmp_path: Path, **overrides: t.Any) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**CONFIG, **overrides}))
    return str(path)


def test_runner_times_steps_and_contains_failures() -> None:
    def boom() -> str:
        raise RuntimeError("no route to host")

    results = run_checks(
        [CheckStep("first", boom), CheckStep("second", lambda: "fine"), CheckStep("third", boom)]
    )

    assert [(r.step, r.ok, r.detail) for r in results] == [
        ("first", False, "no route to host"),
        ("second", True, "fine"),
        ("third", False, "no route to host"),
    ]
    assert all(isinstance(r.ms, int) for r in results)  # whole milliseconds, for the report


def test_report_lines_and_exit_status(capsys: pytest.CaptureFixture[str]) -> None:
    good = CheckResult("token", ok=True, detail="acquired; expires in 3599 s", ms=12)
    bad = CheckResult("page", ok=False, detail="403 0x80040220: denied", ms=7)

    assert print_report([good]) == 0
    assert print_report([good, bad]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        "ok token: acquired; expires in 3599 s (12 ms)",
        "ok token: acquired; expires in 3599 s (12 ms)",
        "FAIL page: 403 0x80040220: denied (7 ms)",
    ]


def test_check_passes_against_the_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = main(["--config", _config_file(tmp_path, tables=["contact", "new_*"])])

    lines = capsys.readouterr().out.splitlines()
    assert status == 0, lines
    assert [line.split(":")[0] for line in lines] == [
        "ok token",
        "ok tables",
        "ok metadata",
        "ok page",
    ]
    assert "expires in" in lines[0]
    assert CONFIG["client_secret"] not in "\n".join(lines)
    assert "contact, new_category, new_project, new_projecttask" in lines[1]
    # The first table named in `tables` is the one read, not the alphabetically first.
    assert lines[2].startswith("ok metadata: contact: entity set contacts, ")
    assert "change tracking on" in lines[2]
    assert lines[3].startswith("ok page: contact: first page, 5 records, more pages (")


def test_json_report_and_env_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for key, value in CONFIG.items():
        monkeypatch.setenv(f"TAP_DYNAMICS365_{key.upper()}", value)
    monkeypatch.setenv("TAP_DYNAMICS365_TABLES", '["new_cat*"]')
    monkeypatch.setenv("TAP_DYNAMICS365_INCLUDE_CUSTOM_TABLES", "false")

    status = main(["--config", "ENV", "--json"])

    report = json.loads(capsys.readouterr().out)
    assert status == 0
    assert report["ok"] is True
    steps = {step["step"]: step for step in report["steps"]}
    assert set(steps) == {"token", "tables", "metadata", "page"}
    assert steps["tables"]["detail"] == "1 selected (new_category)"
    assert "change tracking off" in steps["metadata"]["detail"]
    assert all(isinstance(step["ms"], int) for step in report["steps"])


def test_wrong_secret_fails_every_step_without_printing_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = "not-the-secret-4711"
    status = main(["--config", _config_file(tmp_path, client_secret=secret, max_retries=0)])

    out = capsys.readouterr().out
    assert status == 1
    assert out.startswith("FAIL token: Entra ID refused the client credentials")
    assert "invalid_client" in out
    assert len(out.splitlines()) == 4  # the later steps ran and failed too
    assert secret not in out


def test_missing_table_fails_only_its_steps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = _config_file(tmp_path, tables=["new_nosuchtable"], include_custom_tables=False)

    status = main(["--config", config])

    lines = capsys.readouterr().out.splitlines()
    assert status == 1
    assert lines[0].startswith("ok token:")
    assert lines[1].startswith("FAIL tables: no table matches")
    assert lines[2].startswith("FAIL metadata: 404 ")
    assert "new_nosuchtable" in lines[2]


def test_config_error_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = _config_file(tmp_path, resource_url="http://localhost:8444")

    assert main(["--config", config]) == 2
    assert "resource_url must be an https:// URL" in capsys.readouterr().err


def test_page_step_reports_a_small_table_in_one_page() -> None:
    client = DataverseClient.from_config(CONFIG)

    (result,) = run_checks([page_step(client, "new_category", page_size=50)])

    assert result.ok, result.detail
    assert result.detail == "new_category: first page, 12 records"
