"""Derive a plugin's Meltano `settings:` block, README settings table or plugin definition file.

The plugin's own config schema (`--about`) is the single source of truth; this prints it in the
forms the project keeps: `tests/test_project_config.py` checks that meltano.yml agrees, and
`tests/test_plugin_definitions.py` that each `<plugin>/<plugin>.yml` (Meltano Hub's plugin
definition format, for `meltano add --from-ref`) is what `--format definition` generates.

    python scripts/plugin_settings.py tap-dynamics365 --format yaml
    python scripts/plugin_settings.py tap-dynamics365 --format markdown
    python scripts/plugin_settings.py tap-dynamics365 --format definition
    python scripts/plugin_settings.py --format definition --write   # regenerate all four files
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

BIN = Path(sys.executable).parent
REPO_ROOT = Path(__file__).resolve().parents[1]

#: The project's home: the plugin definitions' pip_url, repo and docs, and the README's raw URLs.
REPOSITORY_URL = "https://github.com/crm-campaign-sync/crm-campaign-sync"
#: The branch the README's raw definition URLs point at.
DEFAULT_BRANCH = "main"
#: The plugins with a definition file `<folder>/<name>.yml`: name -> (Meltano plugin type, folder).
PLUGINS: dict[str, tuple[str, str]] = {
    "tap-dynamics365": ("extractor", "tap-dynamics365"),
    "tap-adobe-campaign": ("extractor", "tap-adobe-campaign"),
    "target-adobe-campaign": ("loader", "target-adobe-campaign"),
    "target-dynamics365": ("loader", "target-dynamics365"),
}
#: What a plugin's definition says beside `--about`: the system's name (the Hub's plugin label,
#: shared by a system's tap and target) and search keywords.
_SYSTEM_LABELS = {
    "dynamics365": "Microsoft Dynamics 365",
    "adobe-campaign": "Adobe Campaign Standard",
}
_KEYWORDS = ["api", "meltano_sdk"]
#: Words a setting's or option's label writes in capitals (the Hub's label convention).
#: yaml.safe_dump's line width: no folding (a folded pip_url or description reads badly).
_NO_WRAP = 1_000_000
_ACRONYMS = {"api", "ca", "crm", "d365", "http", "id", "ims", "sftp", "soap", "ssl", "url"}

# JSON Schema type (+ format) -> Meltano setting kind.
_KINDS = {"string": "string", "integer": "integer", "number": "decimal", "boolean": "boolean"}
_KINDS.update(array="array", object="object")


def about(executable: str) -> dict[str, Any]:
    """Run `<executable> --about --format json` and parse it."""
    path = BIN / executable
    out = subprocess.run(
        [str(path if path.exists() else executable), "--about", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    document: dict[str, Any] = json.loads(out)
    return document


def json_type(spec: dict[str, Any]) -> str:
    """Return the non-null JSON Schema type of a property."""
    types = spec.get("type", "string")
    if isinstance(types, str):
        return types
    return next((t for t in types if t != "null"), "string")


def kind(spec: dict[str, Any]) -> str:
    """Meltano's setting kind for a property."""
    base = json_type(spec)
    if base == "string" and spec.get("format") in {"date-time", "date"}:
        return "date_iso8601"
    return _KINDS.get(base, "string")


def settings(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Meltano setting definitions, in the plugin's order."""
    result = []
    for name, spec in document["settings"]["properties"].items():
        setting: dict[str, Any] = {"name": name, "kind": kind(spec)}
        if spec.get("secret"):
            setting["sensitive"] = True
        description = " ".join(str(spec.get("description", "")).split())
        if description:
            setting["description"] = description
        result.append(setting)
    return result


def as_yaml(document: dict[str, Any]) -> str:
    """Render the `settings:` list, indented for a plugin entry of meltano.yml."""
    lines = ["    settings:"]
    for setting in settings(document):
        lines.append(f"    - name: {setting['name']}")
        lines.append(f"      kind: {setting['kind']}")
        if setting.get("sensitive"):
            lines.append("      sensitive: true")
        if "description" in setting:
            lines.append(f"      description: {json.dumps(setting['description'])}")
    return "\n".join(lines)


def as_markdown(document: dict[str, Any]) -> str:
    """Render a README table: setting, type, default, description (required in bold)."""
    required = set(document["settings"].get("required", []))
    rows = ["| setting | type | default | description |", "|---|---|---|---|"]
    for name, spec in document["settings"]["properties"].items():
        label = f"**`{name}`**" if name in required else f"`{name}`"
        type_name = json_type(spec)
        if type_name == "array":
            type_name = f"array of {json_type(spec.get('items', {}))}"
        if spec.get("secret"):
            type_name += " (secret)"
        default = f"`{json.dumps(spec['default'])}`" if "default" in spec else ""
        description = " ".join(str(spec.get("description", "")).split()).replace("|", "\\|")
        rows.append(f"| {label} | {type_name} | {default} | {description} |")
    return "\n".join(rows)


# --- Plugin definition files (Meltano Hub's format, for `meltano add --from-ref`) ---------------


def label(name: str) -> str:
    """Label a setting name or option value as the Hub does: `tenant_id` -> `Tenant ID`."""
    words = re.split(r"[_\-. ]+", name)
    return " ".join(w.upper() if w.lower() in _ACRONYMS else w[:1].upper() + w[1:] for w in words)


def _enum(spec: dict[str, Any]) -> list[Any] | None:
    """Return the allowed values of a property: its own `enum`, or its items' for an array."""
    values = spec.get("enum")
    if values is None and json_type(spec) == "array":
        values = spec.get("items", {}).get("enum")
    return [v for v in values if v is not None] if values is not None else None


def setting_definition(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """One entry of a plugin definition's `settings:`.

    `kind` as in meltano.yml (`kind()`), except that a string with an `enum` is `options`, which
    Meltano validates values against; an array of enumerated items keeps `kind: array` (Meltano
    has no multi-choice kind) and lists the choices as `options` all the same.
    """
    setting: dict[str, Any] = {"name": name, "label": spec.get("title") or label(name)}
    setting["kind"] = kind(spec)
    choices = _enum(spec)
    if choices is not None:
        if setting["kind"] == "string":
            setting["kind"] = "options"
        setting["options"] = [{"label": label(str(v)), "value": v} for v in choices]
    if spec.get("default") is not None:
        setting["value"] = spec["default"]
    if spec.get("secret"):
        setting["sensitive"] = True
    description = " ".join(str(spec.get("description", "")).split())
    if description:
        setting["description"] = description
    return setting


def _local_packages() -> dict[str, str]:
    """Map the repository's Python packages' normalized names to their (relative) folders."""
    packages: dict[str, str] = {}
    for pyproject in sorted(REPO_ROOT.glob("*/pyproject.toml")) + sorted(
        REPO_ROOT.glob("*/*/pyproject.toml")
    ):
        folder = pyproject.parent.relative_to(REPO_ROOT)
        if any(part.startswith(".") for part in folder.parts):
            continue
        project = tomllib.loads(pyproject.read_text())["project"]
        packages[canonicalize_name(project["name"])] = folder.as_posix()
    return packages


def _install_folders(folder: str) -> list[str]:
    """Return `folder` and the local packages pip must be told of, dependencies first.

    A local package required by bare name is not on PyPI, so it is installed from its own
    subdirectory too. One required by a direct reference (`name @ {root:parent:uri}/...`, a path
    inside the same checkout) comes with the plugin; listing it again would give pip two URLs
    for one package, which it refuses (ResolutionImpossible).
    """
    packages = _local_packages()
    ordered: list[str] = []

    def visit(current: str) -> None:
        if current in ordered:
            return
        project = tomllib.loads((REPO_ROOT / current / "pyproject.toml").read_text())["project"]
        for dependency in project.get("dependencies", []):
            requirement = Requirement(dependency)
            needed = packages.get(canonicalize_name(requirement.name))
            if needed is not None and needed != current and requirement.url is None:
                visit(needed)
        ordered.append(current)

    visit(folder)
    return ordered


def pip_url(folder: str) -> str:
    """Return the `pip_url` of the plugin in `folder`: git URLs of it and its local needs."""
    return " ".join(
        f"git+{REPOSITORY_URL}.git#subdirectory={needed}" for needed in _install_folders(folder)
    )


def definition_path(name: str) -> Path:
    """Where a plugin's definition file lives: `<folder>/<name>.yml`."""
    return REPO_ROOT / PLUGINS[name][1] / f"{name}.yml"


def definition_url(name: str) -> str:
    """Return the raw URL of a plugin's definition file on the default branch."""
    owner_repo = REPOSITORY_URL.removeprefix("https://github.com/")
    folder = PLUGINS[name][1]
    return f"https://raw.githubusercontent.com/{owner_repo}/{DEFAULT_BRANCH}/{folder}/{name}.yml"


def definition(document: dict[str, Any]) -> dict[str, Any]:
    """Build a plugin's Meltano Hub plugin definition from its `--about` document."""
    name = document["name"]
    folder = PLUGINS[name][1]
    system = re.sub(r"^(tap|target)-", "", name)
    schema = document["settings"]
    required = list(schema.get("required", []))
    result: dict[str, Any] = {
        "name": name,
        "variant": REPOSITORY_URL.rstrip("/").split("/")[-2],
        "namespace": name.replace("-", "_"),
        "label": _SYSTEM_LABELS.get(system, label(system)),
        "description": " ".join(str(document.get("description") or "").split()),
        "docs": f"{REPOSITORY_URL}/blob/{DEFAULT_BRANCH}/{folder}/README.md",
        "repo": REPOSITORY_URL,
        "pip_url": pip_url(folder),
        "executable": name,
        "capabilities": sorted(document.get("capabilities", [])),
        "supported_python_versions": list(document.get("supported_python_versions") or []),
        "keywords": list(_KEYWORDS),
        "settings_group_validation": [required] if required else [],
        "settings": [setting_definition(n, s) for n, s in schema["properties"].items()],
    }
    return {key: value for key, value in result.items() if value not in ([], "", None)}


def as_definition(document: dict[str, Any]) -> str:
    """Render a plugin definition file (YAML) with a header naming its generator."""
    name = document["name"]
    body = yaml.safe_dump(definition(document), sort_keys=False, allow_unicode=True, width=_NO_WRAP)
    return (
        f"# Meltano plugin definition of {name} (Meltano Hub's format), generated from\n"
        f"# `{name} --about --format json` by scripts/plugin_settings.py: do not edit by hand.\n"
        f"# Add it to a Meltano project: meltano add {name} --from-ref <this file's path or URL>\n"
        + body
    )


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "executable",
        nargs="*",
        help="plugin executable, e.g. tap-dynamics365 (--format definition: default all four)",
    )
    parser.add_argument("--format", choices=["yaml", "markdown", "definition"], default="yaml")
    parser.add_argument(
        "--write",
        action="store_true",
        help="with --format definition: write <plugin folder>/<plugin>.yml instead of printing",
    )
    args = parser.parse_args()
    executables = args.executable or (list(PLUGINS) if args.format == "definition" else [])
    if not executables:
        parser.error("the following arguments are required: executable")
    if args.write and args.format != "definition":
        parser.error("--write goes with --format definition")
    for executable in executables:
        document = about(executable)
        if args.format == "yaml":
            print(as_yaml(document))
        elif args.format == "markdown":
            print(as_markdown(document))
        elif args.write:
            path = definition_path(document["name"])
            path.write_text(as_definition(document))
            print(path.relative_to(REPO_ROOT))
        else:
            print(as_definition(document), end="")


if __name__ == "__main__":
    main()
