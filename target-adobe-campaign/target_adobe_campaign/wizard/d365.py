"""Read what the wizard needs of a Dynamics 365 table from Dataverse's metadata Web API.

One `EntityDefinitions(LogicalName='…')` read, then its `Attributes` (every column, including the
ones the wizard will skip, so they can be listed) and the type casts that carry what the base
type lacks: `MaxLength` (String, Memo), `Format` (DateTime, DateOnly), `Targets` (lookups) and
the option sets of choice, state and status columns.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from http import HTTPStatus

from dataverse_client.client import DataverseAPIError
from dataverse_client.metadata import (
    ATTRIBUTE_PROPERTIES,
    CHOICE_TYPES,
    TABLE_PROPERTIES,
    Table,
    label,
    list_options,
)

if t.TYPE_CHECKING:
    from dataverse_client.client import DataverseClient

TABLE_SELECT = (*TABLE_PROPERTIES, "DisplayCollectionName")
ATTRIBUTE_SELECT = ATTRIBUTE_PROPERTIES
NS = "Microsoft.Dynamics.CRM"
OPTION_TYPES = CHOICE_TYPES


class TableNotFoundError(Exception):
    """The table is not in the environment (or not visible to the application user)."""


@dataclass(frozen=True)
class D365Attribute:
    """One column of a table, as far as the type mapping needs it."""

    logical_name: str
    attribute_type: str  # AttributeType: String, Money, Lookup, ...
    type_name: str = ""  # AttributeTypeName.Value: StringType, MultiSelectPicklistType, ...
    display_name: str = ""
    attribute_of: str | None = None  # a helper column derived from another one
    readable: bool = True
    is_primary_id: bool = False
    max_length: int | None = None
    date_only: bool = False
    targets: tuple[str, ...] = ()  # lookups: the tables it may point at
    options: tuple[tuple[int, str], ...] = ()  # choices, states, statuses: (value, label)


@dataclass(frozen=True)
class D365Table:
    """A table and its columns (in logical-name order)."""

    logical_name: str
    entity_set_name: str
    primary_id: str
    primary_name: str | None
    display_name: str
    collection_name: str
    is_custom: bool
    change_tracking: bool
    attributes: tuple[D365Attribute, ...]

    def attribute(self, name: str) -> D365Attribute | None:
        """Return the column `name`, if the table has it."""
        return next((a for a in self.attributes if a.logical_name == name), None)


def _path(table: str, cast: str | None = None) -> str:
    path = f"EntityDefinitions(LogicalName='{table}')/Attributes"
    return f"{path}/{NS}.{cast}" if cast else path


def read_table(client: DataverseClient, logical_name: str) -> D365Table:
    """Read a table's definition and all its columns; raise TableNotFoundError if absent."""
    try:
        entity = client.get_json(
            f"EntityDefinitions(LogicalName='{logical_name}')?$select={','.join(TABLE_SELECT)}"
        )
    except DataverseAPIError as exc:
        if exc.status == HTTPStatus.NOT_FOUND:
            msg = f"table '{logical_name}' is not in this Dynamics 365 environment"
            raise TableNotFoundError(msg) from None
        raise
    rows = list(client.iter_values(f"{_path(logical_name)}?$select={','.join(ATTRIBUTE_SELECT)}"))
    max_lengths = {
        item["LogicalName"]: item.get("MaxLength")
        for cast in ("StringAttributeMetadata", "MemoAttributeMetadata")
        for item in client.iter_values(f"{_path(logical_name, cast)}?$select=LogicalName,MaxLength")
    }
    date_only = {
        item["LogicalName"]
        for item in client.iter_values(
            f"{_path(logical_name, 'DateTimeAttributeMetadata')}?$select=LogicalName,Format"
        )
        if item.get("Format") == "DateOnly"
    }
    targets = {
        item["LogicalName"]: tuple(item.get("Targets") or ())
        for item in client.iter_values(
            f"{_path(logical_name, 'LookupAttributeMetadata')}?$select=LogicalName,Targets"
        )
    }
    choices = {r["LogicalName"] for r in rows if r.get("AttributeType") in OPTION_TYPES}
    options: dict[str, list[tuple[int, str]]] = {}
    if choices:
        for option in list_options(client, Table.from_metadata(entity), choices):
            options.setdefault(option["attribute"], []).append(
                (int(option["value"]), option["label"] or str(option["value"]))
            )
    attributes = [
        D365Attribute(
            logical_name=row["LogicalName"],
            attribute_type=row.get("AttributeType") or "",
            type_name=(row.get("AttributeTypeName") or {}).get("Value") or "",
            display_name=label(row.get("DisplayName")) or "",
            attribute_of=row.get("AttributeOf"),
            readable=row.get("IsValidForRead") is not False,
            is_primary_id=bool(row.get("IsPrimaryId")),
            max_length=max_lengths.get(row["LogicalName"]),
            date_only=row["LogicalName"] in date_only,
            targets=targets.get(row["LogicalName"], ()),
            options=tuple(options.get(row["LogicalName"], ())),
        )
        for row in rows
    ]
    display = label(entity.get("DisplayName")) or logical_name
    return D365Table(
        logical_name=entity["LogicalName"],
        entity_set_name=entity["EntitySetName"],
        primary_id=entity["PrimaryIdAttribute"],
        primary_name=entity.get("PrimaryNameAttribute"),
        display_name=display,
        collection_name=label(entity.get("DisplayCollectionName")) or display,
        is_custom=bool(entity.get("IsCustomEntity")),
        change_tracking=bool(entity.get("ChangeTrackingEnabled")),
        attributes=tuple(sorted(attributes, key=lambda a: a.logical_name)),
    )
