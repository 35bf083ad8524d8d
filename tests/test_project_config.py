"""meltano.yml declares exactly the settings each plugin reports through `--about`.

Meltano ignores environment variables of undeclared settings, and a setting missing its
`sensitive` flag would be written to meltano.yml in clear by `meltano config set`.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scripts import plugin_settings
from tests.harness import REPO_ROOT

MELTANO_YML = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())


def _plugin(kind: str, name: str) -> dict[str, Any]:
    plugin: dict[str, Any] = next(p for p in MELTANO_YML["plugins"][kind] if p["name"] == name)
    return plugin


@pytest.mark.parametrize(
    ("kind", "name"), [("extractors", "tap-dynamics365"), ("loaders", "target-jsonl")]
)
def test_declared_settings_match_about(kind, name):
    about = plugin_settings.about(_plugin(kind, name)["executable"])
    expected = {s["name"]: s for s in plugin_settings.settings(about)}
    declared = {s["name"]: s for s in _plugin(kind, name)["settings"]}
    assert sorted(declared) == sorted(expected)
    for setting_name, setting in expected.items():
        assert declared[setting_name]["kind"] == setting["kind"], setting_name
        assert bool(declared[setting_name].get("sensitive")) == bool(setting.get("sensitive"))


def test_capabilities_match_about():
    plugin = _plugin("extractors", "tap-dynamics365")
    about = plugin_settings.about(plugin["executable"])
    assert sorted(plugin["capabilities"]) == sorted(about["capabilities"])


def test_plugin_venvs_are_pinned_by_the_lock_file():
    for kind in ("extractors", "loaders", "utilities"):
        for plugin in MELTANO_YML["plugins"][kind]:
            assert plugin["pip_url"].startswith(
                "-c ${MELTANO_PROJECT_ROOT}/requirements/lock.txt -e ${MELTANO_PROJECT_ROOT}/"
            ), plugin["name"]


def test_no_secret_outside_the_sandbox_environment():
    """Only `dev` (the local sandbox's published test values) may carry a client secret."""
    tap = _plugin("extractors", "tap-dynamics365")
    assert "client_secret" not in tap.get("config", {})
    for environment in MELTANO_YML["environments"]:
        extractors = (environment.get("config") or {}).get("plugins", {}).get("extractors", [])
        for extractor in extractors:
            if "client_secret" in extractor.get("config", {}):
                assert environment["name"] == "dev"
                assert extractor["config"]["client_secret"] == "sandbox-dataverse-secret"
