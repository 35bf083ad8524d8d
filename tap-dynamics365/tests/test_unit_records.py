"""Row → record projection and paging."""

from __future__ import annotations

from dataverse_client.metadata import Column
from tap_dynamics365.pagination import ODataPaginator
from tap_dynamics365.records import RecordBuilder

from .fakes import response

COLUMNS = [
    Column("new_projectid", "Uniqueidentifier", "UniqueidentifierType"),
    Column("new_contactid", "Lookup", "LookupType"),
    Column("new_channels", "Virtual", "MultiSelectPicklistType"),
    Column("new_stage", "Picklist", "PicklistType"),
]
ROW = {
    "@odata.etag": 'W/"7"',
    "new_projectid": "p1",
    "_new_contactid_value@OData.Community.Display.V1.FormattedValue": "Ada Lovelace",
    "_new_contactid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "contact",
    "_new_contactid_value": "c1",
    "new_channels@OData.Community.Display.V1.FormattedValue": "Email; SMS",
    "new_channels": "100000000,100000001",
    "new_stage@OData.Community.Display.V1.FormattedValue": "Running",
    "new_stage": 100000001,
}


def test_record_keeps_technical_values_and_lookup_target() -> None:
    record = RecordBuilder(COLUMNS, formatted_values=False).build(ROW)
    assert record == {
        "new_projectid": "p1",
        "_new_contactid_value": "c1",
        "_new_contactid_value_lookuplogicalname": "contact",
        "new_channels": [100000000, 100000001],
        "new_stage": 100000001,
    }


def test_record_with_formatted_values() -> None:
    record = RecordBuilder(COLUMNS, formatted_values=True).build(ROW)
    assert record["new_stage_formatted"] == "Running"
    assert record["_new_contactid_value_formatted"] == "Ada Lovelace"
    assert record["new_channels_formatted"] == "Email; SMS"


def test_missing_and_empty_values() -> None:
    record = RecordBuilder(COLUMNS, formatted_values=False).build(
        {"new_projectid": "p2", "new_channels": ""}
    )
    assert record["_new_contactid_value"] is None
    assert record["new_channels"] == []
    assert (
        RecordBuilder(COLUMNS, formatted_values=False).build({"new_channels": None})["new_channels"]
        is None
    )


def test_paginator_follows_next_link_unchanged_and_stops_at_delta_link() -> None:
    paginator = ODataPaginator()
    next_link = "https://org.example/api/data/v9.2/contacts?$select=fullname&$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E"
    paginator.advance(response(body={"value": [{"a": 1}], "@odata.nextLink": next_link}))
    assert not paginator.finished
    assert paginator.current_value.geturl() == next_link
    paginator.advance(
        response(body={"value": [], "@odata.deltaLink": "https://org.example/d?$deltatoken=1"})
    )
    assert paginator.finished


def test_only_selected_columns_are_built() -> None:
    builder = RecordBuilder(
        COLUMNS,
        formatted_values=True,
        selected=lambda name: (
            name not in {"new_channels", "_new_contactid_value_lookuplogicalname"}
        ),
    )
    record = builder.build(ROW)
    assert "new_channels" not in record
    assert "_new_contactid_value_lookuplogicalname" not in record
    assert record["_new_contactid_value"] == "c1"
    assert record["new_channels_formatted"] == "Email; SMS"
