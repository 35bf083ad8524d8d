"""Metadata → JSON Schema mapping, table selection and option set records."""

from __future__ import annotations

import pytest
from dataverse_client.metadata import (
    Column,
    Table,
    _option_records,
    is_supported,
    select_tables,
    table_schema,
)


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        (
            Column("firstname", "String", "StringType", max_length=50),
            {"type": ["string", "null"], "maxLength": 50},
        ),
        (
            Column("description", "Memo", "MemoType", max_length=2000),
            {"type": ["string", "null"], "maxLength": 2000},
        ),
        (Column("numberofchildren", "Integer", "IntegerType"), {"type": ["integer", "null"]}),
        (Column("versionnumber", "BigInt", "BigIntType"), {"type": ["integer", "null"]}),
        (Column("revenue", "Money", "MoneyType"), {"type": ["number", "null"]}),
        (Column("new_budget", "Decimal", "DecimalType"), {"type": ["number", "null"]}),
        (Column("new_hours", "Double", "DoubleType"), {"type": ["number", "null"]}),
        (Column("donotemail", "Boolean", "BooleanType"), {"type": ["boolean", "null"]}),
        (
            Column("modifiedon", "DateTime", "DateTimeType"),
            {"type": ["string", "null"], "format": "date-time"},
        ),
        (
            Column("birthdate", "DateTime", "DateTimeType", date_only=True),
            {"type": ["string", "null"], "format": "date"},
        ),
        (
            Column("contactid", "Uniqueidentifier", "UniqueidentifierType"),
            {"type": ["string", "null"], "format": "uuid"},
        ),
        (Column("gendercode", "Picklist", "PicklistType"), {"type": ["integer", "null"]}),
        (Column("statecode", "State", "StateType"), {"type": ["integer", "null"]}),
        (Column("statuscode", "Status", "StatusType"), {"type": ["integer", "null"]}),
        (
            Column("parentcustomerid", "Customer", "CustomerType"),
            {"type": ["string", "null"], "format": "uuid"},
        ),
        (
            Column("new_channels", "Virtual", "MultiSelectPicklistType"),
            {"type": ["array", "null"], "items": {"type": "integer"}},
        ),
    ],
)
def test_column_schema(column: Column, expected: dict) -> None:
    assert column.json_schema() == expected


def test_lookup_columns_use_the_web_api_read_name() -> None:
    assert Column("ownerid", "Owner", "OwnerType").read_name == "_ownerid_value"
    assert Column("firstname", "String", "StringType").read_name == "firstname"


@pytest.mark.parametrize(
    ("attribute", "supported"),
    [
        ({"LogicalName": "firstname", "AttributeType": "String", "IsValidForRead": True}, True),
        (
            {
                "LogicalName": "parentcustomeridname",
                "AttributeType": "String",
                "AttributeOf": "parentcustomerid",
            },
            False,
        ),
        ({"LogicalName": "secret", "AttributeType": "String", "IsValidForRead": False}, False),
        (
            {
                "LogicalName": "entityimage",
                "AttributeType": "Virtual",
                "AttributeTypeName": {"Value": "ImageType"},
            },
            False,
        ),
        ({"LogicalName": "to", "AttributeType": "PartyList"}, False),
        (
            {
                "LogicalName": "new_channels",
                "AttributeType": "Virtual",
                "AttributeTypeName": {"Value": "MultiSelectPicklistType"},
            },
            True,
        ),
    ],
)
def test_unsupported_attributes_are_skipped(attribute: dict, supported: bool) -> None:
    assert is_supported(attribute) is supported


def _table(name: str, *, custom: bool = False) -> Table:
    return Table(name, f"{name}s", f"{name}id", "name", custom, False, True, None)


def test_table_selection_globs_custom_and_excludes() -> None:
    tables = [
        _table("contact"),
        _table("account"),
        _table("lead"),
        _table("new_project", custom=True),
        _table("new_secret", custom=True),
    ]
    chosen = select_tables(
        tables, include=["contact", "acc*"], include_custom=True, exclude=["new_secret"]
    )
    # in the order `tables` lists them (parents before children), then the other custom ones
    assert [t.logical_name for t in chosen] == ["contact", "account", "new_project"]
    chosen = select_tables(tables, include=["contact"], include_custom=False, exclude=[])
    assert [t.logical_name for t in chosen] == ["contact"]
    chosen = select_tables(tables, include=["*"], include_custom=False, exclude=["new_*"])
    assert [t.logical_name for t in chosen] == ["account", "contact", "lead"]


def test_table_schema_adds_lookup_names_labels_and_delete_marker() -> None:
    columns = [
        Column("contactid", "Uniqueidentifier", "UniqueidentifierType"),
        Column("parentcustomerid", "Customer", "CustomerType"),
        Column("gendercode", "Picklist", "PicklistType"),
        Column("firstname", "String", "StringType"),
    ]
    plain = table_schema(columns, formatted_values=False, deletes=False)["properties"]
    assert set(plain) == {
        "contactid",
        "_parentcustomerid_value",
        "_parentcustomerid_value_lookuplogicalname",
        "gendercode",
        "firstname",
    }
    rich = table_schema(columns, formatted_values=True, deletes=True)["properties"]
    assert {"gendercode_formatted", "_parentcustomerid_value_formatted", "_sdc_deleted_at"} <= set(
        rich
    )
    assert "firstname_formatted" not in rich


def test_option_records_for_boolean_and_status() -> None:
    boolean = {
        "Name": "contact_donotemail",
        "IsGlobal": True,
        "TrueOption": {"Value": 1, "Label": {"UserLocalizedLabel": {"Label": "Do Not Allow"}}},
        "FalseOption": {"Value": 0, "Label": {"LocalizedLabels": [{"Label": "Allow"}]}},
    }
    assert [
        (r["value"], r["label"]) for r in _option_records("contact", "donotemail", boolean)
    ] == [(1, "Do Not Allow"), (0, "Allow")]
    status = {
        "Name": "contact_statuscode",
        "IsGlobal": False,
        "Options": [
            {"Value": 2, "State": 1, "Label": {"UserLocalizedLabel": {"Label": "Inactive"}}}
        ],
    }
    (record,) = _option_records("contact", "statuscode", status)
    assert record == {
        "table": "contact",
        "attribute": "statuscode",
        "option_set_name": "contact_statuscode",
        "is_global": False,
        "is_multi_select": False,
        "value": 2,
        "label": "Inactive",
        "state": 1,
    }


def test_option_records_flag_multi_select_choices() -> None:
    channels = {
        "Name": "new_project_new_channels",
        "IsGlobal": False,
        "Options": [
            {"Value": 100000000, "Label": {"UserLocalizedLabel": {"Label": "Email"}}},
            {"Value": 100000001, "Label": {"UserLocalizedLabel": {"Label": "SMS"}}},
        ],
    }
    records = list(_option_records("new_project", "new_channels", channels, multi_select=True))
    assert [(r["value"], r["label"], r["is_multi_select"]) for r in records] == [
        (100000000, "Email", True),
        (100000001, "SMS", True),
    ]
    assert all(not r["is_multi_select"] for r in _option_records("t", "a", channels))
