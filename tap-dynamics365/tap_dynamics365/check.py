"""Connection checks against Dataverse: `tap-dynamics365-check` and reusable steps.

    tap-dynamics365-check --config config.json [--json]
    tap-dynamics365-check [--config ENV] [--json]      # TAP_DYNAMICS365_* (Meltano)

Each step runs timed and isolated (an exception becomes a failed result, never escapes) and is
reported as one line `ok|FAIL <step>: <detail> (<ms> ms)`. Exit status: 0 when every step is
ok, 1 otherwise, 2 on a config error (one line, `<plugin>: config error: ...`, before any
request). target-dynamics365 builds its check from the same steps
(`token_step`, `metadata_step`, `page_step`) and `run_checks` / `print_report`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import typing as t
from dataclasses import asdict, dataclass
from pathlib import Path

from singer_sdk.configuration._dict_config import parse_environment_config

from tap_dynamics365.metadata import (
    TABLE_PROPERTIES,
    Table,
    list_columns,
    list_tables,
    select_tables,
)
from tap_dynamics365.settings_check import ConfigError

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from singer_sdk.plugin_base import PluginBase

    from tap_dynamics365.client import DataverseClient

CHECK_PAGE_SIZE = 5  # rows asked for by the page step: proves read access, costs nothing


class CheckError(Exception):
    """A step found something wrong that is not an HTTP or auth error (e.g. no table)."""


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


#: A table name, or a callable resolving it when the step runs (after earlier steps).
TableRef = t.Union[str, "Callable[[], str]"]


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


def _name(table: TableRef) -> str:
    return table if isinstance(table, str) else table()


def fetch_table(client: DataverseClient, logical_name: str) -> Table:
    """Read one table's definition (`EntityDefinitions(LogicalName='…')`)."""
    entity = client.get_json(
        f"EntityDefinitions(LogicalName='{logical_name}')?$select={','.join(TABLE_PROPERTIES)}"
    )
    return Table.from_metadata(entity)


def token_step(client: DataverseClient) -> CheckStep:
    """Acquire an access token through MSAL; report its lifetime, never the token."""

    def run() -> str:
        seconds = client.authenticator.expires_in()
        return "acquired" + (f"; expires in {seconds} s" if seconds is not None else "")

    return CheckStep("token", run)


def metadata_step(client: DataverseClient, table: TableRef) -> CheckStep:
    """Read a table's definition and readable columns from the metadata API."""

    def run() -> str:
        definition = fetch_table(client, _name(table))
        columns = list_columns(client, definition)
        tracking = "on" if definition.change_tracking else "off"
        return (
            f"{definition.logical_name}: entity set {definition.entity_set_name}, "
            f"{len(columns)} readable columns, change tracking {tracking}"
        )

    return CheckStep("metadata", run)


def page_step(
    client: DataverseClient, table: TableRef, page_size: int = CHECK_PAGE_SIZE
) -> CheckStep:
    """Read the first page (`page_size` rows, primary key only) of a table."""

    def run() -> str:
        definition = fetch_table(client, _name(table))
        page = client.get_json(
            f"{definition.entity_set_name}?$select={definition.primary_id}",
            headers={"Prefer": f"odata.maxpagesize={page_size}"},
        )
        rows = len(page.get("value", ()))
        more = ", more pages" if page.get("@odata.nextLink") else ""
        return f"{definition.logical_name}: first page, {rows} records{more}"

    return CheckStep("page", run)


def tap_steps(client: DataverseClient, config: Mapping[str, t.Any]) -> list[CheckStep]:
    """Build the tap's checks: token, the configured tables, one table's metadata and page.

    That table is the first name in `tables` the selection holds, else the first selected.
    """
    include = list(config.get("tables", ["contact", "account"]))
    selected: list[str] = []

    def tables() -> str:
        found = select_tables(
            list_tables(client),
            include=include,
            include_custom=config.get("include_custom_tables", True),
            exclude=config.get("exclude_tables", []),
        )
        selected[:] = [table.logical_name for table in found]
        if not selected:
            msg = "no table matches tables/include_custom_tables/exclude_tables"
            raise CheckError(msg)
        shown = ", ".join(selected[:10]) + (", …" if len(selected) > 10 else "")
        return f"{len(selected)} selected ({shown})"

    def first_table() -> str:
        literal = [name for name in include if not any(c in name for c in "*?[")]
        for name in literal:
            if name in selected:
                return name
        if selected:
            return selected[0]
        if literal:
            return literal[0]
        msg = "no table to read (the tables step selected none)"
        raise CheckError(msg)

    return [
        token_step(client),
        CheckStep("tables", tables),
        metadata_step(client, first_table),
        page_step(client, first_table),
    ]


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


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="tap-dynamics365-check",
        description="Check the connection to Dataverse: token, table metadata, one page of rows.",
    )
    parser.add_argument(
        "--config",
        action="append",
        help="tap-dynamics365 settings file, or ENV for TAP_DYNAMICS365_* variables "
        "(repeatable, later ones win; default: ENV)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tap-dynamics365-check`; returns the exit status."""
    from tap_dynamics365.tap import TapDynamics365

    args = parse_args(argv)
    try:
        # setup_mapper=False: no catalog, so no discovery of every table.
        tap = TapDynamics365(
            config=cli_config(TapDynamics365, args.config or ["ENV"]),
            parse_env_config=False,
            validate_config=True,
            setup_mapper=False,
        )
    except ConfigError as exc:
        exc.show()
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the config: {exc}", file=sys.stderr)
        return 2
    return print_report(run_checks(tap_steps(tap.client, tap.config)), as_json=args.json)


def cli() -> None:
    """Console script."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
