"""`meltano invoke target-dynamics365:provision` on an org without Adobe's activity tables.

The `provision` command of the target-dynamics365 loader (meltano.yml) runs the plugin venv's
`target-dynamics365-provision --config ENV`, so the connection arrives as the
`TARGET_DYNAMICS365_*` variables Meltano sets from the plugin's settings. The test checks the
org with plain HTTP (`DataverseReader`), not with the command's own client.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from crm_sandbox.testing import Sandbox, launch

from tests.dataverse_reader import DataverseReader
from tests.harness import EVENTS_LOADER, MeltanoProject

ACTIVITY_TABLES = ("acs_emailsend", "acs_emailopen", "acs_emailclick", "acs_emailbounce")
KEY_COLUMN = "acs_eventid"
COMMAND = f"{EVENTS_LOADER}:provision"


def target_env(sandbox: Sandbox) -> dict[str, str]:
    """The sandbox connection as target-dynamics365 settings (`TARGET_DYNAMICS365_*`)."""
    return {
        key.replace("TAP_DYNAMICS365_", "TARGET_DYNAMICS365_", 1): value
        for key, value in sandbox.tap_env().items()
    }


def invoke(
    project: MeltanoProject, env: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    """`meltano invoke target-dynamics365:provision [args]`, failing with its output."""
    done = project.meltano("invoke", COMMAND, *args, env=env, timeout=300)
    assert done.returncode == 0, (
        f"meltano invoke {COMMAND} {' '.join(args)} exited {done.returncode}:\n"
        f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}"
    )
    return done


def report_lines(done: subprocess.CompletedProcess[str]) -> list[str]:
    """The command's report (it prints to stdout), one stripped line each."""
    return [line.strip() for line in done.stdout.splitlines() if line.strip()]


def event_keys(reader: DataverseReader, table: str) -> list[dict[str, Any]]:
    """The table's alternate keys on exactly `acs_eventid`."""
    body = reader.get(
        f"EntityDefinitions(LogicalName='{table}')/Keys"
        "?$select=LogicalName,KeyAttributes,EntityKeyIndexStatus"
    )
    return [key for key in body["value"] if key.get("KeyAttributes") == [KEY_COLUMN]]


def metadata_writes(sandbox: Sandbox) -> list[dict[str, Any]]:
    """Metadata writes (POST/PATCH/PUT/DELETE on EntityDefinitions) in the request log."""
    return [
        r
        for r in sandbox.admin.requests()
        if r["method"] in {"POST", "PATCH", "PUT", "DELETE"} and "EntityDefinitions" in r["path"]
    ]


def test_provision_dry_run_then_creates_the_tables_and_keys_then_nothing(
    meltano_project: MeltanoProject, tmp_path: Path
) -> None:
    sb = launch(state_dir=tmp_path / "sandbox", contacts=50, profiles=10, no_activity_tables=True)
    reader = DataverseReader(sb.tap_env())
    try:
        sb.admin.set_config(key_index_delay_seconds=0.2)
        env = target_env(sb)
        before = set(reader.tables())
        assert not before & set(ACTIVITY_TABLES), "the org already has activity tables"
        sb.admin.clear_requests()

        # 1. --dry-run: reports every table, column and key it would create; creates nothing.
        dry = report_lines(invoke(meltano_project, env, "--dry-run"))
        for table in ACTIVITY_TABLES:
            assert any(line.startswith(f"would create table {table} (") for line in dry), dry
            assert any(
                line.startswith(f"would create key {table}.") and f"({KEY_COLUMN})" in line
                for line in dry
            ), dry
            assert any(
                line.startswith(f"would create column {table}.{KEY_COLUMN} ") for line in dry
            ), dry
        would = [line for line in dry if line.startswith("would create ") and "item(s)" not in line]
        assert dry[-1] == f"would create {len(would)} item(s)", dry
        assert not any(line.startswith("created ") for line in dry), dry
        assert metadata_writes(sb) == []
        assert set(reader.tables()) == before

        # 2. The real run: the four tables, their columns and an Active acs_eventid key.
        created = report_lines(invoke(meltano_project, env))
        done = [line for line in created if line.startswith("create ")]
        assert [line.removeprefix("create ") for line in done] == [
            line.removeprefix("would create ") for line in would
        ]
        assert created[-1] == f"created {len(done)} item(s)", created
        for table in ACTIVITY_TABLES:
            assert f"{table}: key Active" in created, created
        tables = reader.tables()
        assert set(tables) - before == set(ACTIVITY_TABLES)
        for table in ACTIVITY_TABLES:
            assert tables[table].entity_set == f"{table}s"
            keys = event_keys(reader, table)
            assert len(keys) == 1, (table, keys)
            assert keys[0]["EntityKeyIndexStatus"] == "Active", (table, keys)
            columns = reader.get(
                f"EntityDefinitions(LogicalName='{table}')/Attributes?$select=LogicalName"
            )["value"]
            assert KEY_COLUMN in {c["LogicalName"] for c in columns}
        posts = [r for r in metadata_writes(sb) if r["method"] == "POST"]
        assert len(posts) == len(done)
        assert all(r["status"] < 300 for r in posts), posts

        # 3. A second run finds everything complete and creates nothing.
        sb.admin.clear_requests()
        again = report_lines(invoke(meltano_project, env))
        for table in ACTIVITY_TABLES:
            assert f"{table}: complete (key Active)" in again, again
        assert again[-1] == "created 0 item(s)", again
        assert metadata_writes(sb) == []
        assert set(reader.tables()) == set(tables)
        for table in ACTIVITY_TABLES:
            assert [k["EntityKeyIndexStatus"] for k in event_keys(reader, table)] == ["Active"]
    finally:
        reader.session.close()
        sb.admin.session.close()  # release our keep-alive connection before the shutdown
        sb.stop()
