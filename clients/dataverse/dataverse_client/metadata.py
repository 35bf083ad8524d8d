"""Dataverse metadata (EntityDefinitions, Attributes, option sets) and its JSON Schema mapping.

Tables are listed once with a `$select`; attributes are then read one table at a time, never
with one `$expand=Attributes` over every table (that does not finish on large orgs).
"""

from __future__ import annotations

import fnmatch
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from dataverse_client.client import DataverseClient

TABLE_PROPERTIES = (
    "LogicalName",
    "EntitySetName",
    "PrimaryIdAttribute",
    "PrimaryNameAttribute",
    "IsCustomEntity",
    "IsActivity",
    "ChangeTrackingEnabled",
    "DisplayName",
)
ATTRIBUTE_PROPERTIES = (
    "LogicalName",
    "AttributeType",
    "AttributeTypeName",
    "AttributeOf",
    "IsValidForRead",
    "IsPrimaryId",
    "DisplayName",
)

LOOKUP_TYPES = frozenset({"Lookup", "Customer", "Owner"})
CHOICE_TYPES = frozenset({"Picklist", "State", "Status"})
MULTISELECT_TYPE_NAME = "MultiSelectPicklistType"

_SCALAR_SCHEMAS: dict[str, dict[str, t.Any]] = {
    "String": {"type": ["string", "null"]},
    "Memo": {"type": ["string", "null"]},
    "EntityName": {"type": ["string", "null"]},
    "Integer": {"type": ["integer", "null"]},
    "BigInt": {"type": ["integer", "null"]},
    "Picklist": {"type": ["integer", "null"]},
    "State": {"type": ["integer", "null"]},
    "Status": {"type": ["integer", "null"]},
    "Decimal": {"type": ["number", "null"]},
    "Double": {"type": ["number", "null"]},
    "Money": {"type": ["number", "null"]},
    "Boolean": {"type": ["boolean", "null"]},
    "DateTime": {"type": ["string", "null"], "format": "date-time"},
    "Uniqueidentifier": {"type": ["string", "null"], "format": "uuid"},
}
#: Types Dataverse annotates with an `OData.Community.Display.V1.FormattedValue` label.
FORMATTED_TYPES = frozenset(
    {"Picklist", "State", "Status", "Boolean", "DateTime", "Money", "Decimal", "Double"}
    | {"Integer", "BigInt"}
    | LOOKUP_TYPES
)

#: Metadata casts that carry option sets, with the attribute types they cover.
MULTISELECT_CAST = "MultiSelectPicklistAttributeMetadata"
OPTION_SET_CASTS = (
    "PicklistAttributeMetadata",
    MULTISELECT_CAST,
    "BooleanAttributeMetadata",
    "StateAttributeMetadata",
    "StatusAttributeMetadata",
)

LOOKUP_NAME_SUFFIX = "_lookuplogicalname"
FORMATTED_SUFFIX = "_formatted"
DELETED_AT = "_sdc_deleted_at"


def label(value: t.Any) -> str | None:
    """Return the user-localized text of a Dataverse `Label`, else the first localized one."""
    if not value:
        return None
    if user := value.get("UserLocalizedLabel"):
        return t.cast("str | None", user.get("Label"))
    labels = value.get("LocalizedLabels") or ()
    return t.cast("str | None", labels[0].get("Label")) if labels else None


@dataclass(frozen=True)
class Table:
    """The EntityMetadata a stream needs."""

    logical_name: str
    entity_set_name: str
    primary_id: str
    primary_name: str | None
    is_custom: bool
    is_activity: bool
    change_tracking: bool
    display_name: str | None

    @classmethod
    def from_metadata(cls, entity: dict[str, t.Any]) -> Table:
        """Build from one `EntityDefinitions` item."""
        return cls(
            logical_name=entity["LogicalName"],
            entity_set_name=entity["EntitySetName"],
            primary_id=entity["PrimaryIdAttribute"],
            primary_name=entity.get("PrimaryNameAttribute"),
            is_custom=bool(entity.get("IsCustomEntity")),
            is_activity=bool(entity.get("IsActivity")),
            change_tracking=bool(entity.get("ChangeTrackingEnabled")),
            display_name=label(entity.get("DisplayName")),
        )


@dataclass(frozen=True)
class Column:
    """One readable attribute, with what its JSON Schema and record mapping need."""

    logical_name: str
    attribute_type: str
    type_name: str
    display_name: str | None = None
    max_length: int | None = None
    date_only: bool = False

    @property
    def is_lookup(self) -> bool:
        """Lookup, Customer and Owner columns are read as `_<name>_value`."""
        return self.attribute_type in LOOKUP_TYPES

    @property
    def is_multiselect(self) -> bool:
        """Multi-select choice (AttributeType Virtual, type name MultiSelectPicklistType)."""
        return self.type_name == MULTISELECT_TYPE_NAME

    @property
    def read_name(self) -> str:
        """The property name in Web API rows, and the stream column name."""
        return f"_{self.logical_name}_value" if self.is_lookup else self.logical_name

    @property
    def has_formatted_value(self) -> bool:
        """Whether Dataverse sends a FormattedValue annotation (label) for this column."""
        return self.is_multiselect or self.attribute_type in FORMATTED_TYPES

    def json_schema(self) -> dict[str, t.Any]:
        """Return the column's JSON Schema (nullable: Dataverse returns null for empties)."""
        if self.is_multiselect:
            schema: dict[str, t.Any] = {
                "type": ["array", "null"],
                "items": {"type": "integer"},
            }
        elif self.is_lookup:
            schema = {"type": ["string", "null"], "format": "uuid"}
        elif self.attribute_type == "DateTime" and self.date_only:
            schema = {"type": ["string", "null"], "format": "date"}
        else:
            schema = dict(_SCALAR_SCHEMAS[self.attribute_type])
            if self.max_length and self.attribute_type in {"String", "Memo"}:
                schema["maxLength"] = self.max_length
        if self.display_name:
            schema["description"] = self.display_name
        return schema


def is_supported(attribute: dict[str, t.Any]) -> bool:
    """Readable, not a derived helper column (AttributeOf), and of a type we can map."""
    if attribute.get("AttributeOf") or attribute.get("IsValidForRead") is False:
        return False
    type_name = (attribute.get("AttributeTypeName") or {}).get("Value")
    kind = attribute.get("AttributeType")
    return type_name == MULTISELECT_TYPE_NAME or kind in _SCALAR_SCHEMAS or kind in LOOKUP_TYPES


def list_tables(client: DataverseClient) -> list[Table]:
    """List every table the Web API can query (those with an entity set)."""
    url = f"EntityDefinitions?$select={','.join(TABLE_PROPERTIES)}"
    return [Table.from_metadata(e) for e in client.iter_values(url) if e.get("EntitySetName")]


def _matches(name: str, patterns: Iterable[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def select_tables(
    tables: Iterable[Table],
    *,
    include: Iterable[str],
    include_custom: bool,
    exclude: Iterable[str],
) -> list[Table]:
    """Apply the `tables`, `include_custom_tables` and `exclude_tables` settings.

    Tables come in the order `include` lists them (a pattern's matches by name), then the custom
    tables only `include_custom` brings, by name: a loader that writes parents first needs the
    parents' table before its children's (contact before account before salesorder).
    """
    include, exclude = list(include), list(exclude)

    def order(table: Table) -> tuple[int, str]:
        name = table.logical_name
        rank = next(
            (i for i, pattern in enumerate(include) if fnmatch.fnmatchcase(name, pattern)),
            len(include),
        )
        return rank, name

    return sorted(
        (
            table
            for table in tables
            if (_matches(table.logical_name, include) or (include_custom and table.is_custom))
            and not _matches(table.logical_name, exclude)
        ),
        key=order,
    )


def _attributes_path(table: Table, cast: str | None = None) -> str:
    path = f"EntityDefinitions(LogicalName='{table.logical_name}')/Attributes"
    return f"{path}/Microsoft.Dynamics.CRM.{cast}" if cast else path


def list_columns(client: DataverseClient, table: Table) -> list[Column]:
    """Read the table's readable columns, with MaxLength and DateOnly from their casts."""
    attributes = client.iter_values(
        f"{_attributes_path(table)}?$select={','.join(ATTRIBUTE_PROPERTIES)}"
    )
    supported = [a for a in attributes if is_supported(a)]
    max_lengths: dict[str, int] = {}
    for cast in ("StringAttributeMetadata", "MemoAttributeMetadata"):
        for item in client.iter_values(
            f"{_attributes_path(table, cast)}?$select=LogicalName,MaxLength"
        ):
            if item.get("MaxLength"):
                max_lengths[item["LogicalName"]] = item["MaxLength"]
    date_only = {
        item["LogicalName"]
        for item in client.iter_values(
            f"{_attributes_path(table, 'DateTimeAttributeMetadata')}?$select=LogicalName,Format"
        )
        if item.get("Format") == "DateOnly"
    }
    columns = [
        Column(
            logical_name=a["LogicalName"],
            attribute_type=a["AttributeType"],
            type_name=(a.get("AttributeTypeName") or {}).get("Value") or "",
            display_name=label(a.get("DisplayName")),
            max_length=max_lengths.get(a["LogicalName"]),
            date_only=a["LogicalName"] in date_only,
        )
        for a in supported
    ]
    return sorted(columns, key=lambda c: (c.logical_name != table.primary_id, c.logical_name))


def table_schema(
    columns: Iterable[Column], *, formatted_values: bool, deletes: bool
) -> dict[str, t.Any]:
    """Build the stream schema: columns, lookup target names, labels, `_sdc_deleted_at`."""
    properties: dict[str, t.Any] = {}
    for column in columns:
        properties[column.read_name] = column.json_schema()
        if column.is_lookup:
            properties[column.read_name + LOOKUP_NAME_SUFFIX] = {
                "type": ["string", "null"],
                "description": f"Logical name of the table {column.read_name} points to",
            }
        if formatted_values and column.has_formatted_value:
            properties[column.read_name + FORMATTED_SUFFIX] = {
                "type": ["string", "null"],
                "description": f"Formatted value (label) of {column.read_name}",
            }
    if deletes:
        properties[DELETED_AT] = {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "When the tap saw the row deleted (change tracking); null otherwise",
        }
    return {"type": "object", "properties": properties}


def _option_records(
    table: str, attribute: str, option_set: dict[str, t.Any], *, multi_select: bool = False
) -> Iterator[dict[str, t.Any]]:
    if "TrueOption" in option_set or "FalseOption" in option_set:
        options = [o for o in (option_set.get("TrueOption"), option_set.get("FalseOption")) if o]
    else:
        options = option_set.get("Options") or []
    for option in options:
        yield {
            "table": table,
            "attribute": attribute,
            "option_set_name": option_set.get("Name"),
            "is_global": bool(option_set.get("IsGlobal")),
            "is_multi_select": multi_select,
            "value": option["Value"],
            "label": label(option.get("Label")),
            "state": option.get("State"),
        }


def list_options(
    client: DataverseClient, table: Table, attributes: set[str]
) -> Iterator[dict[str, t.Any]]:
    """One record per (table, attribute, value) of the table's choice and Boolean columns."""
    for cast in OPTION_SET_CASTS:
        url = (
            f"{_attributes_path(table, cast)}?$select=LogicalName&$expand=OptionSet,GlobalOptionSet"
        )
        for item in client.iter_values(url):
            if item["LogicalName"] not in attributes:
                continue
            option_set = item.get("OptionSet") or item.get("GlobalOptionSet")
            if option_set:
                yield from _option_records(
                    table.logical_name,
                    item["LogicalName"],
                    option_set,
                    multi_select=cast == MULTISELECT_CAST,
                )
