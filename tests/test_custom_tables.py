"""End to end: custom tables in depth, in one real `meltano run d365-to-campaign`.

(a) Two levels of lookups: D365 contact ← new_project ← new_projecttask become Campaign profile ←
cusProject ← cusProjectTask, every link pointing at the right parent's PKey (which a child can
only carry when its parent was written first).
(b) 21 custom tables of 55 columns each, created through the Dataverse metadata API and filled
through the Web API, published as 21 custom resources in Campaign, all synced in the same run.

Routing and stream maps come through TARGET_ADOBE_CAMPAIGN_RESOURCES / _STREAM_MAPS (JSON), the
tables and selection through the job extractor's variables; expectations come from the two
sandboxes read over plain HTTP.
"""

from __future__ import annotations

import datetime
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from crm_sandbox.testing import Sandbox, launch

from tests.campaign_reader import CampaignReader
from tests.dataverse_reader import DataverseReader
from tests.harness import (
    CAMPAIGN_JOB,
    CAMPAIGN_LOADER,
    CAMPAIGN_TAP,
    REPO_ROOT,
    MeltanoProject,
    Pipeline,
    RunResult,
)

TABLES = 21
COLUMNS = 55  # per table, the primary name column included
ROWS = 4  # per wide table
NS = "Microsoft.Dynamics.CRM."
#: D365 column kind → Campaign field type. BigInt goes to double (exact below 2**53): Campaign's
#: `long` is 32-bit.
KINDS = {
    "String": "string",
    "Memo": "string",
    "Integer": "long",
    "BigInt": "double",
    "Decimal": "double",
    "Double": "double",
    "Money": "double",
    "Boolean": "boolean",
    "DateTime": "datetime",
    "DateOnly": "date",
    "Picklist": "long",
}
KIND_NAMES = tuple(KINDS)
CHOICES = (100000000, 100000001, 100000002)
# The job's extractor is tap-dynamics365--campaign; Meltano names its variables after it.
TAP_PREFIX = "TAP_DYNAMICS365__CAMPAIGN"


def _label(text: str) -> dict[str, Any]:
    return {"LocalizedLabels": [{"Label": text, "LanguageCode": 1033}]}


@dataclass(frozen=True)
class WideTable:
    """D365 table `new_wideNN` (55 columns) ↔ Campaign resource `cusWideNN` (55 fields)."""

    number: int

    @property
    def table(self) -> str:
        """The D365 logical name, also the stream name."""
        return f"new_wide{self.number:02d}"

    @property
    def resource(self) -> str:
        """The Campaign custom resource."""
        return f"cusWide{self.number:02d}"

    @property
    def columns(self) -> dict[str, tuple[str, str]]:
        """D365 column → (its kind, the Campaign field), primary name column aside."""
        kinds = (KIND_NAMES[n % len(KIND_NAMES)] for n in range(1, COLUMNS))
        return {
            f"new_c{n:02d}_{kind.lower()}": (kind, f"cusC{n:02d}{kind}")
            for n, kind in enumerate(kinds, start=1)
        }

    def d365_table(self) -> dict[str, Any]:
        """EntityMetadata of the table (primary name column only; the others come after)."""
        return {
            "@odata.type": f"{NS}EntityMetadata",
            "SchemaName": self.table,
            "DisplayName": _label(self.resource),
            "DisplayCollectionName": _label(f"{self.resource}s"),
            "OwnershipType": "UserOwned",
            "HasActivities": False,
            "HasNotes": False,
            "ChangeTrackingEnabled": True,
            "Attributes": [{**d365_column("new_Name", "String"), "IsPrimaryName": True}],
        }

    def campaign_resource(self) -> dict[str, Any]:
        """The custom resource definition published in Campaign."""
        fields: list[dict[str, Any]] = [{"name": "cusName", "type": "string", "length": 200}]
        for kind, field in self.columns.values():
            spec: dict[str, Any] = {"name": field, "type": KINDS[kind]}
            if kind in ("String", "Memo"):
                spec["length"] = 200 if kind == "String" else 4000
            fields.append(spec)
        return {"name": self.resource, "label": self.resource, "key": "cusCrmId", "fields": fields}

    def route(self) -> dict[str, Any]:
        """target-adobe-campaign's `resources` entry."""
        return {
            "resource": self.resource,
            "key": "cusCrmId",
            "key_filter": {"name": "byCrmId", "param": "cusCrmId_parameter"},
        }

    def stream_map(self) -> dict[str, Any]:
        """Stream map: every column to its field."""
        mapping: dict[str, Any] = {
            "__key_properties__": ["cusCrmId"],
            "__else__": "__NULL__",
            "cusCrmId": f"{self.table}id",
            "cusName": "new_name",
        }
        mapping.update({field: column for column, (_, field) in self.columns.items()})
        return mapping

    def row(self, n: int) -> dict[str, Any]:
        """Row `n` as written to D365."""
        values: dict[str, Any] = {"new_name": f"{self.table} row {n}"}
        for index, (column, (kind, _)) in enumerate(self.columns.items()):
            values[column] = sample(kind, self.number + n + index)
        return values


WIDE = [WideTable(n) for n in range(TABLES)]


def d365_column(schema: str, kind: str) -> dict[str, Any]:
    """AttributeMetadata of a column of `kind` (DateOnly: a DateTime with Format DateOnly)."""
    metadata_type = "DateTime" if kind == "DateOnly" else kind
    column: dict[str, Any] = {
        "@odata.type": f"{NS}{metadata_type}AttributeMetadata",
        "AttributeType": metadata_type,
        "AttributeTypeName": {"Value": f"{metadata_type}Type"},
        "SchemaName": schema,
        "DisplayName": _label(schema),
        "RequiredLevel": {"Value": "None"},
    }
    if kind in ("String", "Memo"):
        column["MaxLength"] = 200 if kind == "String" else 4000
    elif kind in ("Decimal", "Money"):
        column["Precision"] = 2
    elif kind in ("DateTime", "DateOnly"):
        column["Format"] = "DateOnly" if kind == "DateOnly" else "DateAndTime"
    elif kind == "Picklist":
        column["OptionSet"] = {
            "@odata.type": f"{NS}OptionSetMetadata",
            "IsGlobal": False,
            "OptionSetType": "Picklist",
            "Options": [{"Value": v, "Label": _label(f"Option {v}")} for v in CHOICES],
        }
    return column


def sample(kind: str, n: int) -> Any:
    """A D365 value of `kind`, varied by `n`."""
    values: dict[str, Any] = {
        "String": f"text {n}",
        "Memo": f"memo {n}\nsecond line",
        "Integer": n * 7 - 50,
        "BigInt": 10_000_000_000 + n,
        "Decimal": round(n * 1.25, 2),
        "Double": n / 4,
        "Money": round(n * 3.5, 2),
        "Boolean": n % 2 == 0,
        "DateTime": f"2026-0{n % 9 + 1}-1{n % 10}T08:{n % 60:02d}:00Z",
        "DateOnly": f"2025-1{n % 3}-0{n % 9 + 1}",
        "Picklist": CHOICES[n % len(CHOICES)],
    }
    return values[kind]


def campaign_value(kind: str, value: Any) -> Any:
    """A Campaign field's value in the form the D365 value was written in."""
    if value in (None, ""):
        return None
    if kind == "DateTime":
        moment = datetime.datetime.fromisoformat(str(value).replace(" ", "T"))
        return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind in ("BigInt", "Integer", "Picklist"):
        return int(value)
    return value


class DataverseWriter:
    """Metadata and row writes through the Web API, as a customiser's script would make them."""

    def __init__(self, reader: DataverseReader) -> None:
        """Reuse the reader's session and credentials."""
        self.reader = reader
        self.token = reader.token()

    def post(self, path: str, body: dict[str, Any], *, representation: bool = False) -> Any:
        """POST to the Web API; the created row when `representation`."""
        headers = {
            "Authorization": f"Bearer {self.token}",
            "Accept": "application/json",
            "OData-Version": "4.0",
            "OData-MaxVersion": "4.0",
        }
        if representation:
            headers["Prefer"] = "return=representation"
        response = self.reader.session.post(
            f"{self.reader.api}/{path}", json=body, headers=headers, timeout=60
        )
        assert response.status_code in (201, 204), f"POST {path}: {response.text}"
        return response.json() if representation else None


@dataclass
class Synced:
    """The org, both oracles and the one run that synced everything."""

    sandbox: Sandbox
    d365: DataverseReader
    campaign: CampaignReader
    run: RunResult
    created: dict[str, str]
    pipeline: Pipeline  # the chain made for (a): contact, project, task ids


def relation_maps() -> tuple[dict[str, Any], dict[str, Any]]:
    """Routes and stream maps of contact → profile, new_project → cusProject, tasks."""
    by_crm_id = {"name": "byCrmId", "param": "cusCrmId_parameter"}
    routes = {
        "contact": {
            "resource": "profile",
            "key_filter": {"name": "byExternalId", "param": "externalId_parameter"},
        },
        "new_project": {
            "resource": "cusProject",
            "key": "cusCrmId",
            "key_filter": by_crm_id,
            "links": {"profile": {"stream": "contact", "field": "contactId"}},
        },
        "new_projecttask": {
            "resource": "cusProjectTask",
            "key": "cusCrmId",
            "key_filter": by_crm_id,
            "links": {"project": {"stream": "new_project", "field": "projectId"}},
        },
    }
    maps = {
        "contact": {
            "__key_properties__": ["externalId"],
            "__else__": "__NULL__",
            "externalId": "contactid",
            "firstName": "firstname",
            "lastName": "lastname",
        },
        "new_project": {
            "__key_properties__": ["cusCrmId"],
            "__else__": "__NULL__",
            "cusCrmId": "new_projectid",
            "cusName": "new_name",
            "contactId": "_new_contactid_value",
        },
        "new_projecttask": {
            "__key_properties__": ["cusCrmId"],
            "__else__": "__NULL__",
            "cusCrmId": "new_projecttaskid",
            "cusName": "new_name",
            "cusEffort": "new_hours",
            "projectId": "_new_projectid_value",
        },
    }
    return routes, maps


def project_enumerations() -> dict[str, Any]:
    """target-adobe-campaign's `enumerations` in meltano.yml."""
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    loader = next(p for p in project["plugins"]["loaders"] if p["name"] == CAMPAIGN_LOADER)
    enumerations: dict[str, Any] = loader["config"]["enumerations"]
    return enumerations


@pytest.fixture(scope="module")
def synced(
    meltano_project: MeltanoProject, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Synced]:
    """Wide tables in both systems, a new three-level chain in D365, then one job run."""
    work = tmp_path_factory.mktemp("custom-tables")
    sandbox = launch(work / "sandbox", contacts=40, profiles=10, seed=7)
    d365 = DataverseReader(sandbox.tap_env())
    campaign = CampaignReader(sandbox.campaign, sandbox.ca_file)
    pipeline: Pipeline | None = None
    try:
        writer = DataverseWriter(d365)
        for wide in WIDE:
            writer.post("EntityDefinitions", wide.d365_table())
            path = f"EntityDefinitions(LogicalName='{wide.table}')/Attributes"
            for column, (kind, _) in wide.columns.items():
                writer.post(path, d365_column(column, kind))
            for n in range(ROWS):
                writer.post(f"{wide.table}s", wide.row(n))
            sandbox.campaign.admin.publish_resource(wide.campaign_resource())
        created = create_chain(writer)

        routes, maps = relation_maps()
        routes.update({wide.table: wide.route() for wide in WIDE})
        maps.update({wide.table: wide.stream_map() for wide in WIDE})
        streams = ["contact", "new_project", "new_projecttask", *(w.table for w in WIDE)]
        env = {
            **sandbox.tap_env(),
            **sandbox.target_campaign_env(),
            f"{TAP_PREFIX}_TABLES": json.dumps(streams),
            # option_sets: the job's enumerations (cusStage) need the choices.
            f"{TAP_PREFIX}__SELECT": json.dumps([f"{n}.*" for n in [*streams, "option_sets"]]),
            "TARGET_ADOBE_CAMPAIGN_RESOURCES": json.dumps(routes),
            "TARGET_ADOBE_CAMPAIGN_STREAM_MAPS": json.dumps(maps),
            # meltano.yml's enumerations of the streams routed here (not account, salesorder)
            "TARGET_ADOBE_CAMPAIGN_ENUMERATIONS": json.dumps(
                {s: e for s, e in project_enumerations().items() if s in routes}
            ),
        }
        pipeline = Pipeline(
            meltano_project,
            f"custom-tables-{time.time_ns()}",
            env,
            work / "runs",
            tap=CAMPAIGN_TAP,
            loader=CAMPAIGN_LOADER,
            job=CAMPAIGN_JOB,
        )
        run = pipeline.run("all").check()
        print(
            f"\nd365-to-campaign, 24 streams (21 tables x {COLUMNS} columns): {run.seconds:.1f} s"
        )
        yield Synced(sandbox, d365, campaign, run, created, pipeline)
    finally:
        if pipeline is not None:
            pipeline.close()
        d365.session.close()
        campaign.session.close()
        sandbox.admin.session.close()
        sandbox.campaign.admin.session.close()
        sandbox.stop()


def create_chain(writer: DataverseWriter) -> dict[str, str]:
    """A contact, a project bound to it and a task bound to the project, via the Web API."""
    contact = writer.post(
        "contacts", {"firstname": "Lin", "lastname": "Chain"}, representation=True
    )["contactid"]
    project = writer.post(
        "new_projects",
        {"new_name": "Two levels", "new_contactid@odata.bind": f"/contacts({contact})"},
        representation=True,
    )["new_projectid"]
    task = writer.post(
        "new_projecttasks",
        {
            "new_name": "Leaf task",
            "new_hours": 2.5,
            "new_projectid@odata.bind": f"/new_projects({project})",
        },
        representation=True,
    )["new_projecttaskid"]
    return {"contact": contact, "project": project, "task": task}


def single(grouped: dict[str, list[dict[str, Any]]], key: str) -> dict[str, Any]:
    """The one Campaign record with CRM id `key`."""
    found = grouped.get(key, [])
    assert len(found) == 1, f"{len(found)} Campaign records carry the CRM id {key}"
    return found[0]


def created_at(record: dict[str, Any]) -> datetime.datetime:
    """A Campaign record's `created` time."""
    return datetime.datetime.fromisoformat(str(record["created"]).replace(" ", "T"))


def test_two_level_lookups_become_links_to_parents_written_first(synced: Synced) -> None:
    d365, campaign = synced.d365, synced.campaign
    tables = d365.tables()
    contacts = {r["contactid"] for r in d365.rows(tables["contact"])}
    projects = {
        r["new_projectid"]: r
        for r in d365.rows(tables["new_project"], "new_projectid,new_name,_new_contactid_value")
    }
    tasks = {
        r["new_projecttaskid"]: r
        for r in d365.rows(
            tables["new_projecttask"], "new_projecttaskid,new_name,new_hours,_new_projectid_value"
        )
    }
    assert sum(1 for t in tasks.values() if t["_new_projectid_value"]) > 10

    profiles = campaign.by_key("profile", "externalId")
    custom_projects = campaign.by_key("cusProject", "cusCrmId")
    custom_tasks = campaign.by_key("cusProjectTask", "cusCrmId")
    assert contacts <= set(profiles)
    for project_id, project in projects.items():
        record = single(custom_projects, project_id)
        assert record["cusName"] == project["new_name"]
        contact_id = project["_new_contactid_value"]
        if contact_id is None:
            assert not (record.get("profile") or {}).get("PKey"), project_id
            continue
        parent = single(profiles, contact_id)
        assert record["profile"]["PKey"] == parent["PKey"], project_id
        assert created_at(parent) <= created_at(record)
    for task_id, task in tasks.items():
        record = single(custom_tasks, task_id)
        assert record["cusName"] == task["new_name"]
        assert record["cusEffort"] == task["new_hours"]
        project_id = task["_new_projectid_value"]
        if project_id is None:
            assert not (record.get("project") or {}).get("PKey"), task_id
            continue
        parent = single(custom_projects, project_id)
        assert record["project"]["PKey"] == parent["PKey"], task_id
        assert created_at(parent) <= created_at(record)

    chain = synced.created
    task = single(custom_tasks, chain["task"])
    project = single(custom_projects, chain["project"])
    profile = single(profiles, chain["contact"])
    assert (task["project"]["PKey"], project["profile"]["PKey"]) == (
        project["PKey"],
        profile["PKey"],
    )
    counts = synced.run.summary["streams"]
    assert counts["new_projecttask"]["created"] == len(tasks)
    assert counts["new_project"]["created"] == len(projects)
    assert synced.run.summary["totals"]["rejected"] == 0


def test_21_wide_tables_of_55_columns_in_one_run(synced: Synced) -> None:
    d365, campaign = synced.d365, synced.campaign
    tables = d365.tables()
    counts = synced.run.summary["streams"]
    for wide in WIDE:
        assert len(wide.columns) + 1 == COLUMNS
        info = tables[wide.table]
        rows = {
            r[info.primary_id]: r
            for r in d365.rows(info, ",".join([info.primary_id, "new_name", *wide.columns]))
        }
        assert len(rows) == ROWS
        records = campaign.by_key(wide.resource, "cusCrmId")
        assert set(records) == set(rows), wide.resource
        for row_id, row in rows.items():
            record = single(records, row_id)
            assert record["cusName"] == row["new_name"]
            for column, (kind, field) in wide.columns.items():
                assert campaign_value(kind, record.get(field)) == row[column], (
                    wide.resource,
                    field,
                )
        assert counts[wide.table]["created"] == ROWS, wide.table
    # Every field of every published resource was written: none was left at its default.
    sample_record = single(campaign.by_key(WIDE[-1].resource, "cusCrmId"), next(iter(rows)))
    assert {field for _, field in WIDE[-1].columns.values()} <= set(sample_record)


def test_next_run_moves_a_task_and_updates_a_wide_row_only(synced: Synced) -> None:
    d365, campaign, admin = synced.d365, synced.campaign, synced.sandbox.admin
    engine = synced.sandbox.campaign.admin
    chain = synced.created
    tables = d365.tables()
    other = next(
        r["new_projectid"]
        for r in d365.rows(tables["new_project"])
        if r["new_projectid"] != chain["project"]
    )
    admin.update_row(
        "new_projecttasks",
        chain["task"],
        {
            "_new_projectid_value": other,
            "_new_projectid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "new_project",
        },
    )
    wide = WIDE[3]
    row_id = next(iter(d365.ids(tables[wide.table])))
    column, field = next((c, f) for c, (k, f) in wide.columns.items() if k == "String")
    admin.update_row(f"{wide.table}s", row_id, {column: "changed in D365"})
    calls = engine.engine_calls()

    run = synced.pipeline.run("changes").check()

    after = engine.engine_calls()
    assert {name: after[name] - calls[name] for name in ("insert", "update", "delete")} == {
        "insert": 0,
        "update": 2,
        "delete": 0,
    }
    task = single(campaign.by_key("cusProjectTask", "cusCrmId"), chain["task"])
    assert (
        task["project"]["PKey"] == single(campaign.by_key("cusProject", "cusCrmId"), other)["PKey"]
    )
    assert single(campaign.by_key(wide.resource, "cusCrmId"), row_id)[field] == "changed in D365"
    assert run.summary["totals"]["updated"] == 2
    assert run.summary["totals"]["created"] == 0
