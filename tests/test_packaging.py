"""Each plugin installs alone from its folder, in a fresh venv, and runs.

Its vendor's client package and `support/` are path dependencies (`name @ {root:parent:uri}/…`):
they come from this repository, never from PyPI by name (`tap-dynamics365` there is somebody
else's), and a target no longer needs its tap.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness import REPO_ROOT

UV = str(Path(sys.executable).with_name("uv"))
LOCK = REPO_ROOT / "requirements" / "lock.txt"
#: plugin folder → (its executable, the local distributions it must bring, and only those)
PLUGINS = {
    "tap-dynamics365": ("tap-dynamics365", {"crm-campaign-sync-dataverse"}),
    "tap-adobe-campaign": ("tap-adobe-campaign", {"crm-campaign-sync-campaign"}),
    "target-adobe-campaign": (
        "target-adobe-campaign",
        {
            "crm-campaign-sync-campaign",
            "crm-campaign-sync-dataverse",
        },  # the schema wizard reads D365
    ),
    "target-dynamics365": ("target-dynamics365", {"crm-campaign-sync-dataverse"}),
}
LOCAL = {
    "crm-campaign-sync-support",
    "crm-campaign-sync-dataverse",
    "crm-campaign-sync-campaign",
    "crm-campaign-sync-sandbox",
    *PLUGINS,
}


def run(*args: str | Path) -> str:
    done = subprocess.run(
        [str(a) for a in args], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, f"{' '.join(map(str, args))}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def installed(python: Path) -> dict[str, str]:
    """Distribution name → where it came from (a file:// URL for a local folder, else 'index')."""
    script = (
        "import json, importlib.metadata as m\n"
        "out = {}\n"
        "for d in m.distributions():\n"
        "    url = d.read_text('direct_url.json')\n"
        "    out[d.metadata['Name']] = json.loads(url)['url'] if url else 'index'\n"
        "print(json.dumps(out))"
    )
    found: dict[str, str] = json.loads(run(python, "-c", script))
    return found


@pytest.mark.parametrize("folder", PLUGINS)
def test_a_plugin_folder_installs_alone_and_runs(folder: str, tmp_path: Path) -> None:
    executable, clients = PLUGINS[folder]
    venv = tmp_path / "venv"
    run(UV, "venv", "-q", venv)
    python = venv / "bin" / "python"
    # uv caches a local package's build until its pyproject.toml changes: rebuild ours from the tree
    refresh = [arg for name in LOCAL for arg in ("--refresh-package", name)]
    run(UV, "pip", "install", "-q", "--python", python, *refresh, "-c", LOCK, REPO_ROOT / folder)

    about = json.loads(run(venv / "bin" / executable, "--about", "--format", "json"))
    assert about["name"] == executable
    sources = installed(python)
    local = {name: url for name, url in sources.items() if name in LOCAL}
    assert set(local) == {folder, "crm-campaign-sync-support", *clients}
    for name, url in local.items():
        assert url.startswith("file://"), f"{name} came from {url}, not from this repository"
    expected_dirs = {folder: folder, "crm-campaign-sync-support": "support"}
    expected_dirs.update({c: f"clients/{c.rsplit('-', 1)[-1]}" for c in clients})
    for name, directory in expected_dirs.items():
        assert local[name] == (REPO_ROOT / directory).as_uri()
