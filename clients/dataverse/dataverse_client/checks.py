"""Connection check steps against Dataverse, shared by tap-dynamics365 and target-dynamics365."""

from __future__ import annotations

import typing as t

from sync_support.checks import CheckStep

from dataverse_client.metadata import TABLE_PROPERTIES, Table, list_columns

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from dataverse_client.client import DataverseClient

CHECK_PAGE_SIZE = 5  # rows asked for by the page step: proves read access, costs nothing


class CheckError(Exception):
    """A step found something wrong that is not an HTTP or auth error (e.g. no table)."""


#: A table name, or a callable resolving it when the step runs (after earlier steps).
TableRef = t.Union[str, "Callable[[], str]"]


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
