"""The generic table sink (`tables` setting) against the Dataverse sandbox."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import typing as t
import uuid
from pathlib import Path

import pytest
from sync_support.settings_check import ConfigError
from target_dynamics365.table_metadata import navigation_property
from target_dynamics365.table_sink import TableSink
from target_dynamics365.target import RecordsRejectedError, TargetDynamics365, summary_line

from .helpers import client, config, rejects, writes

STRING = {"type": ["string", "null"]}
ACCOUNT_SCHEMA = {
    "type": "object",
    "properties": {
        "accountnumber": STRING,
        "company": STRING,
        "industry": STRING,
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
}
#: Campaign companies → account, upserted on the accountnumber alternate key.
ACCOUNTS = {
    "table": "account",
    "key": "accountnumber",
    "columns": {"company": "name", "industry": "industrycode"},
    "choices_by_label": ["industrycode"],
}
KEY_NAME = "new_accountnumber_key"


def singer_input(stream: str, schema: dict, records: list[dict[str, t.Any]]) -> str:
    """SCHEMA + RECORDs of `stream` + one STATE."""
    messages: list[dict[str, t.Any]] = [
        {"type": "SCHEMA", "stream": stream, "schema": schema, "key_properties": []},
        *({"type": "RECORD", "stream": stream, "record": r} for r in records),
        {"type": "STATE", "value": {"bookmarks": {stream: {"position": len(records)}}}},
    ]
    return "".join(json.dumps(m) + "\n" for m in messages)


def load(
    settings: dict[str, t.Any],
    records: list[dict[str, t.Any]],
    stream: str = "companies",
    schema: dict | None = None,
) -> TargetDynamics365:
    """Run the target in-process on `records` of `stream`; return it (for its summary)."""
    target = TargetDynamics365(config=settings)
    text = singer_input(stream, schema or ACCOUNT_SCHEMA, records)
    target.listen(file_input=io.StringIO(text))
    return target


def accounts() -> dict[str, dict[str, t.Any]]:
    """Every account by accountnumber."""
    rows = client().get_json("accounts?$select=accountnumber,name,industrycode")["value"]
    by_number = {row["accountnumber"]: row for row in rows}
    assert len(by_number) == len(rows), "an account number appears on several rows"
    return by_number


@pytest.fixture
def account_key(admin) -> None:
    """An Active alternate key on account.accountnumber (created once; keys persist)."""
    api = client()
    path = "EntityDefinitions(LogicalName='account')/Keys"
    if not list(api.iter_values(f"{path}?$select=KeyAttributes")):
        admin.set_config(key_index_delay_seconds=0)
        try:
            api.post(
                path,
                {
                    "SchemaName": KEY_NAME,
                    "DisplayName": {"LocalizedLabels": [{"Label": "Number", "LanguageCode": 1033}]},
                    "KeyAttributes": ["accountnumber"],
                },
            )
        finally:
            admin.set_config(key_index_delay_seconds=2)
    (key,) = api.iter_values(f"{path}?$select=KeyAttributes,EntityKeyIndexStatus")
    assert key["EntityKeyIndexStatus"] == "Active"
    admin.clear_requests()


def test_upsert_on_an_alternate_key_with_choice_labels_and_rerun(
    admin, tmp_path, account_key
) -> None:
    before = accounts()
    settings = config(tmp_path, tables={"companies": ACCOUNTS})
    records = [
        {"accountnumber": "ACC-000001", "company": "Contoso Renamed", "industry": "Software"},
        {"accountnumber": "ACC-900001", "company": "New Co", "industry": "retail"},
        {"accountnumber": "ACC-900002", "company": "O'Brien & Sons /?#"},
    ]

    target = load(settings, records)

    after = accounts()
    assert len(after) == len(before) + 2
    assert (after["ACC-000001"]["name"], after["ACC-000001"]["industrycode"]) == (
        "Contoso Renamed",
        33,
    )
    assert after["ACC-000001"]["accountid"] == before["ACC-000001"]["accountid"]
    assert (after["ACC-900001"]["name"], after["ACC-900001"]["industrycode"]) == ("New Co", 19)
    assert after["ACC-900002"]["name"] == "O'Brien & Sons /?#"
    assert target.summary.streams()["companies"]["upserted"] == 3
    (write,) = writes(admin.requests())
    assert write["path"].endswith("accounts/Microsoft.Dynamics.CRM.UpsertMultiple")

    records[1]["company"] = "New Co Ltd"
    load(settings, records)  # a rerun updates in place

    again = accounts()
    assert {n: r["accountid"] for n, r in again.items()} == {
        n: r["accountid"] for n, r in after.items()
    }
    assert again["ACC-900001"]["name"] == "New Co Ltd"


def test_upsert_on_the_primary_key(admin, tmp_path) -> None:
    existing = accounts()["ACC-000002"]["accountid"]
    new = str(uuid.uuid4())
    person = client().get_json("contacts?$select=contactid&$top=1")["value"][0]["contactid"]
    schema = {"type": "object", "properties": {"id": STRING, "name": STRING, "contact": STRING}}
    tables = {
        "by_id": {
            "table": "account",
            "key": "accountid",
            "columns": {"id": "accountid", "contact": "primarycontactid"},
            "lookups": {"contact": {"table": "contact", "key": "contactid"}},
        }
    }
    records = [
        {"id": existing.upper(), "name": "Fabrikam Renamed", "contact": person},
        {"id": new, "name": "Fresh"},
        {"id": "not-a-guid", "name": "Never"},
    ]
    settings = config(tmp_path, tables=tables)

    with pytest.raises(RecordsRejectedError):
        load(settings, records, "by_id", schema)
    (line,) = rejects(settings)
    assert (line["key"], line["field"], line["reason"]) == (
        "not-a-guid",
        "id",
        "key field 'id' is not a GUID",
    )
    target = load(settings, records[:2], "by_id", schema)  # a rerun updates the same rows

    rows = {
        r["accountid"]: r
        for r in client().iter_values("accounts?$select=name,_primarycontactid_value")
    }
    assert (rows[existing]["name"], rows[new]["name"]) == ("Fabrikam Renamed", "Fresh")
    assert rows[existing]["_primarycontactid_value"] == person
    assert len(rows) == 5
    assert target.summary.streams()["by_id"]["upserted"] == 2


def test_a_table_without_upsert_multiple_gets_change_sets(admin, tmp_path) -> None:
    existing = next(client().iter_values("new_categories?$select=new_name&$top=1"))
    new = str(uuid.uuid4())
    schema = {"type": "object", "properties": {"new_categoryid": STRING, "new_name": STRING}}
    tables = {"categories": {"table": "new_category", "key": "new_categoryid"}}
    records = [
        {"new_categoryid": existing["new_categoryid"], "new_name": "Renamed"},
        {"new_categoryid": new, "new_name": "Created"},
        {"new_categoryid": str(uuid.uuid4()), "new_name": "N" * 101},  # longer than allowed
    ]
    settings = config(tmp_path, tables=tables)

    with pytest.raises(RecordsRejectedError):
        load(settings, records, "categories", schema)

    names = {r["new_categoryid"]: r["new_name"] for r in client().iter_values("new_categories")}
    assert (names[existing["new_categoryid"]], names[new]) == ("Renamed", "Created")
    assert all(r["path"].endswith("$batch") for r in writes(admin.requests()))
    (line,) = rejects(settings)
    assert (line["status"], line["code"], line["field"]) == (400, "0x80044331", "new_name")


def test_a_lookup_is_bound_by_the_alternate_key_and_a_bad_row_rejected(
    admin, tmp_path, account_key
) -> None:
    numbers = {r["accountnumber"]: r["accountid"] for r in accounts().values()}
    people = [r["contactid"] for r in client().get_json("contacts?$top=3")["value"]]
    schema = {"type": "object", "properties": {"id": STRING, "company_number": STRING}}
    tables = {
        "people": {
            "table": "contact",
            "key": "contactid",
            "columns": {"id": "contactid", "company_number": "parentcustomerid"},
            "lookups": {"company_number": {"table": "account", "key": "accountnumber"}},
        }
    }
    records = [
        {"id": people[0], "company_number": "ACC-000003"},
        {"id": people[1], "company_number": "ACC-404"},
        {"id": people[2], "company_number": "ACC-000004"},
    ]
    settings = config(tmp_path, tables=tables)

    with pytest.raises(RecordsRejectedError):
        load(settings, records, "people", schema)

    def company(contact_id: str) -> str:
        return client().get_json(f"contacts({contact_id})?$select=_parentcustomerid_value")[
            "_parentcustomerid_value"
        ]

    assert company(people[0]) == numbers["ACC-000003"]
    assert company(people[2]) == numbers["ACC-000004"]
    (line,) = rejects(settings)
    assert (line["key"], line["field"], line["status"]) == (people[1], "company_number", 404)
    assert line["reason"]


def test_an_unknown_label_rejects_the_record_naming_the_field(admin, tmp_path, account_key) -> None:
    settings = config(tmp_path, tables={"companies": ACCOUNTS})
    records = [
        {"accountnumber": "ACC-000001", "company": "Contoso", "industry": "Farming"},
        {"accountnumber": "ACC-000002", "company": "Fabrikam", "industry": "Consulting"},
    ]

    with pytest.raises(RecordsRejectedError):
        load(settings, records)

    assert accounts()["ACC-000002"]["industrycode"] == 7
    (line,) = rejects(settings)
    assert (line["key"], line["field"]) == ("accountnumber='ACC-000001'", "industry")
    assert line["reason"] == "'Farming' is not a label of choice column industrycode"


@pytest.mark.parametrize("deletes", [True, False])
def test_deletes_on_and_off(admin, tmp_path, account_key, deletes: bool) -> None:
    settings = config(tmp_path, tables={"companies": {**ACCOUNTS, "deletes": deletes}})
    records = [
        {"accountnumber": "ACC-000001", "_sdc_deleted_at": "2026-12-01T10:00:00Z"},
        {"accountnumber": "ACC-000002", "company": "Kept"},
    ]

    target = load(settings, records)

    after = accounts()
    assert ("ACC-000001" not in after) is deletes
    assert after["ACC-000002"]["name"] == "Kept"
    counts = target.summary.streams()["companies"]
    assert (counts["deleted"], counts["skipped_deletes"]) == ((1, 0) if deletes else (0, 1))
    assert counts["upserted"] == 1

    again = load(settings, records)  # deleting a row already gone is not an error
    assert again.summary.streams()["companies"]["rejected"] == 0


def test_dry_run_counts_and_writes_nothing(admin, tmp_path, account_key) -> None:
    before = accounts()
    tables = {"companies": {**ACCOUNTS, "deletes": True}}
    records = [
        {"accountnumber": "ACC-000001", "company": "Would Rename"},
        {"accountnumber": "ACC-900001", "company": "Would Create"},
        {"accountnumber": "ACC-000003", "_sdc_deleted_at": "2026-12-01T10:00:00Z"},
    ]

    target = load(config(tmp_path, tables=tables, dry_run=True), records)

    assert writes(admin.requests()) == []
    assert accounts() == before
    counts = target.summary.streams()["companies"]
    assert (counts["created"], counts["updated"], counts["deleted"]) == (1, 1, 1)
    assert summary_line("companies", counts, dry_run=True, sink=TableSink) == (
        "DRY RUN companies: would create 1, update 1, delete 1, skip existing 0, skip deletes 0, "
        "reject 0"
    )


def test_existing_skip_creates_new_rows_and_leaves_existing_ones_alone(
    admin, tmp_path, account_key
) -> None:
    """`existing: skip`: a create-only load (Campaign's "Export to CRM" into contacts)."""
    before = accounts()
    tables = {"companies": {**ACCOUNTS, "existing": "skip"}}
    records = [
        {"accountnumber": "ACC-000001", "company": "Must Not Rename"},
        {"accountnumber": "ACC-900002", "company": "New Company"},
    ]

    target = load(config(tmp_path, tables=tables), records)

    after = accounts()
    assert after["ACC-000001"] == before["ACC-000001"]
    assert after["ACC-900002"]["name"] == "New Company"
    counts = target.summary.streams()["companies"]
    assert (counts["upserted"], counts["skipped_existing"]) == (1, 1)
    posted = [r for r in writes(admin.requests()) if r["method"] == "POST"]
    assert len(posted) == 1  # only the new row travels


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({**ACCOUNTS, "table": "acs_nothing"}, "table 'acs_nothing' does not exist in Dataverse"),
        (
            {**ACCOUNTS, "columns": {"company": "nme"}},
            "column 'nme' (field 'company') is not a column of account",
        ),
        ({**ACCOUNTS, "key": "name"}, "key name is neither account's primary id (accountid)"),
    ],
)
def test_an_unknown_table_column_or_key_stops_before_any_write(
    admin, tmp_path, account_key, entry, problem
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(config(tmp_path, tables={"companies": entry}), [{"accountnumber": "ACC-1"}])

    assert raised.value.line().startswith(
        f"target-dynamics365: config error: tables.companies: {problem}"
    )
    assert writes(admin.requests()) == []


def test_a_bad_tables_entry_is_one_line_and_exit_2(admin, tmp_path: Path) -> None:
    tables = {"companies": {"key": "accountnumber", "colums": {}}, "profiles": ACCOUNTS}
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config(tmp_path, tables=tables)))

    done = subprocess.run(
        [Path(sys.executable).parent / "target-dynamics365", "--config", config_file],
        input=singer_input("companies", ACCOUNT_SCHEMA, []),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.splitlines()[-1] == (
        "target-dynamics365: config error: tables.companies: unknown key 'colums' (allowed: "
        "table, key, columns, lookups, choices_by_label, deletes, existing); tables.companies."
        "table is required: the table's logical name; tables.profiles: stream 'profiles' has its "
        "own sink (profiles, opt_outs, email_events cannot be in tables)"
    )
    assert admin.requests() == []


def test_the_navigation_property_comes_from_many_to_one_relationships() -> None:
    class Relationships:
        """A client of an org serving ManyToOneRelationships (the sandbox does not)."""

        def iter_values(self, query: str) -> t.Iterator[dict[str, str]]:
            assert "ManyToOneRelationships" in query
            for target in ("account", "contact"):
                yield {
                    "ReferencingAttribute": "parentcustomerid",
                    "ReferencedEntity": target,
                    "ReferencingEntityNavigationPropertyName": f"parentcustomerid_{target}",
                }

    found = navigation_property(
        t.cast("t.Any", Relationships()), "contact", "parentcustomerid", "account"
    )
    assert found == "parentcustomerid_account"
