"""Metadata API bodies (EntityMetadata, AttributeMetadata, EntityKeyMetadata) for the tables.

Built from the definitions in `events` (one place), in the shape of Microsoft's "Create and
update table definitions using the Web API" pages.
"""

from __future__ import annotations

import typing as t

from target_dynamics365.events import EVENT_ID, KEY_NAME, SUBJECT_MAX_LENGTH

if t.TYPE_CHECKING:
    from target_dynamics365.events import ActivityTable, Column

NS = "Microsoft.Dynamics.CRM"
LANGUAGE = 1033
NOT_REQUIRED = {
    "Value": "None",
    "CanBeChanged": True,
    "ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings",
}


def label(text: str) -> dict[str, t.Any]:
    """Return a Label with one English (1033) LocalizedLabel."""
    return {
        "@odata.type": f"{NS}.Label",
        "LocalizedLabels": [
            {"@odata.type": f"{NS}.LocalizedLabel", "Label": text, "LanguageCode": LANGUAGE}
        ],
    }


def table_body(table: ActivityTable) -> dict[str, t.Any]:
    """`POST EntityDefinitions`: a user-owned custom activity whose primary name is Subject."""
    return {
        "@odata.type": f"{NS}.EntityMetadata",
        "SchemaName": table.schema_name,
        "EntitySetName": table.entity_set,
        "DisplayName": label(table.display_name),
        "DisplayCollectionName": label(f"{table.display_name}s"),
        "Description": label(f"{table.display_name} events from Adobe Campaign"),
        "OwnershipType": "UserOwned",
        "IsActivity": True,
        "HasActivities": False,
        "HasNotes": False,
        "Attributes": [
            {
                "@odata.type": f"{NS}.StringAttributeMetadata",
                "AttributeType": "String",
                "AttributeTypeName": {"Value": "StringType"},
                "SchemaName": "Subject",
                "IsPrimaryName": True,
                "MaxLength": SUBJECT_MAX_LENGTH,
                "FormatName": {"Value": "Text"},
                "RequiredLevel": NOT_REQUIRED,
                "DisplayName": label("Subject"),
                "Description": label("Campaign Name and Delivery Name of the email delivery"),
            }
        ],
    }


def column_body(column: Column) -> dict[str, t.Any]:
    """`POST EntityDefinitions(LogicalName='…')/Attributes`: a String or DateTime column."""
    common = {
        "SchemaName": column.logical_name,
        "RequiredLevel": NOT_REQUIRED,
        "DisplayName": label(column.display_name),
        "Description": label(f"{column.display_name} (Adobe Campaign)"),
    }
    if column.kind == "DateTime":
        return {
            "@odata.type": f"{NS}.DateTimeAttributeMetadata",
            "AttributeType": "DateTime",
            "AttributeTypeName": {"Value": "DateTimeType"},
            "Format": "DateAndTime",
            "DateTimeBehavior": {"Value": "UserLocal"},
            **common,
        }
    return {
        "@odata.type": f"{NS}.StringAttributeMetadata",
        "AttributeType": "String",
        "AttributeTypeName": {"Value": "StringType"},
        "MaxLength": column.max_length,
        "FormatName": {"Value": "Url" if column.url else "Text"},
        **common,
    }


def key_body() -> dict[str, t.Any]:
    """`POST EntityDefinitions(LogicalName='…')/Keys`: the `acs_eventid` alternate key."""
    return {
        "SchemaName": KEY_NAME,
        "DisplayName": label(EVENT_ID.display_name),
        "KeyAttributes": [EVENT_ID.logical_name],
    }
