"""The alternate keys the `tables` setting upserts on, created by `target-dynamics365-provision`.

A `tables` entry keyed on columns other than the table's primary id needs an alternate key on
exactly those columns (Dataverse refuses an upsert by other columns). Provisioning reads each
table's keys and primary id, creates the missing keys through the metadata Web API (`POST
EntityDefinitions(LogicalName='…')/Keys`), then waits until their indexes are Active. A key on
a column holding duplicate values fails (EntityKeyIndexStatus Failed): that is reported, with
what to do.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

from target_dynamics365.metadata import label

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from dataverse_client.client import DataverseClient

    from target_dynamics365.tables import TableSpec

#: Dataverse's limit on a key's schema name length.
MAX_SCHEMA_NAME = 100
KEY_PREFIX = "acs_"


@dataclass(frozen=True)
class TableKey:
    """An alternate key a `tables` entry needs: a table and its columns (in order)."""

    table: str
    columns: tuple[str, ...]

    @property
    def schema_name(self) -> str:
        """`acs_<table>_<column>_…_key`, within Dataverse's length limit."""
        name = f"{KEY_PREFIX}{self.table}_{'_'.join(self.columns)}"
        return f"{name[: MAX_SCHEMA_NAME - 4]}_key"

    @property
    def definitions(self) -> str:
        """`EntityDefinitions(LogicalName='<table>')`."""
        return f"EntityDefinitions(LogicalName='{self.table}')"

    def body(self) -> dict[str, t.Any]:
        """Return the EntityKeyMetadata to POST to the table's `Keys`."""
        return {
            "SchemaName": self.schema_name,
            "DisplayName": label(f"{', '.join(self.columns)} (crm-campaign-sync)"),
            "KeyAttributes": list(self.columns),
        }

    def describe(self) -> str:
        """`<table>.<schema name> (<columns>)`, for the report."""
        return f"{self.table}.{self.schema_name} ({', '.join(self.columns)})"


def needed_keys(specs: Iterable[TableSpec]) -> list[TableKey]:
    """Return the distinct keys of the `tables` entries, in setting order."""
    keys: dict[TableKey, None] = {}
    for spec in specs:
        keys.setdefault(TableKey(spec.table, spec.key))
    return list(keys)


def primary_id(client: DataverseClient, key: TableKey) -> str:
    """Return the table's primary id column (an upsert on it needs no alternate key)."""
    entity = client.get_json(f"{key.definitions}?$select=PrimaryIdAttribute")
    return str(entity["PrimaryIdAttribute"])


def find_key(client: DataverseClient, key: TableKey) -> Mapping[str, t.Any] | None:
    """Return the table's existing alternate key on exactly `key.columns` (any order), if any."""
    query = f"{key.definitions}/Keys?$select=SchemaName,KeyAttributes,EntityKeyIndexStatus"
    wanted = frozenset(key.columns)
    for existing in client.iter_values(query):
        if frozenset(existing.get("KeyAttributes") or ()) == wanted:
            return t.cast("Mapping[str, t.Any]", existing)
    return None
