"""Connection checks against Dataverse: `tap-dynamics365-check` and reusable steps.

    tap-dynamics365-check --config config.json [--json]
    tap-dynamics365-check [--config ENV] [--json]      # TAP_DYNAMICS365_* (Meltano)

Each step runs timed and isolated (an exception becomes a failed result, never escapes) and is
reported as one line `ok|FAIL <step>: <detail> (<ms> ms)`. Exit status: 0 when every step is
ok, 1 otherwise, 2 on a config error (one line, `<plugin>: config error: ...`, before any
request). The steps are `dataverse_client.checks`' (target-dynamics365 uses them too).
"""

from __future__ import annotations

import sys
import typing as t

from dataverse_client.checks import CheckError, metadata_step, page_step, token_step
from dataverse_client.metadata import list_tables, select_tables
from sync_support.checks import CheckStep, cli_config, parse_args, print_report, run_checks
from sync_support.settings_check import ConfigError

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dataverse_client.client import DataverseClient

DESCRIPTION = "Check the connection to Dataverse: token, table metadata, one page of rows."


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `tap-dynamics365-check`; returns the exit status."""
    from tap_dynamics365.tap import TapDynamics365

    args = parse_args(TapDynamics365, DESCRIPTION, argv)
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
