"""meltano.yml declares exactly the settings each plugin reports through `--about`.

Meltano ignores environment variables of undeclared settings, and a setting missing its
`sensitive` flag would be written to meltano.yml in clear by `meltano config set`.
"""

from __future__ import annotations

import copy
import json
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from crm_sandbox.campaign import config as campaign_sandbox
from crm_sandbox.campaign.datamodel import build_resource
from crm_sandbox.campaign.schema import RESOURCES, Resource

from scripts import plugin_settings
from tests.harness import REPO_ROOT, WIZARD_GOLDEN, WIZARD_TABLES, MeltanoProject

MELTANO_YML = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())


def _plugin(kind: str, name: str) -> dict[str, Any]:
    plugin: dict[str, Any] = next(p for p in MELTANO_YML["plugins"][kind] if p["name"] == name)
    return plugin


PLUGINS = [
    ("extractors", "tap-dynamics365"),
    ("extractors", "tap-adobe-campaign"),
    ("loaders", "target-adobe-campaign"),
    ("loaders", "target-dynamics365"),
    ("loaders", "target-jsonl"),
]
#: The sandboxes' published test credentials: the only secret values meltano.yml may hold.
SANDBOX_SECRETS = {
    "client_secret": {"sandbox-dataverse-secret", campaign_sandbox.CLIENT_SECRET},
    "sftp_password": {campaign_sandbox.SFTP_PASSWORD},
}


@pytest.mark.parametrize(("kind", "name"), PLUGINS)
def test_declared_settings_match_about(kind, name):
    about = plugin_settings.about(_plugin(kind, name)["executable"])
    expected = {s["name"]: s for s in plugin_settings.settings(about)}
    declared = {s["name"]: s for s in _plugin(kind, name)["settings"]}
    assert sorted(declared) == sorted(expected)
    for setting_name, setting in expected.items():
        assert declared[setting_name]["kind"] == setting["kind"], setting_name
        assert bool(declared[setting_name].get("sensitive")) == bool(setting.get("sensitive"))


@pytest.mark.parametrize(("kind", "name"), PLUGINS)
def test_capabilities_match_about(kind, name):
    plugin = _plugin(kind, name)
    about = plugin_settings.about(plugin["executable"])
    assert sorted(plugin["capabilities"]) == sorted(about["capabilities"])


def test_plugin_venvs_are_pinned_by_the_lock_file():
    for kind in ("extractors", "loaders", "utilities"):
        for plugin in MELTANO_YML["plugins"][kind]:
            if "inherit_from" in plugin:  # shares its parent's venv
                assert "pip_url" not in plugin, plugin["name"]
                _plugin(kind, plugin["inherit_from"])
                continue
            assert plugin["pip_url"].startswith(
                "-c ${MELTANO_PROJECT_ROOT}/requirements/lock.txt -e ${MELTANO_PROJECT_ROOT}/"
            ), plugin["name"]


def _sensitive_settings(kind: str, name: str) -> set[str]:
    plugin = _plugin(kind, name)
    if "inherit_from" in plugin:
        return _sensitive_settings(kind, plugin["inherit_from"])
    return {s["name"] for s in plugin.get("settings", []) if s.get("sensitive")}


def test_no_secret_outside_the_sandbox_environment():
    """Only `dev` may set a sensitive setting, and only to a sandbox's published test value."""
    for kind in ("extractors", "loaders"):
        for plugin in MELTANO_YML["plugins"][kind]:
            sensitive = _sensitive_settings(kind, plugin["name"])
            assert not sensitive & set(plugin.get("config", {})), plugin["name"]
    for environment in MELTANO_YML["environments"]:
        plugins = (environment.get("config") or {}).get("plugins", {})
        for kind in ("extractors", "loaders"):
            for plugin in plugins.get(kind, []):
                config = plugin.get("config", {})
                for name in _sensitive_settings(kind, plugin["name"]) & set(config):
                    value = config[name]
                    where = f"{environment['name']}: {plugin['name']}.{name}"
                    if str(value).startswith("${"):  # read from the environment
                        continue
                    assert environment["name"] == "dev", where
                    assert value in SANDBOX_SECRETS.get(name, set()), where


#: The schema wizard's output for the sandbox's account and salesorder (the plugin's tests
#: check the wizard writes exactly these files).


def _campaign_resources() -> dict[str, Resource]:
    """The sandbox's resources plus the wizard's custom resources, published in order."""
    resources = dict(RESOURCES)
    for code, table in enumerate(WIZARD_TABLES, start=16):
        definition = json.loads((WIZARD_GOLDEN / table / "resource.json").read_text())
        resource, _ = build_resource(definition, code, resources, {})
        resources[resource.name] = resource
    return resources


def test_campaign_job_maps_onto_routed_resources_and_real_fields():
    """Every stream the d365-to-campaign maps produce is routed, and writes fields that exist."""
    job = next(j for j in MELTANO_YML["jobs"] if j["name"] == "d365-to-campaign")
    tap_name, loader_name = job["tasks"][0].split()
    tap = _plugin("extractors", tap_name)
    assert sorted(tap["select"]) == [
        "account.*",
        "contact.*",
        "new_project.*",
        "new_projecttask.*",
        "option_sets.*",
        "salesorder.*",
    ]
    tables = {s.removesuffix(".*") for s in tap["select"]} - {"option_sets"}
    assert set(tap["config"]["tables"]) == tables
    config = _plugin("loaders", loader_name)["config"]
    resources = _campaign_resources()
    for stream, fields in config["enumerations"].items():
        assert stream in config["resources"], stream
        for field, choice in fields.items():
            assert config["stream_maps"][stream][field] == choice["attribute"], field
    maps, routes = config["stream_maps"], config["resources"]
    assert sorted(maps) == sorted(routes)
    for stream, stream_map in maps.items():
        route = routes[stream]
        resource = resources[route["resource"]]
        key = route.get("key", "externalId")
        assert stream_map["__key_properties__"] == [key], stream
        link_fields = {link["field"] for link in (route.get("links") or {}).values()}
        for link in (route.get("links") or {}).values():
            assert link["stream"] in routes, stream
        for field in stream_map:
            if field.startswith("__") or field == "_sdc_deleted_at" or field in link_fields:
                continue
            found = resource.lookup(field)
            assert found is not None, f"{stream}.{field} is not a field of {resource.name}"
            assert not found.read_only, f"{stream}.{field} is read-only in Campaign"
        source = stream_map.get("__source__", stream)
        assert f"{source}.*" in tap["select"], stream


#: The plugins that read the project's opt-out mode.
OPT_OUT_PLUGINS = ("tap-adobe-campaign", "target-adobe-campaign", "target-dynamics365")


def _opt_out_sync_seen(project: Path, runs: dict[str, str]) -> dict[str, str]:
    """Plugin → its resolved `opt_out_sync` in `project`, in the environment `runs` names.

    `meltano config print`, in parallel, each with a system database of its own (parallel
    first runs would race on creating one).
    """
    commands = {}
    for name, environment in runs.items():
        meltano = MeltanoProject(Path(tempfile.mkdtemp(dir=project)))
        commands[name] = subprocess.Popen(
            meltano.command("--environment", environment, "config", "print", name),
            cwd=project,
            env=meltano.env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    seen = {}
    for name, process in commands.items():
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0, name
        seen[name] = json.loads(out[out.index("{") :])["opt_out_sync"]
    return seen


def test_the_projects_opt_out_mode_reaches_every_plugin_and_an_environment_overrides_it(
    tmp_path: Path,
) -> None:
    """One line of meltano.yml sets the mode; an environment's `env:` wins over it."""
    for name in OPT_OUT_PLUGINS:
        kind = "extractors" if name.startswith("tap-") else "loaders"
        assert _plugin(kind, name)["config"]["opt_out_sync"] == "${OPT_OUT_SYNC}", name
        for environment in MELTANO_YML["environments"]:
            for plugin in (environment.get("config") or {}).get("plugins", {}).get(kind, []):
                assert "opt_out_sync" not in plugin.get("config", {}), (environment, name)
    project = copy.deepcopy(MELTANO_YML)
    project["env"]["OPT_OUT_SYNC"] = "campaign_to_d365"
    prod = next(e for e in project["environments"] if e["name"] == "prod")
    prod.setdefault("env", {})["OPT_OUT_SYNC"] = "disabled"
    (tmp_path / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    seen = _opt_out_sync_seen(
        tmp_path, {"target-adobe-campaign": "test", "target-dynamics365": "prod"}
    )
    assert seen == {"target-adobe-campaign": "campaign_to_d365", "target-dynamics365": "disabled"}


@pytest.mark.parametrize("table", WIZARD_TABLES)
def test_account_and_salesorder_entries_are_the_wizards_output(table: str) -> None:
    """meltano.yml's entries of the table are the wizard's, for both backends.

    target-adobe-campaign holds the Standard entries (`meltano.standard.yml`); the v8 loader
    inherits them, and the wizard's v8 entries are the same but for `key_filter` (Standard's
    identification filter, unused on v8).
    """
    config = _plugin("loaders", "target-adobe-campaign")["config"]
    for backend in ("standard", "v8"):
        generated = yaml.safe_load((WIZARD_GOLDEN / table / f"meltano.{backend}.yml").read_text())
        assert sorted(generated) == ["enumerations", "resources", "stream_maps"]
        for section, entries in generated.items():
            for name, entry in entries.items():
                used = dict(config[section][name])
                if backend == "v8" and section == "resources":
                    used.pop("key_filter", None)
                assert used == entry, f"{backend}: {section}.{name}"


def test_the_v8_jobs_run_the_standard_jobs_streams_through_inheriting_plugins() -> None:
    """d365-to-campaign-v8 and campaign-to-d365-v8: the same extractor / loader as the Standard
    jobs but for the Campaign side, which inherits everything and sets `backend: v8`."""
    jobs = {j["name"]: j["tasks"][0].split() for j in MELTANO_YML["jobs"]}
    for standard, v8 in (
        ("d365-to-campaign", "d365-to-campaign-v8"),
        ("campaign-to-d365", "campaign-to-d365-v8"),
        ("crm-export", "crm-export-v8"),
    ):
        changed = [(a, b) for a, b in zip(jobs[standard], jobs[v8], strict=True) if a != b]
        assert len(changed) == 1, (standard, v8)
        base, child = changed[0]
        kind = "extractors" if child.startswith("tap-") else "loaders"
        plugin = _plugin(kind, child)
        assert plugin["inherit_from"] == _plugin(kind, base).get("inherit_from", base)
        assert plugin["config"]["backend"] == "v8"
        assert not set(plugin["config"]) - {"backend", "rejects_file"}, child
        assert plugin.get("select", _plugin(kind, base).get("select")) == _plugin(kind, base).get(
            "select"
        ), child
