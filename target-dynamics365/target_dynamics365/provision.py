"""`target-dynamics365-provision`: create the four activity tables and their key in an org.

It also creates the alternate keys the `tables` setting upserts on (`table_keys`).

    target-dynamics365-provision --config config.json [--dry-run] [--solution NAME]
    target-dynamics365-provision --config ENV            # TARGET_DYNAMICS365_* (Meltano)

Idempotent: reads what exists (tables, columns, keys) and creates only what is missing, through
the metadata Web API, then waits (bounded) until each `acs_eventid` key's index is Active.
`--dry-run` only reads and reports what would be created.
"""

from __future__ import annotations

import argparse
import sys
import time
import typing as t
from dataclasses import dataclass, field
from http import HTTPStatus

from dataverse_client.client import DataverseAPIError
from singer_sdk.exceptions import ConfigValidationError
from sync_support.checks import cli_config

from target_dynamics365.events import ACTIVITY_TABLES, EVENT_ID, ActivityTable
from target_dynamics365.metadata import column_body, key_body, table_body
from target_dynamics365.table_keys import TableKey, find_key, needed_keys, primary_id

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from dataverse_client.client import DataverseClient

DEFAULT_KEY_TIMEOUT = 600.0  # seconds; Dataverse builds the key's index in a background job
POLL_SECONDS = 2.0


class ProvisioningError(Exception):
    """A table or key could not be made ready; the message says what to do."""


@dataclass(frozen=True)
class Step:
    """One metadata write: what it creates (for the report) and the request."""

    description: str
    path: str
    body: dict[str, t.Any]


@dataclass
class TablePlan:
    """What one table lacks."""

    table: ActivityTable
    steps: list[Step] = field(default_factory=list)
    key_status: str | None = None  # EntityKeyIndexStatus of an existing key


def definitions(table: ActivityTable) -> str:
    """`EntityDefinitions(LogicalName='…')`."""
    return f"EntityDefinitions(LogicalName='{table.logical_name}')"


def _exists(client: DataverseClient, table: ActivityTable) -> bool:
    try:
        client.get_json(f"{definitions(table)}?$select=LogicalName")
    except DataverseAPIError as exc:
        if exc.status == HTTPStatus.NOT_FOUND:
            return False
        raise
    return True


def _event_key(client: DataverseClient, table: ActivityTable) -> dict[str, t.Any] | None:
    """Return the table's key on exactly `acs_eventid`, if any."""
    query = f"{definitions(table)}/Keys?$select=LogicalName,KeyAttributes,EntityKeyIndexStatus"
    for key in client.iter_values(query):
        if list(key.get("KeyAttributes") or []) == [EVENT_ID.logical_name]:
            return key
    return None


def plan(client: DataverseClient, table: ActivityTable) -> TablePlan:
    """Read the table's metadata and list the writes it needs."""
    result = TablePlan(table)
    base = definitions(table)
    existing: set[str] = set()
    if _exists(client, table):
        query = f"{base}/Attributes?$select=LogicalName"
        existing = {a["LogicalName"] for a in client.iter_values(query)}
        key = _event_key(client, table)
        result.key_status = key.get("EntityKeyIndexStatus") if key else None
    else:
        result.steps.append(
            Step(
                f"create table {table.logical_name} ({table.display_name})",
                "EntityDefinitions",
                table_body(table),
            )
        )
    for column in table.columns:
        if column.logical_name not in existing:
            result.steps.append(
                Step(
                    f"create column {table.logical_name}.{column.logical_name} "
                    f"({column.display_name}, {column.kind})",
                    f"{base}/Attributes",
                    column_body(column),
                )
            )
    if result.key_status is None:
        result.steps.append(
            Step(
                f"create key {table.logical_name}.{key_body()['SchemaName']} "
                f"({EVENT_ID.logical_name})",
                f"{base}/Keys",
                key_body(),
            )
        )
    return result


def wait_for_key(
    client: DataverseClient,
    table: ActivityTable,
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Poll the event key's EntityKeyIndexStatus until Active (`wait_until_active`)."""
    return wait_until_active(
        lambda: _event_key(client, table),
        f"{table.logical_name}: key {key_body()['SchemaName']}",
        f"duplicate {EVENT_ID.logical_name} values",
        timeout,
        sleep=sleep,
        clock=clock,
    )


def wait_until_active(
    find: Callable[[], Mapping[str, t.Any] | None],
    name: str,
    duplicates: str,
    timeout: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> str:
    """Poll a key (`find`) until Active; raise if Failed or `timeout` passes.

    `name` says which key ("<table>: key <schema name>"), `duplicates` what makes it fail.
    """
    deadline = clock() + timeout
    status = "missing"
    while True:
        key = find()
        status = str(key.get("EntityKeyIndexStatus")) if key else "missing"
        if status == "Active":
            return status
        if status == "Failed":
            msg = (
                f"{name}: its index failed (EntityKeyIndexStatus Failed), e.g. {duplicates}. "
                "Remove the duplicates, then reactivate the key (ReactivateEntityKey) or delete "
                "it and rerun this command."
            )
            raise ProvisioningError(msg)
        if clock() >= deadline:
            msg = (
                f"{name} is still {status} after {timeout:.0f} s; Dataverse builds its index in "
                "a background job. Rerun this command later (it creates nothing twice) to check "
                "it is Active before loading."
            )
            raise ProvisioningError(msg)
        sleep(POLL_SECONDS)


def provision(
    client: DataverseClient,
    *,
    dry_run: bool = False,
    solution: str | None = None,
    key_timeout: float = DEFAULT_KEY_TIMEOUT,
    tables: Sequence[ActivityTable] = tuple(ACTIVITY_TABLES.values()),
    table_keys: Sequence[TableKey] = (),
    report: Callable[[str], None] = print,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Step]:
    """Create what the tables lack (or only report it); return the steps (done or planned).

    `table_keys`: the alternate keys the `tables` setting upserts on (`table_keys`).
    """
    headers = {"MSCRM.SolutionUniqueName": solution} if solution else None
    done: list[Step] = []
    for table in tables:
        table_plan = plan(client, table)
        if not table_plan.steps:
            report(f"{table.logical_name}: complete (key {table_plan.key_status})")
        for step in table_plan.steps:
            report(("would " if dry_run else "") + step.description)
            if not dry_run:
                client.post(step.path, step.body, headers=headers)
            done.append(step)
        if dry_run:
            continue
        if table_plan.key_status != "Active":
            report(f"{table.logical_name}: waiting for key index (up to {key_timeout:.0f} s)…")
            report(
                f"{table.logical_name}: key {wait_for_key(client, table, key_timeout, sleep=sleep)}"
            )
    for key in table_keys:
        done += _provision_key(
            client,
            key,
            dry_run=dry_run,
            headers=headers,
            timeout=key_timeout,
            report=report,
            sleep=sleep,
        )
    verb = "would create" if dry_run else "created"
    report(f"{verb} {len(done)} item(s)" + (f" in solution {solution}" if solution else ""))
    return done


def _provision_key(
    client: DataverseClient,
    key: TableKey,
    *,
    dry_run: bool,
    headers: dict[str, str] | None,
    timeout: float,
    report: Callable[[str], None],
    sleep: Callable[[float], None],
) -> list[Step]:
    """Create a `tables` entry's alternate key if missing, then wait until it is Active."""
    if key.columns == (primary_id(client, key),):
        return []  # the primary id: no alternate key needed
    existing = find_key(client, key)
    steps: list[Step] = []
    if existing is None:
        step = Step(f"create key {key.describe()}", f"{key.definitions}/Keys", key.body())
        report(("would " if dry_run else "") + step.description)
        if not dry_run:
            client.post(step.path, step.body, headers=headers)
        steps.append(step)
    status = existing.get("EntityKeyIndexStatus") if existing else None
    if existing is not None:
        report(f"{key.table}: key {existing.get('SchemaName')} ({', '.join(key.columns)}) {status}")
    if not dry_run and status != "Active":
        name = f"{key.table}: key {existing.get('SchemaName') if existing else key.schema_name}"
        report(f"{name}: waiting for its index (up to {timeout:.0f} s)…")
        found = wait_until_active(
            lambda: find_key(client, key),
            name,
            f"duplicate {', '.join(key.columns)} values",
            timeout,
            sleep=sleep,
        )
        report(f"{name}: {found}")
    return steps


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(
        prog="target-dynamics365-provision",
        description="Create the Adobe Campaign email event activity tables (acs_emailsend, "
        "acs_emailopen, acs_emailclick, acs_emailbounce), their columns and the acs_eventid "
        "alternate key in a Dynamics 365 org, where missing.",
    )
    parser.add_argument(
        "--config",
        action="append",
        required=True,
        help="target-dynamics365 settings file, or ENV for TARGET_DYNAMICS365_* variables "
        "(repeatable, later ones win)",
    )
    parser.add_argument("--dry-run", action="store_true", help="report, create nothing")
    parser.add_argument("--solution", help="unique name of the unmanaged solution to add them to")
    parser.add_argument(
        "--key-timeout",
        type=float,
        default=DEFAULT_KEY_TIMEOUT,
        help=f"seconds to wait for the keys to be Active (default {DEFAULT_KEY_TIMEOUT:.0f})",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `target-dynamics365-provision`; returns the exit status."""
    from target_dynamics365.target import TargetDynamics365

    args = parse_args(argv)
    try:
        config = cli_config(TargetDynamics365, args.config)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read the config: {exc}", file=sys.stderr)
        return 2
    try:
        target = TargetDynamics365(config=config, parse_env_config=False, validate_config=True)
        provision(
            target.client,
            dry_run=args.dry_run,
            solution=args.solution,
            key_timeout=args.key_timeout,
            table_keys=needed_keys(target.tables.values()),
        )
    except ConfigValidationError as exc:
        print(f"error: {exc}: {'; '.join(exc.errors)}", file=sys.stderr)
        return 2
    except (ProvisioningError, DataverseAPIError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


def cli() -> None:
    """Console script."""
    sys.exit(main())


if __name__ == "__main__":
    cli()
