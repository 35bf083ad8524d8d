"""Custom tables in depth: many wide tables made through the metadata API, and lookups.

An org of its own (the session sandbox stays as seeded): 21 custom tables of 55 columns each
are created through the Web API's metadata writes and filled through the Web API, then
discovered and read in one tap run. The seeded two-level relation contact ← new_project ←
new_projecttask is read with its lookups as `_<lookup>_value`.
"""

from __future__ import annotations

import typing as t

import pytest
from crm_sandbox.testing import Sandbox, launch
from dataverse_client.client import DataverseClient
from tap_dynamics365.tap import TapDynamics365

from .custom_tables import MAX_LENGTHS, SCHEMA_TYPES, WideTable
from .helpers import run_tap

if t.TYPE_CHECKING:
    from collections.abc import Iterator

TABLES = 21
COLUMNS = 55  # the primary name column included
ROWS = 3
WIDE = [WideTable(f"wide{n:02d}", COLUMNS) for n in range(TABLES)]


@pytest.fixture(scope="module")
def org(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A small org with the wide tables created and three rows written in each."""
    sandbox = launch(tmp_path_factory.mktemp("wide-org"), contacts=40, seed=5)
    client = DataverseClient.from_config(settings(sandbox))
    try:
        for table in WIDE:
            table.create(client)
            for n in range(ROWS):
                client.post(table.entity_set, table.row(n))
        yield sandbox
    finally:
        client.session.close()
        sandbox.admin.session.close()
        sandbox.stop()


def settings(sandbox: Sandbox, **extra: t.Any) -> dict[str, t.Any]:
    """Tap settings for `sandbox` (overriding the session sandbox's)."""
    d = sandbox.dataverse
    return {
        "tenant_id": d.tenant_id,
        "client_id": d.client_id,
        "client_secret": d.client_secret,
        "authority_host": d.authority_host,
        "resource_url": d.url,
        "ca_bundle": sandbox.ca_file,
        **extra,
    }


def test_wide_tables_are_discovered_with_every_column(org: Sandbox) -> None:
    org.admin.clear_requests()
    tap = TapDynamics365(
        config=settings(org, tables=["new_wide*"], include_custom_tables=False),
        parse_env_config=False,
    )

    streams = tap.streams
    assert sorted(streams) == sorted([t.logical_name for t in WIDE] + ["option_sets"])
    for table in WIDE:
        stream = streams[table.logical_name]
        properties = stream.schema["properties"]
        assert list(stream.primary_keys or ()) == [table.primary_id]
        assert stream.replication_key == "modifiedon"
        assert properties["new_name"]["maxLength"] == 200
        for name, kind in table.column_kinds().items():
            kind_type, kind_format = SCHEMA_TYPES[kind]
            assert properties[name]["type"] == [kind_type, "null"], name
            assert properties[name].get("format") == kind_format, name
            if kind in MAX_LENGTHS:
                assert properties[name]["maxLength"] == MAX_LENGTHS[kind], name
        assert len(table.column_kinds()) + 1 == COLUMNS
        assert "_sdc_deleted_at" in properties  # change tracking was enabled at creation
    # Attributes are read one table at a time (4 calls each), never with one $expand.
    paths = [r["path"] for r in org.admin.requests() if "EntityDefinitions" in r["path"]]
    assert not [p for p in paths if "$expand=Attributes" in p]
    assert len(paths) == 1 + 4 * TABLES


def test_every_row_of_every_wide_table_in_one_run(org: Sandbox) -> None:
    names = [t.logical_name for t in WIDE]

    out = run_tap(
        [*names, "option_sets"],
        **settings(org, tables=["new_wide*"], include_custom_tables=False, page_size=2),
    )

    for table in WIDE:
        records = out.records(table.logical_name)
        assert len(records) == ROWS, table.logical_name
        by_name = {r["new_name"]: r for r in records}
        for n in range(ROWS):
            expected = table.row(n)
            actual = by_name[expected["new_name"]]
            assert {k: actual[k] for k in expected} == expected, (table.logical_name, n)
            assert actual[table.primary_id]
            assert actual["modifiedon"]
    state = out.states[-1]["bookmarks"]
    assert all(state[name].get("delta_link") for name in names)
    options = out.records("option_sets")
    picklists = {
        (r["table"], r["attribute"]) for r in options if r["attribute"].endswith("_picklist")
    }
    expected_picklists = {
        (table.logical_name, name)
        for table in WIDE
        for name, kind in table.column_kinds().items()
        if kind == "Picklist"
    }
    assert picklists == expected_picklists
    assert not [r for r in options if r["is_multi_select"]]


def test_two_level_relation_reads_lookups_as_value_columns(org: Sandbox) -> None:
    client = DataverseClient.from_config(settings(org))
    contact = client.post(
        "contacts",
        {"firstname": "Lin", "lastname": "Parent"},
        headers={"Prefer": "return=representation"},
    ).json()["contactid"]
    project = client.post(
        "new_projects",
        {"new_name": "Two levels", "new_contactid@odata.bind": f"/contacts({contact})"},
        headers={"Prefer": "return=representation"},
    ).json()["new_projectid"]
    task = client.post(
        "new_projecttasks",
        {"new_name": "Leaf", "new_projectid@odata.bind": f"/new_projects({project})"},
        headers={"Prefer": "return=representation"},
    ).json()["new_projecttaskid"]
    client.session.close()

    out = run_tap(
        ["contact", "new_project", "new_projecttask"],
        **settings(org, tables=["contact", "new_project", "new_projecttask"]),
    )

    contacts = {r["contactid"] for r in out.records("contact")}
    projects = {r["new_projectid"]: r for r in out.records("new_project")}
    tasks = {r["new_projecttaskid"]: r for r in out.records("new_projecttask")}
    assert projects[project]["_new_contactid_value"] == contact
    assert projects[project]["_new_contactid_value_lookuplogicalname"] == "contact"
    assert tasks[task]["_new_projectid_value"] == project
    assert tasks[task]["_new_projectid_value_lookuplogicalname"] == "new_project"
    # Every seeded lookup resolves to a row read in the same run.
    linked_projects = [r for r in projects.values() if r["_new_contactid_value"]]
    linked_tasks = [r for r in tasks.values() if r["_new_projectid_value"]]
    assert len(linked_projects) > 1
    assert len(linked_tasks) > 1
    assert {r["_new_contactid_value"] for r in linked_projects} <= contacts
    assert {r["_new_projectid_value"] for r in linked_tasks} <= set(projects)
    for record in tasks.values():
        assert "new_projectid" not in record  # only the Web API's read name


def test_option_sets_flag_multi_select_choices(org: Sandbox) -> None:
    out = run_tap(["option_sets"], **settings(org, tables=["new_project"]))

    flags = {
        (r["attribute"], r["is_multi_select"])
        for r in out.records("option_sets")
        if r["table"] == "new_project"
    }
    assert ("new_channels", True) in flags
    assert ("new_stage", False) in flags
    assert ("new_channels", False) not in flags
    assert ("statuscode", False) in flags
