"""A config error, from the command line: one line, exit 2, no request sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import connection

BIN = Path(sys.executable).parent
MODES = {
    "discovery": ["tap-adobe-campaign", "--discover"],
    "test": ["tap-adobe-campaign", "--test"],
    "sync": ["tap-adobe-campaign"],
    "check": ["tap-adobe-campaign-check"],
}
ERROR = "tap-adobe-campaign: config error: client_secret must not be empty"


def _run(campaign, tmp_path: Path, *command: str) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "config.json"
    config.write_text(json.dumps(connection(campaign, client_secret="")))
    executable, *args = command
    return subprocess.run(
        [BIN / executable, "--config", config, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_secret_fails_in_one_line_before_any_request(campaign, tmp_path, mode) -> None:
    done = _run(campaign, tmp_path, *MODES[mode])

    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    assert [line for line in done.stderr.splitlines() if "config error" in line] == [ERROR]
    assert done.stderr.splitlines()[-1] == ERROR
    assert campaign.admin.requests() == []  # neither IMS nor the gateway was called
