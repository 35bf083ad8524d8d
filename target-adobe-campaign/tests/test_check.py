"""`target-adobe-campaign-check` on the sandbox: token, each routed resource's metadata, page."""

from __future__ import annotations

import json
import re

from target_adobe_campaign.check import main

from .helpers import connection, writes
from .test_two_levels import TASK_ROUTES
from .v8 import v8_config

LINE = re.compile(r"^(ok|FAIL) (\S+(?: \S+)?): .* \(\d+ ms\)$")


def write_config(tmp_path, config) -> str:
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_every_routed_resource_is_checked(campaign, tmp_path, capsys) -> None:
    config = {**connection(campaign), "resources": TASK_ROUTES}
    assert main(["--config", write_config(tmp_path, config)]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), out
    assert [m[2] for m in matches if m] == [
        "token",
        "metadata profile",
        "page profile",
        "metadata cusProject",
        "page cusProject",
        "metadata cusProjectTask",
        "page cusProjectTask",
    ]
    assert lines[0].startswith("ok token: acquired; expires in ")
    assert "first page, 5 records" in lines[2]
    assert campaign.info["client_secret"] not in out
    assert writes(campaign) == []


def test_a_resource_the_tenant_lacks_fails_its_steps(campaign, tmp_path, capsys) -> None:
    resources = {**TASK_ROUTES, "thing": {"resource": "cusThing", "key": "cusCrmId"}}
    config = {**connection(campaign), "resources": resources}
    assert main(["--config", write_config(tmp_path, config), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    failed = [step["step"] for step in report["steps"] if not step["ok"]]
    assert (report["ok"], failed) == (False, ["metadata cusThing", "page cusThing"])


def test_env_config_and_config_errors(campaign, tmp_path, capsys, monkeypatch) -> None:
    for name, value in connection(campaign).items():
        monkeypatch.setenv(f"TARGET_ADOBE_CAMPAIGN_{name.upper()}", str(value))
    monkeypatch.setenv(
        "TARGET_ADOBE_CAMPAIGN_RESOURCES", json.dumps({"contact": {"resource": "profile"}})
    )
    assert main(["--config", "ENV"]) == 0
    assert "ok page profile" in capsys.readouterr().out

    monkeypatch.setenv("TARGET_ADOBE_CAMPAIGN_OPT_OUT_SYNC", "sideways")
    assert main(["--config", "ENV"]) == 2
    assert "opt_out_sync" in capsys.readouterr().err


def test_env_config_as_meltano_hands_it_to_a_command(campaign, monkeypatch, capsys) -> None:
    """Meltano flattens an object setting's nested keys in its variable: they are nested again."""
    for key, value in connection(campaign).items():
        monkeypatch.setenv(f"TARGET_ADOBE_CAMPAIGN_{key.upper()}", str(value))
    flat = {
        f"{stream}.{path}": value
        for stream, route in TASK_ROUTES.items()
        for path, value in _flatten(route)
    }
    monkeypatch.setenv("TARGET_ADOBE_CAMPAIGN_RESOURCES", json.dumps(flat))
    assert main(["--config", "ENV"]) == 0, capsys.readouterr()


def _flatten(value, prefix=""):
    """`{"a": {"b": 1}}` → `[("a.b", 1)]`, the way Meltano writes object settings."""
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, dict):
            yield from _flatten(item, f"{path}.")
        else:
            yield path, item


def test_on_v8_every_routed_schema_is_checked_over_soap(campaign, tmp_path, capsys) -> None:
    config = {**v8_config(campaign), "resources": TASK_ROUTES}
    assert main(["--config", write_config(tmp_path, config)]) == 0
    lines = capsys.readouterr().out.splitlines()
    matches = [LINE.match(line) for line in lines]
    assert all(matches), lines
    assert [m[2] for m in matches if m] == [
        "logon",
        "schema nms:recipient",
        "page nms:recipient",
        "schema cus:project",
        "page cus:project",
        "schema cus:projectTask",
        "page cus:projectTask",
    ]
    assert "first page, 5 records" in lines[2]
    assert campaign.info["operator_password"] not in "\n".join(lines)

    missing = {**TASK_ROUTES, "x": {"resource": "cusNothing", "key": "cusCrmId"}}
    config = {**v8_config(campaign), "resources": missing}
    assert main(["--config", write_config(tmp_path, config)]) == 1
    out = capsys.readouterr().out
    assert "FAIL schema cus:nothing: cus:nothing: no such schema on this instance" in out
