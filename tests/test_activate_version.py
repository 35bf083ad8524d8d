"""A warehouse loader removes rows deleted at the source: ACTIVATE_VERSION into target-postgres.

tap-dynamics365 reads tables without change tracking in full on a first run or a full refresh,
and then emits ACTIVATE_VERSION. MeltanoLabs' target-postgres (installed from PyPI into its own
venv) loads into a PostgreSQL server this test starts on a free loopback port; after accounts
are deleted in Dataverse, a full refresh leaves exactly Dataverse's accounts in the table.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from crm_sandbox.testing import Sandbox

from tests.dataverse_reader import DataverseReader

TARGET_POSTGRES = "meltanolabs-target-postgres==0.8.1"
UV = str(Path(sys.executable).with_name("uv"))
TAP = str(Path(sys.executable).with_name("tap-dynamics365"))
PG_BIN = Path("/usr/lib/postgresql/15/bin")
SCHEMA = "crm"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _as_postgres(*args: str) -> None:
    """Run a server command as the `postgres` user (the server refuses to run as root)."""
    command = [*args] if os.geteuid() != 0 else ["runuser", "-u", "postgres", "--", *args]
    subprocess.run(command, check=True, capture_output=True, timeout=120)


@pytest.fixture
def postgres() -> Iterator[int]:
    """A throwaway PostgreSQL server on a free loopback port (trust auth); its port."""
    home = Path(tempfile.mkdtemp(prefix="crm-pg-"))
    home.chmod(0o755)
    data = home / "data"
    if os.geteuid() == 0:
        shutil.chown(home, "postgres", "postgres")
    port = _free_port()
    _as_postgres(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres")
    options = f"-p {port} -k {home} -c listen_addresses=127.0.0.1"
    log = str(home / "server.log")  # the server must not hold our pipes open
    _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-o", options, "-l", log, "-w", "start")
    try:
        yield port
    finally:
        _as_postgres(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop")
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def target_postgres(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """target-postgres from PyPI in a venv of its own; its executable."""
    venv = tmp_path_factory.mktemp("target-postgres") / "venv"
    subprocess.run([UV, "venv", "-q", str(venv)], check=True, timeout=120)
    subprocess.run(
        [UV, "pip", "install", "-q", "--python", str(venv / "bin" / "python"), TARGET_POSTGRES],
        check=True,
        timeout=600,
    )
    return venv / "bin" / "target-postgres"


def _sync(tap_config: Path, target: Path, target_config: Path, state: Path | None) -> list[str]:
    """tap | target; return the streams of the tap's ACTIVATE_VERSION messages, in order."""
    tap_args = [TAP, "--config", str(tap_config)] + (["--state", str(state)] if state else [])
    tap = subprocess.run(tap_args, capture_output=True, text=True, timeout=300, check=False)
    assert tap.returncode == 0, tap.stderr[-3000:]
    loaded = subprocess.run(
        [str(target), "--config", str(target_config)],
        input=tap.stdout,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    if state is not None:
        state.write_text(loaded.stdout.strip().splitlines()[-1])
    messages = [json.loads(line) for line in tap.stdout.splitlines()]
    return [m["stream"] for m in messages if m["type"] == "ACTIVATE_VERSION"]


def _account_ids(port: int) -> set[str]:
    sql = f'SELECT accountid FROM "{SCHEMA}"."account"'
    psql = ["psql", "-h", "127.0.0.1", "-p", str(port)]
    done = subprocess.run(
        [*psql, "-U", "postgres", "-At", "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return set(done.stdout.split())


def test_a_full_read_removes_rows_deleted_at_the_source(
    sandbox: Sandbox,
    reader: DataverseReader,
    postgres: int,
    target_postgres: Path,
    tmp_path: Path,
) -> None:
    env = sandbox.tap_env()
    tap_settings: dict[str, Any] = {
        key.removeprefix("TAP_DYNAMICS365_").lower(): value for key, value in env.items()
    }
    tap_config = tmp_path / "tap.json"
    tap_config.write_text(
        json.dumps(
            {
                **tap_settings,
                "tables": ["account"],
                "include_custom_tables": False,
                "use_change_tracking": False,  # polled: deletes are never seen row by row
            }
        )
    )
    target_config = tmp_path / "target.json"
    target_config.write_text(
        json.dumps(
            {
                "host": "127.0.0.1",
                "port": postgres,
                "user": "postgres",
                "password": "",
                "database": "postgres",
                "default_target_schema": SCHEMA,
                "hard_delete": True,
            }
        )
    )
    state = tmp_path / "state.json"
    state.write_text("{}")

    first = _sync(tap_config, target_postgres, target_config, state)
    account = reader.tables()["account"]
    accounts = reader.ids(account)
    assert accounts
    assert first.count("account") == 1
    assert _account_ids(postgres) == accounts

    gone = sandbox.admin.delete_rows("accounts", 3)
    incremental = _sync(tap_config, target_postgres, target_config, state)
    assert "account" not in incremental  # a read from the bookmark is no full copy
    assert _account_ids(postgres) == accounts  # the deletes are unseen row by row

    refresh = _sync(tap_config, target_postgres, target_config, None)  # --full-refresh
    assert refresh.count("account") == 1
    assert _account_ids(postgres) == accounts - set(gone) == reader.ids(account)
