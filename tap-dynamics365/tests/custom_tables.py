"""Create wide custom tables through the Web API's metadata writes, and rows in them.

What a customer's org looks like: many custom tables with many columns of every type the tap
maps. Tables are created as Microsoft documents it (`POST EntityDefinitions` with the primary
name column, then one `POST …/Attributes` per column) by the application user.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from dataverse_client.client import DataverseClient

NS = "Microsoft.Dynamics.CRM."
#: Column kinds cycled through; DateOnly is a DateTime column with Format DateOnly.
KINDS = (
    "String",
    "Memo",
    "Integer",
    "BigInt",
    "Decimal",
    "Double",
    "Money",
    "Boolean",
    "DateTime",
    "DateOnly",
    "Picklist",
)
CHOICES = (100000000, 100000001, 100000002)
MAX_LENGTHS = {"String": 200, "Memo": 4000}


def _label(text: str) -> dict[str, t.Any]:
    return {"LocalizedLabels": [{"Label": text, "LanguageCode": 1033}]}


@dataclass(frozen=True)
class WideTable:
    """A custom table `new_<name>` with a primary name column and `columns - 1` others."""

    name: str
    columns: int

    @property
    def logical_name(self) -> str:
        """Logical name (lower-cased schema name)."""
        return f"new_{self.name}"

    @property
    def entity_set(self) -> str:
        """Entity set name (the sandbox pluralises like Dataverse: + "s")."""
        return f"{self.logical_name}s"

    @property
    def primary_id(self) -> str:
        """Primary key column."""
        return f"{self.logical_name}id"

    def column_kinds(self) -> dict[str, str]:
        """Logical name → kind of every column but the primary name (`new_name`)."""
        return {
            f"new_c{n:02d}_{KINDS[n % len(KINDS)].lower()}": KINDS[n % len(KINDS)]
            for n in range(1, self.columns)
        }

    def create(self, client: DataverseClient) -> None:
        """Create the table, then its columns one by one."""
        client.post(
            "EntityDefinitions",
            {
                "@odata.type": f"{NS}EntityMetadata",
                "SchemaName": f"new_{self.name}",
                "DisplayName": _label(self.name),
                "DisplayCollectionName": _label(f"{self.name}s"),
                "OwnershipType": "UserOwned",
                "HasActivities": False,
                "HasNotes": False,
                "ChangeTrackingEnabled": True,
                "Attributes": [
                    {**column_definition("new_Name", "String"), "IsPrimaryName": True},
                ],
            },
        )
        path = f"EntityDefinitions(LogicalName='{self.logical_name}')/Attributes"
        for name, kind in self.column_kinds().items():
            client.post(path, column_definition(name, kind))

    def row(self, n: int) -> dict[str, t.Any]:
        """Row `n`: a value in every column, as written and as read back."""
        values: dict[str, t.Any] = {"new_name": f"{self.name} row {n}"}
        for index, (name, kind) in enumerate(self.column_kinds().items()):
            values[name] = sample(kind, n + index)
        return values


def column_definition(schema: str, kind: str) -> dict[str, t.Any]:
    """AttributeMetadata of a column of `kind`."""
    base: dict[str, t.Any] = {
        "SchemaName": schema,
        "DisplayName": _label(schema.removeprefix("new_")),
        "RequiredLevel": {"Value": "None"},
    }
    metadata_type = "DateTime" if kind == "DateOnly" else kind
    base["@odata.type"] = f"{NS}{metadata_type}AttributeMetadata"
    base["AttributeType"] = metadata_type
    base["AttributeTypeName"] = {"Value": f"{metadata_type}Type"}
    if kind in MAX_LENGTHS:
        base["MaxLength"] = MAX_LENGTHS[kind]
    elif kind in {"Decimal", "Money"}:
        base["Precision"] = 2
    elif kind == "DateOnly":
        base["Format"] = "DateOnly"
    elif kind == "DateTime":
        base["Format"] = "DateAndTime"
    elif kind == "Picklist":
        base["OptionSet"] = {
            "@odata.type": f"{NS}OptionSetMetadata",
            "IsGlobal": False,
            "OptionSetType": "Picklist",
            "Options": [
                {"Value": value, "Label": _label(f"Option {value - CHOICES[0]}")}
                for value in CHOICES
            ],
        }
    return base


def sample(kind: str, n: int) -> t.Any:
    """A value of `kind` (the same when written and when read back)."""
    match kind:
        case "String":
            return f"text {n}"
        case "Memo":
            return f"memo {n}\nsecond line"
        case "Integer":
            return n * 7
        case "BigInt":
            return 10_000_000_000 + n
        case "Decimal" | "Money":
            return round(n * 1.25, 2)
        case "Double":
            return n / 4
        case "Boolean":
            return n % 2 == 0
        case "DateTime":
            return f"2026-0{n % 9 + 1}-1{n % 10}T08:{n % 60:02d}:00Z"
        case "DateOnly":
            return f"2025-1{n % 3}-0{n % 9 + 1}"
        case "Picklist":
            return CHOICES[n % len(CHOICES)]
    raise ValueError(kind)


#: The JSON Schema type each kind's stream column has.
SCHEMA_TYPES = {
    "String": ("string", None),
    "Memo": ("string", None),
    "Integer": ("integer", None),
    "BigInt": ("integer", None),
    "Decimal": ("number", None),
    "Double": ("number", None),
    "Money": ("number", None),
    "Boolean": ("boolean", None),
    "DateTime": ("string", "date-time"),
    "DateOnly": ("string", "date"),
    "Picklist": ("integer", None),
}
