"""A config error, from the command line, in every mode: one line, exit 2, no request sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .helpers import config, singer_input

BIN = Path(sys.executable).parent
MODES = {"sync": "target-dynamics365", "check": "target-dynamics365-check"}


def run(executable: str, settings: dict, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(settings))
    return subprocess.run(
        [BIN / executable, "--config", config_file],
        input=singer_input([{"externalId": None}]),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_secret_fails_in_one_line_before_any_request(admin, tmp_path, mode) -> None:
    done = run(MODES[mode], {**config(tmp_path), "client_secret": ""}, tmp_path)

    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "config error" in line]
    assert errors == [
        "target-dynamics365: config error: client_secret is required and must not be empty "
        "(or set client_certificate_path + client_certificate_thumbprint)"
    ]
    assert done.stderr.splitlines()[-1] == errors[0]
    assert admin.requests() == []  # neither Entra nor Dataverse was called


def test_a_misspelt_setting_is_named_with_a_hint_or_refused_when_strict(admin, tmp_path) -> None:
    lenient = run(MODES["sync"], {**config(tmp_path), "batch_size_row": 5}, tmp_path)
    assert lenient.returncode == 0, lenient.stderr[-2000:]
    assert "Unknown setting 'batch_size_row' (did you mean 'batch_size_rows'?)" in lenient.stderr

    admin.clear_requests()
    strict = run(
        MODES["sync"],
        {**config(tmp_path), "batch_size_row": 5, "strict_settings": True},
        tmp_path,
    )
    assert strict.returncode == 2
    assert strict.stderr.splitlines()[-1] == (
        "target-dynamics365: config error: unknown setting 'batch_size_row' (did you mean "
        "'batch_size_rows'?) (strict_settings is on)"
    )
    assert admin.requests() == []
