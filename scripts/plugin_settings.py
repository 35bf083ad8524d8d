"""Derive a plugin's Meltano `settings:` block or the README's settings table from `--about`.

The plugin's own config schema is the single source of truth; this prints it in the two forms
the project keeps by hand, and `tests/test_project_config.py` checks that meltano.yml agrees.

    python scripts/plugin_settings.py tap-dynamics365 --format yaml
    python scripts/plugin_settings.py tap-dynamics365 --format markdown
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

BIN = Path(sys.executable).parent

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


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("executable", help="plugin executable, e.g. tap-dynamics365")
    parser.add_argument("--format", choices=["yaml", "markdown"], default="yaml")
    args = parser.parse_args()
    document = about(args.executable)
    print(as_yaml(document) if args.format == "yaml" else as_markdown(document))


if __name__ == "__main__":
    main()
