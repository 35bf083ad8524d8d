"""A config error, from the command line, in every mode: one line, exit 2, no request sent."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import CONFIG

BIN = Path(sys.executable).parent
MODES = {
    "discovery": ["tap-dynamics365", "--discover"],
    "test": ["tap-dynamics365", "--test"],
    "sync": ["tap-dynamics365"],
    "check": ["tap-dynamics365-check"],
}


@pytest.mark.parametrize("mode", MODES)
def test_an_empty_secret_fails_in_one_line_before_any_request(admin, tmp_path, mode) -> None:
    config = tmp_path / "config.json"
    config.write_text(json.dumps({**CONFIG, "client_secret": ""}))
    executable, *args = MODES[mode]

    done = subprocess.run(
        [BIN / executable, "--config", config, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "config error" in line]
    assert errors == [
        "tap-dynamics365: config error: client_secret is required and must not be empty "
        "(or set client_certificate_path + client_certificate_thumbprint)"
    ]
    assert done.stderr.splitlines()[-1] == errors[0]
    assert admin.requests() == []  # neither Entra nor Dataverse was called
