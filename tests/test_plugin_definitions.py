"""Each plugin ships a Meltano plugin definition (`<folder>/<plugin>.yml`) that matches `--about`.

The files are what `scripts/plugin_settings.py --format definition --write` generates from each
plugin's `--about --format json`, so a new setting, a changed description, default, enum or
capability fails here until they are regenerated. And Meltano itself takes them: one empty
temporary project gets all four through `meltano add <plugin> --from-ref <file> --no-install`,
then `meltano config list --all` must show every setting `--about` reports.
"""

from __future__ import annotations

import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml

from scripts import plugin_settings
from scripts.meltano_env import clean_environ

MELTANO = str(Path(sys.executable).with_name("meltano"))
REGENERATE = "\nregenerate: python scripts/plugin_settings.py --format definition --write"
PLUGINS = list(plugin_settings.PLUGINS)
#: A plugin's settings as `meltano config list` prints them: `<name> [env: <VAR>] current value:`.
CONFIG_LINE = re.compile(r"^(?P<name>[A-Za-z0-9_.]+) \[env: (?P<env>[A-Z0-9_]+)\] current value: ")


@pytest.fixture(scope="module")
def abouts() -> dict[str, dict[str, Any]]:
    """Every plugin's `--about --format json`, read in parallel."""
    with ThreadPoolExecutor(len(PLUGINS)) as pool:
        return dict(zip(PLUGINS, pool.map(plugin_settings.about, PLUGINS), strict=True))


def _differences(plugin: str, expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    """What the definition file says differently from `--about`, one line per field."""
    found = []
    for key in sorted((set(expected) | set(actual)) - {"settings"}):
        if expected.get(key) != actual.get(key):
            found.append(
                f"{plugin}: `{key}` is {actual.get(key)!r} in the file, "
                f"{expected.get(key)!r} from --about"
            )
    wanted = {s["name"]: s for s in expected.get("settings", [])}
    present = {s["name"]: s for s in actual.get("settings") or []}
    for name in wanted.keys() - present.keys():
        found.append(f"{plugin}: setting `{name}` (reported by --about) is missing from the file")
    for name in present.keys() - wanted.keys():
        found.append(f"{plugin}: setting `{name}` is in the file but --about no longer reports it")
    for name in wanted.keys() & present.keys():
        for field in sorted(set(wanted[name]) | set(present[name])):
            if wanted[name].get(field) != present[name].get(field):
                found.append(
                    f"{plugin}: setting `{name}`: `{field}` is {present[name].get(field)!r} in "
                    f"the file, {wanted[name].get(field)!r} from --about"
                )
    if not found and list(wanted) != list(present):
        found.append(f"{plugin}: the settings are not in --about's order")
    return sorted(found)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_definition_file_is_generated_from_about(
    plugin: str, abouts: dict[str, dict[str, Any]]
) -> None:
    path = plugin_settings.definition_path(plugin)
    assert path.is_file(), f"{plugin}: {path} is missing{REGENERATE}"
    text = path.read_text()
    expected = plugin_settings.definition(abouts[plugin])
    problems = _differences(plugin, expected, yaml.safe_load(text))
    assert not problems, "\n".join(problems) + REGENERATE
    assert text == plugin_settings.as_definition(abouts[plugin]), (
        f"{plugin}: {path.name} is formatted differently from the generator's output{REGENERATE}"
    )


def test_every_enum_is_offered_as_options(abouts: dict[str, dict[str, Any]]) -> None:
    """`opt_out_sync` and every other enumerated setting lists its choices; a string one is
    `kind: options`, which Meltano validates values against."""
    for plugin, about in abouts.items():
        settings = {s["name"]: s for s in plugin_settings.definition(about)["settings"]}
        for name, spec in about["settings"]["properties"].items():
            choices = spec.get("enum") or spec.get("items", {}).get("enum")
            if not choices:
                continue
            offered = [o["value"] for o in settings[name].get("options", [])]
            assert offered == [c for c in choices if c is not None], (plugin, name)
            if plugin_settings.json_type(spec) == "string":
                assert settings[name]["kind"] == "options", (plugin, name)
    assert "opt_out_sync" in {
        s["name"]
        for s in plugin_settings.definition(abouts["target-dynamics365"])["settings"]
        if s["kind"] == "options"
    }


# --- Meltano accepts the files: one temporary project for all four plugins ----------------------


def _meltano_env(tmp: Path, **extra: str) -> dict[str, str]:
    return clean_environ(
        {
            "MELTANO_SEND_ANONYMOUS_USAGE_STATS": "false",
            "MELTANO_CLI_DISABLE_VERSION_CHECK": "true",
            "XDG_STATE_HOME": str(tmp / "xdg-state"),
            **extra,
        }
    )


def _run(args: list[str], project: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MELTANO, *args],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _new_project(tmp: Path) -> Path:
    """An empty Meltano project (no `meltano init`: it may reach for the network)."""
    project = tmp / "project"
    project.mkdir()
    (project / "meltano.yml").write_text(
        yaml.safe_dump(
            {
                "default_environment": "dev",
                "project_id": "plugin-definitions-test",
                "send_anonymous_usage_stats": False,
                "environments": [{"name": "dev"}],
            },
            sort_keys=False,
        )
    )
    return project


def _kept_problems(plugin: str, entry: dict[str, Any]) -> list[str]:
    """How the plugin's meltano.yml entry differs from its definition file."""
    definition = yaml.safe_load(plugin_settings.definition_path(plugin).read_text())
    # Meltano drops the Hub-only metadata (keywords) and writes everything else as given.
    kept = {k: v for k, v in definition.items() if k != "keywords"}
    return [f"meltano.yml after `meltano add`: {p}" for p in _differences(plugin, kept, entry)]


def _listing_problems(plugin: str, listing: str, about: dict[str, Any]) -> list[str]:
    """What `meltano config list --all` leaves out or shows wrongly of `--about`'s settings."""
    listed: dict[str, str] = {}
    for line in listing.splitlines():
        if match := CONFIG_LINE.match(line):
            listed[match["name"]] = line
    properties = about["settings"]["properties"]
    problems = [
        f"{plugin}: `{n}` is not in `meltano config list`"
        for n in properties.keys() - listed.keys()
    ]
    problems += [
        f"{plugin}: `meltano config list` shows unknown `{n}`"
        for n in listed.keys() - properties.keys()
    ]
    prefix = plugin.upper().replace("-", "_")
    for name, spec in properties.items():
        if name not in listed:
            continue
        line = listed[name]
        if f"[env: {prefix}_{name.upper()}]" not in line:
            problems.append(f"{plugin}: `{name}`: unexpected variable in {line!r}")
        default = spec.get("default")
        if default is not None and not line.endswith(f"current value: {default!r} (default)"):
            problems.append(f"{plugin}: `{name}`: default {default!r} not shown in {line!r}")
    return problems


def test_meltano_adds_every_definition_and_lists_every_setting(
    tmp_path: Path, abouts: dict[str, dict[str, Any]]
) -> None:
    """`meltano add <plugin> --from-ref <file> --no-install` for all four, in one new project.

    Then meltano.yml holds each plugin exactly as its file defines it (kinds, options, defaults,
    sensitive flags), and `meltano config list --all` shows every setting `--about` reports.
    One test, so that a parallel run (`-n 2`) builds this project once.
    """
    project = _new_project(tmp_path)
    env = _meltano_env(tmp_path)
    for plugin, (plugin_type, _folder) in plugin_settings.PLUGINS.items():
        ref = str(plugin_settings.definition_path(plugin))
        # Meltano 4 takes the type as an option: `meltano add extractor tap-x` would also add
        # a utility called `extractor`, renamed to the file's `name`.
        args = ["add", "--plugin-type", plugin_type, plugin, "--from-ref", ref, "--no-install"]
        done = _run(args, project, env)  # one at a time: each rewrites meltano.yml
        assert done.returncode == 0, f"{plugin}: meltano add failed:\n{done.stdout}\n{done.stderr}"

    def config_list(plugin: str) -> subprocess.CompletedProcess[str]:
        # In parallel, each with a system database of its own (first runs would race on it).
        sys_dir = str(tmp_path / f"sys-{plugin}")
        return _run(
            ["config", "list", "--all", plugin],
            project,
            _meltano_env(tmp_path, MELTANO_SYS_DIR_ROOT=sys_dir),
        )

    with ThreadPoolExecutor(len(PLUGINS)) as pool:
        listings = dict(zip(PLUGINS, pool.map(config_list, PLUGINS), strict=True))

    plugins = yaml.safe_load((project / "meltano.yml").read_text())["plugins"]
    assert sorted(plugins) == ["extractors", "loaders"], "meltano add added other plugin types"
    problems = []
    for plugin, (plugin_type, folder) in plugin_settings.PLUGINS.items():
        entries = [p for p in plugins[f"{plugin_type}s"] if p["name"] == plugin]
        assert len(entries) == 1, f"{plugin}: {len(entries)} entries in meltano.yml"
        problems += _kept_problems(plugin, entries[0])
        if not entries[0]["pip_url"].endswith(f".git#subdirectory={folder}"):
            problems.append(f"{plugin}: pip_url {entries[0]['pip_url']!r}")
        done = listings[plugin]
        if done.returncode != 0:
            problems.append(f"{plugin}: meltano config list failed:\n{done.stderr}")
            continue
        problems += _listing_problems(plugin, done.stdout, abouts[plugin])
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("plugin", PLUGINS)
def test_readme_shows_both_from_ref_forms(plugin: str) -> None:
    """The README's commands name the file's path and its raw URL on the project's home."""
    folder = plugin_settings.PLUGINS[plugin][1]
    readme = (plugin_settings.REPO_ROOT / folder / "README.md").read_text()
    local = f"path/to/crm-campaign-sync/{folder}/{plugin}.yml"
    assert f"meltano add {plugin} --from-ref {local}" in readme
    assert f"meltano add {plugin} --from-ref {plugin_settings.definition_url(plugin)}" in readme
