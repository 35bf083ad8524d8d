"""A config error, from the command line, in every mode: one line, exit 2, no request sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import CONTACT_SCHEMA, ROUTES, connection

BIN = Path(sys.executable).parent
MODES = {"sync": "target-adobe-campaign", "check": "target-adobe-campaign-check"}


def run(executable: str, settings: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(settings))
    return subprocess.run(
        [BIN / executable, "--config", config_file],
        input=json.dumps(CONTACT_SCHEMA) + "\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def settings(campaign, tmp_path: Path, **extra) -> dict:
    rejects = str(tmp_path / "rejects.jsonl")
    return {**connection(campaign), "resources": ROUTES, "rejects_file": rejects, **extra}


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_secret_fails_in_one_line_before_any_request(campaign, tmp_path, mode) -> None:
    done = run(MODES[mode], settings(campaign, tmp_path, client_secret=""), tmp_path)

    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    error = "target-adobe-campaign: config error: client_secret must not be empty"
    assert [line for line in done.stderr.splitlines() if "config error" in line] == [error]
    assert done.stderr.splitlines()[-1] == error
    assert campaign.admin.requests() == []  # neither IMS nor the gateway was called


def test_a_misspelt_setting_is_named_with_a_hint_or_refused_when_strict(campaign, tmp_path) -> None:
    lenient = run(MODES["sync"], settings(campaign, tmp_path, max_concurency=2), tmp_path)
    assert lenient.returncode == 0, lenient.stderr[-2000:]
    assert "Unknown setting 'max_concurency' (did you mean 'max_concurrency'?)" in lenient.stderr

    campaign.admin.clear_requests()
    strict = settings(campaign, tmp_path, max_concurency=2, strict_settings=True)
    done = run(MODES["sync"], strict, tmp_path)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == (
        "target-adobe-campaign: config error: unknown setting 'max_concurency' (did you mean "
        "'max_concurrency'?) (strict_settings is on)"
    )
    assert campaign.admin.requests() == []
