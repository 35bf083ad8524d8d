"""`target-dynamics365-check` against the sandbox: every step, the report, exit statuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import typing as t

import pytest
from crm_sandbox.testing import launch
from target_dynamics365 import check
from target_dynamics365.events import ACTIVITY_TABLES
from target_dynamics365.provision import TablePlan

from .conftest import CONNECTION
from .helpers import client, writes

if t.TYPE_CHECKING:
    from pathlib import Path

STEPS = [
    "token",
    "metadata",
    "page",
    "opt-out columns",
    "activity table acs_emailsend",
    "activity table acs_emailopen",
    "activity table acs_emailclick",
    "activity table acs_emailbounce",
    "UpsertMultiple",
]


def run_check(
    settings: dict[str, t.Any], tmp_path: Path, *args: str
) -> subprocess.CompletedProcess:
    """Run the console script's module with a config file."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(settings))
    return subprocess.run(
        [sys.executable, "-m", "target_dynamics365.check", "--config", str(config_file), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_every_step_ok_on_a_provisioned_org_and_only_reads(admin, tmp_path) -> None:
    result = run_check(CONNECTION, tmp_path)

    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == [f"ok {step}" for step in STEPS]
    assert lines[0].startswith("ok token: acquired; expires in ")
    assert lines[2].startswith("ok page: contact: first page, 5 records, more pages (")
    assert lines[3].startswith(
        "ok opt-out columns: contacts: donotbulkemail, donotemail, donotfax, donotphone, "
        "donotpostalmail, modifiedon readable ("
    )
    assert lines[4].startswith(
        "ok activity table acs_emailsend: 5 event columns, key acs_eventid_key (acs_eventid) Active"
    )
    assert lines[-1].startswith("ok UpsertMultiple: available on 4 of 4 activity tables (")
    assert CONNECTION["client_secret"] not in result.stdout + result.stderr
    assert writes(admin.requests()) == []


def test_json_report_and_a_table_without_upsert_multiple(admin, tmp_path) -> None:
    admin.set_bulk_messages("acs_emailclick", enabled=False)
    try:
        result = run_check(CONNECTION, tmp_path, "--json")
    finally:
        admin.set_bulk_messages("acs_emailclick", enabled=True)

    assert result.returncode == 0, result.stdout
    report = json.loads(result.stdout)
    assert report["ok"] is True
    assert [step["step"] for step in report["steps"]] == STEPS
    assert report["steps"][-1]["detail"] == (
        "available on 3 of 4 activity tables; acs_emailclick written with $batch change sets"
    )
    assert all(isinstance(step["ms"], int) for step in report["steps"])


def test_an_unknown_mapped_column_fails_its_step(admin, tmp_path) -> None:
    settings = {**CONNECTION, "opt_out_mapping": {"blackListEmail": ["donotcarrierpigeon"]}}
    result = run_check(settings, tmp_path)

    assert result.returncode == 1
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert line.startswith("FAIL opt-out columns: ")
    assert "donotcarrierpigeon" in line


def test_an_org_without_the_activity_tables_fails_with_what_to_do(tmp_path) -> None:
    bare = launch(contacts=3, seed=3, projects=0, profiles=0, no_activity_tables=True)
    try:
        settings = {
            key.removeprefix("TAP_DYNAMICS365_").lower(): value
            for key, value in bare.tap_env().items()
        }
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("TARGET_DYNAMICS365_")},
            **{"TARGET_DYNAMICS365_" + key.upper(): value for key, value in settings.items()},
        }
        result = subprocess.run(
            [sys.executable, "-m", "target_dynamics365.check", "--config", "ENV"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        bare.admin.session.close()
        bare.stop()

    assert result.returncode == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("FAIL")]
    assert [line.split(":", 1)[0] for line in failed] == [
        f"FAIL activity table {table.logical_name}" for table in ACTIVITY_TABLES.values()
    ]
    assert failed[0].startswith(
        "FAIL activity table acs_emailsend: missing table acs_emailsend (Adobe Campaign Email "
        "Send); column acs_emailsend.acs_eventid (Event ID, String);"
    )
    assert (
        "key acs_emailsend.acs_eventid_key (acs_eventid): run target-dynamics365-provision"
        in (failed[0])
    )


def test_a_key_not_active_yet_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    table = ACTIVITY_TABLES["open"]
    monkeypatch.setattr(check, "plan", lambda client, table: TablePlan(table, [], "Pending"))
    (result,) = check.run_checks([check.activity_table_step(client(), table)])
    assert not result.ok
    assert result.detail == (
        "key acs_eventid_key is Pending (not Active yet): wait, then run "
        "target-dynamics365-provision to confirm"
    )


def test_a_config_error_exits_2(tmp_path) -> None:
    result = run_check({**CONNECTION, "resource_url": "http://org"}, tmp_path)
    assert result.returncode == 2
    assert "resource_url must be an https:// URL" in result.stderr
