"""Connection checks shared by the four plugins: timed steps, their report, the config they read.

Each step runs timed and isolated (an exception becomes a failed result, never escapes) and is
reported as one line `ok|FAIL <step>: <detail> (<ms> ms)`. Exit status: 0 when every step is
ok, 1 otherwise, 2 on a config error (one line, `<plugin>: config error: ...`, before any
request). The vendor steps are in each vendor's client package (`checks`).
"""

from __future__ import annotations

import argparse
import json
import time
import typing as t
from dataclasses import asdict, dataclass
from pathlib import Path

from singer_sdk.configuration._dict_config import parse_environment_config

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from singer_sdk.plugin_base import PluginBase


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one step: its name, ok or not, a one-line detail, duration in ms."""

    step: str
    ok: bool
    detail: str
    ms: int

    def line(self) -> str:
        """Return the report line, e.g. `ok token: acquired; expires in 3599 s (84 ms)`."""
        return f"{'ok' if self.ok else 'FAIL'} {self.step}: {self.detail} ({self.ms} ms)"


class CheckStep(t.NamedTuple):
    """A named step; `run` returns the detail of success and raises on failure."""

    step: str
    run: Callable[[], str]


def run_checks(steps: Iterable[CheckStep]) -> list[CheckResult]:
    """Run every step in order, timing each; a step's exception becomes a FAIL result."""
    results = []
    for step in steps:
        started = time.perf_counter()
        try:
            detail, ok = step.run(), True
        except Exception as exc:  # a check reports every failure, whatever it is
            # Entra and Dataverse messages can span lines (trace ids): keep one line per step.
            detail, ok = " ".join(str(exc).split()) or type(exc).__name__, False
        ms = round((time.perf_counter() - started) * 1000)
        results.append(CheckResult(step.step, ok, detail, ms))
    return results


def print_report(results: Sequence[CheckResult], *, as_json: bool = False) -> int:
    """Print the results (lines, or one JSON document) and return the exit status (0 or 1)."""
    ok = all(result.ok for result in results)
    if as_json:
        print(json.dumps({"ok": ok, "steps": [asdict(r) for r in results]}, indent=2))
    else:
        for result in results:
            print(result.line())
    return 0 if ok else 1


def cli_config(plugin: type[PluginBase], sources: Sequence[str]) -> dict[str, t.Any]:
    """Merge `--config` sources in order: JSON files, and `ENV` for the plugin's variables.

    Meltano hands a command an object setting as JSON whose nested keys are flattened
    (`{"contact.resource": "profile"}`); they are nested again here. Read errors raise
    OSError or ValueError.
    """
    config: dict[str, t.Any] = {}
    for source in sources:
        if source != "ENV":
            config.update(json.loads(Path(source).read_text(encoding="utf-8")))
            continue
        schema = plugin.config_jsonschema
        plugin.append_builtin_config(schema)
        env = parse_environment_config(schema, f"{plugin.name.upper().replace('-', '_')}_")
        config.update({k: _nested(v) if isinstance(v, dict) else v for k, v in env.items()})
    return config


def _nested(flat: dict[str, t.Any]) -> dict[str, t.Any]:
    """`{"a.b": 1}` → `{"a": {"b": 1}}`."""
    out: dict[str, t.Any] = {}
    for key, value in flat.items():
        *parents, leaf = key.split(".")
        node = out
        for parent in parents:
            node = node.setdefault(parent, {})
        node[leaf] = value
    return out


def parse_args(
    plugin: type[PluginBase], description: str, argv: Sequence[str] | None
) -> argparse.Namespace:
    """Parse `<plugin>-check [--config FILE|ENV ...] [--json]` (default: ENV)."""
    prefix = plugin.name.upper().replace("-", "_")
    parser = argparse.ArgumentParser(prog=f"{plugin.name}-check", description=description)
    parser.add_argument(
        "--config",
        action="append",
        help=f"{plugin.name} settings file, or ENV for {prefix}_* variables "
        "(repeatable, later ones win; default: ENV)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser.parse_args(argv)
