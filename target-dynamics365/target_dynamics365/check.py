"""`target-dynamics365-check`: can this target write to the org? Reads only.

    target-dynamics365-check --config config.json [--json]
    target-dynamics365-check --config ENV [--json]        # TARGET_DYNAMICS365_* (Meltano)

tap-dynamics365's vendor steps (token, contact metadata, one page of contacts; runner and
report in `tap_dynamics365.check`), then this target's own: the opt-out columns and
`modifiedon` readable on contacts, each email-event activity table provisioned (columns, and an
Active `acs_eventid` key), and which tables have UpsertMultiple. Exit status: 0 when every step
is ok, 1 otherwise, 2 on a config error.
"""

from __future__ import annotations

import sys
import typing as t

from dataverse_client.checks import CheckError, metadata_step, page_step, token_step
from sync_support.checks import CheckStep, cli_config, parse_args, print_report, run_checks
from sync_support.settings_check import ConfigError

from target_dynamics365.events import ACTIVITY_TABLES, EVENT_ID, KEY_NAME, ActivityTable
from target_dynamics365.optouts import MODIFIED_ON, contact_fields
from target_dynamics365.provision import plan
from target_dynamics365.sinks import CONTACTS
from target_dynamics365.writers import upsert_multiple_tables

if t.TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from dataverse_client.client import DataverseClient

CONTACT = "contact"
PROVISION_HINT = "run target-dynamics365-provision"


def opt_out_columns_step(
    client: DataverseClient, mapping: Mapping[str, Sequence[str]]
) -> CheckStep:
    """Read one contact with the mapped opt-out columns and `modifiedon` (what the sink reads)."""
    columns = [*contact_fields(mapping), MODIFIED_ON]

    def run() -> str:
        client.get_json(f"{CONTACTS}?$select=contactid,{','.join(columns)}&$top=1")
        return f"contacts: {', '.join(columns)} readable"

    return CheckStep("opt-out columns", run)


def activity_table_step(client: DataverseClient, table: ActivityTable) -> CheckStep:
    """Check the table, its event columns and an Active `acs_eventid` key (provision's plan)."""

    def run() -> str:
        table_plan = plan(client, table)
        if table_plan.steps:
            missing = "; ".join(
                step.description.removeprefix("create ") for step in table_plan.steps
            )
            msg = f"missing {missing}: {PROVISION_HINT}"
            raise CheckError(msg)
        if table_plan.key_status != "Active":
            msg = (
                f"key {KEY_NAME} is {table_plan.key_status} (not Active yet): wait, then "
                f"{PROVISION_HINT} to confirm"
            )
            raise CheckError(msg)
        return (
            f"{len(table.columns)} event columns, key {KEY_NAME} ({EVENT_ID.logical_name}) Active"
        )

    return CheckStep(f"activity table {table.logical_name}", run)


def upsert_multiple_step(client: DataverseClient) -> CheckStep:
    """Which activity tables have UpsertMultiple; the others are written by `$batch` (still ok)."""
    tables = list(ACTIVITY_TABLES.values())

    def run() -> str:
        supported = upsert_multiple_tables(client, tables)
        without = [table.logical_name for table in tables if table.logical_name not in supported]
        detail = f"available on {len(tables) - len(without)} of {len(tables)} activity tables"
        if without:
            detail += f"; {', '.join(without)} written with $batch change sets"
        return detail

    return CheckStep("UpsertMultiple", run)


def target_steps(client: DataverseClient, mapping: Mapping[str, Sequence[str]]) -> list[CheckStep]:
    """Every step of `target-dynamics365-check`, in order."""
    return [
        token_step(client),
        metadata_step(client, CONTACT),
        page_step(client, CONTACT),
        opt_out_columns_step(client, mapping),
        *(activity_table_step(client, table) for table in ACTIVITY_TABLES.values()),
        upsert_multiple_step(client),
    ]


DESCRIPTION = (
    "Check that target-dynamics365 can write to Dynamics 365: token, contact "
    "metadata and one page, opt-out columns, the email event activity tables and their "
    "acs_eventid key, UpsertMultiple. Reads only."
)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `target-dynamics365-check`; returns the exit status."""
    from target_dynamics365.target import TargetDynamics365

    args = parse_args(TargetDynamics365, DESCRIPTION, argv)
    try:
        target = TargetDynamics365(
            config=cli_config(TargetDynamics365, args.config or ["ENV"]),
            parse_env_config=False,
            validate_config=True,
        )
    except ConfigError as exc:
        exc.show()
        return 2
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the config: {exc}", file=sys.stderr)
        return 2
    steps = target_steps(target.client, target.opt_out_mapping)
    return print_report(run_checks(steps), as_json=args.json)


def cli() -> None:
    """Console script."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
