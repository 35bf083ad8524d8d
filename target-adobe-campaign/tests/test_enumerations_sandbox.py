"""Option sets → Campaign enumerations (v8 SOAP) and choice fields, end to end on the sandbox.

As tap-dynamics365 sends them: the tables first, `option_sets` last (streams in name order).
"""

from __future__ import annotations

import io
import json
import typing as t

import pytest
from campaign_client.classic import ClassicClient, EnumWrite
from campaign_client.client import CampaignClient
from target_adobe_campaign.target import RecordsRejectedError, TargetAdobeCampaign

from tests.helpers import ROUTES, connection, record, rows, schema, state

if t.TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    import requests
    from crm_sandbox.campaign.inprocess import RunningCampaign

GENDER = "nms:recipient:gender"
STAGE = "cus:project:cusStage"
SOAP = "/nl/jsp/soaprouter.jsp"

CONTACT = schema(
    "contact",
    {
        "externalId": {"type": "string"},
        "email": {"type": ["string", "null"]},
        "gender": {"type": ["integer", "null"]},  # gendercode, mapped upstream
        "firstName": {"type": ["array", "null"], "items": {"type": "integer"}},
        "lastName": {"type": ["array", "null"], "items": {"type": "integer"}},
    },
    "externalId",
)
PROJECT = schema(
    "new_project",
    {
        "cusCrmId": {"type": "string"},
        "cusName": {"type": ["string", "null"]},
        "cusStage": {"type": ["integer", "null"]},
    },
    "cusCrmId",
)
OPTION_SETS = schema(
    "option_sets",
    {
        "table": {"type": "string"},
        "attribute": {"type": "string"},
        "option_set_name": {"type": ["string", "null"]},
        "is_global": {"type": ["boolean", "null"]},
        "is_multi_select": {"type": ["boolean", "null"]},
        "value": {"type": "integer"},
        "label": {"type": ["string", "null"]},
        "state": {"type": ["integer", "null"]},
    },
    "value",
)
GENDER_FIELD = {"table": "contact", "attribute": "gendercode", "enumeration": GENDER}
STAGE_FIELD = {"table": "new_project", "attribute": "new_stage", "enumeration": STAGE}


def option(table: str, attribute: str, value: int, label: str, multi: bool = False) -> dict:
    return record(
        "option_sets",
        table=table,
        attribute=attribute,
        option_set_name=attribute,
        is_global=False,
        is_multi_select=multi,
        value=value,
        label=label,
        state=None,
    )


GENDER_OPTIONS = [
    option("contact", "gendercode", 1, "Male"),
    option("contact", "gendercode", 2, "Female"),
    option("contact", "gendercode", 3, "Diverse"),
]
STAGE_OPTIONS = [
    option("new_project", "new_stage", 100000000, "Planned"),
    option("new_project", "new_stage", 100000001, "In progress"),
    option("new_project", "new_stage", 100000002, "Done"),
]


def with_values(message: dict, **values: t.Any) -> dict:
    return {**message, "record": {**message["record"], **values}}


def contact(n: int, gender: t.Any) -> dict:
    return record("contact", externalId=f"c-{n}", email=f"c{n}@example.com", gender=gender)


class Run:
    """One target run; SOAP calls are recorded by their SOAPAction."""

    def __init__(self, campaign: RunningCampaign, tmp_path: Path, **config: t.Any) -> None:
        self.rejects_path = tmp_path / "rejects.jsonl"
        self.summary_path = tmp_path / "rejects.summary.json"
        self.target = TargetAdobeCampaign(
            config={
                **connection(campaign),
                "resources": {
                    **ROUTES,
                    "new_project": {"resource": "cusProject", "key": "cusCrmId"},
                },
                "rejects_file": str(self.rejects_path),
                **config,
            }
        )
        self.soap: list[str] = []
        self.rest_writes: list[tuple[str, t.Any]] = []
        self.target.client.session.hooks["response"].append(self._seen)

    def _seen(self, response: requests.Response, **kwargs: t.Any) -> None:
        request = response.request
        if (request.url or "").endswith(SOAP):
            self.soap.append(str(request.headers.get("SOAPAction")))
        elif request.method in {"POST", "PATCH", "DELETE"}:
            self.rest_writes.append((request.method, json.loads(request.body or b"null")))

    def listen(self, messages: list[dict], capsys: t.Any) -> list[dict]:
        capsys.readouterr()
        lines = io.StringIO("".join(json.dumps(m) + "\n" for m in messages))
        try:
            self.target.listen(lines)
        finally:
            out = capsys.readouterr().out
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    @property
    def rejects(self) -> list[dict[str, t.Any]]:
        return [json.loads(line) for line in self.rejects_path.read_text().splitlines()]

    @property
    def summary(self) -> dict[str, t.Any]:
        return t.cast("dict[str, t.Any]", json.loads(self.summary_path.read_text()))


def classic(campaign: RunningCampaign) -> ClassicClient:
    config = connection(campaign)
    return ClassicClient.from_config(config, CampaignClient.from_config(config))


@pytest.fixture(autouse=True)
def kept_enumerations(campaign: RunningCampaign) -> Iterator[None]:
    """Write the enumerations back afterwards: a sandbox reseed keeps stored enumerations."""
    client = classic(campaign)
    originals = [client.read_enumeration(name) for name in (GENDER, STAGE)]
    yield
    for enum in originals:
        assert enum is not None
        client.write(EnumWrite(enum.name, enum.label, enum.basetype, enum.values, replace=True))


def names(campaign: RunningCampaign, enumeration: str) -> list[tuple[str, str]]:
    enum = classic(campaign).read_enumeration(enumeration)
    assert enum is not None
    return [(v.name, v.value) for v in enum.values]


def test_new_d365_value_is_added_and_contacts_arriving_first_get_it(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    messages = [
        CONTACT,
        contact(1, 1),
        contact(2, 2),
        contact(3, 3),  # "Diverse": not in Campaign yet
        contact(4, None),
        state({"bookmarks": {"contact": "t1"}}),
        OPTION_SETS,
        *GENDER_OPTIONS,
        state({"bookmarks": {"contact": "t1", "option_sets": "done"}}),
    ]
    config = {"enumerations": {"contact": {"gender": GENDER_FIELD}}, "batch_size_rows": 2}
    run = Run(campaign, tmp_path, **config)
    states = run.listen(messages, capsys)

    assert names(campaign, GENDER) == [
        ("unknown", "0"),
        ("male", "1"),
        ("female", "2"),
        ("diverse", "3"),
    ]
    assert run.soap == ["xtk:queryDef#ExecuteQuery", "xtk:session#Write"]
    profiles = rows(campaign, "profile", "externalId")
    assert {k: profiles[f"c-{k}"]["gender"] for k in (1, 2, 3, 4)} == {
        1: "male",
        2: "female",
        3: "diverse",
        4: "unknown",
    }
    assert run.rejects == []
    # the STATE of the first checkpoint was held back while c-3 waited; the last one came out
    assert states == [{"bookmarks": {"contact": "t1", "option_sets": "done"}}]
    assert run.summary["streams"]["option_sets"]["updated"] == 1

    rerun = Run(campaign, tmp_path, **config)
    rerun.listen(messages, capsys)
    assert rerun.soap == ["xtk:queryDef#ExecuteQuery"]  # unchanged: read, no write
    assert rerun.rest_writes == []
    assert rerun.summary["streams"]["option_sets"]["unchanged"] == 1


def test_replace_and_value_names_from_technical_values(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    field = {**STAGE_FIELD, "replace": True, "value_names": "value"}
    run = Run(campaign, tmp_path, enumerations={"new_project": {"cusStage": field}})
    run.listen(
        [
            PROJECT,
            record("new_project", cusCrmId="p-1", cusName="One", cusStage=100000001),
            OPTION_SETS,
            *STAGE_OPTIONS,
        ],
        capsys,
    )
    assert names(campaign, STAGE) == [
        ("100000000", "100000000"),
        ("100000001", "100000001"),
        ("100000002", "100000002"),
    ]
    assert rows(campaign, "cusProject", "cusCrmId")["p-1"]["cusStage"] == ("100000001")


def test_unknown_and_multi_select_values_are_rejected_naming_record_and_field(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = Run(
        campaign,
        tmp_path,
        enumerations={
            "contact": {
                "gender": GENDER_FIELD,
                # a multi-select column fed to an enumeration: refused (the default)
                "firstName": {
                    "table": "contact",
                    "attribute": "new_hobbies",
                    "enumeration": "cus:hobbies",
                },
                # the same column's labels joined into a string field
                "lastName": {
                    "table": "contact",
                    "attribute": "new_hobbies",
                    "multi_select": "join_labels",
                },
            }
        },
    )
    with pytest.raises(RecordsRejectedError):
        run.listen(
            [
                CONTACT,
                contact(1, 7),  # not an option of gendercode
                with_values(contact(2, 2), firstName=[10, 11]),
                with_values(contact(3, 2), lastName=[10, 11]),
                OPTION_SETS,
                *GENDER_OPTIONS,
                option("contact", "new_hobbies", 10, "Chess", multi=True),
                option("contact", "new_hobbies", 11, "Golf", multi=True),
            ],
            capsys,
        )
    rejects = {r["key"]: r for r in run.rejects}
    assert set(rejects) == {"c-1", "c-2"}
    assert rejects["c-1"]["field"] == "gender"
    assert "D365 value 7 of contact.gendercode matches no value" in rejects["c-1"]["reason"]
    assert rejects["c-2"]["field"] == "firstName"
    assert "multi-select choice [10,11] of contact.new_hobbies" in rejects["c-2"]["reason"]
    assert rejects["c-2"]["record"]["firstName"] == [10, 11]
    assert rows(campaign, "profile", "externalId")["c-3"]["lastName"] == "Chess, Golf"
    assert classic(campaign).read_enumeration("cus:hobbies") is None  # never synchronised


def test_dry_run_writes_no_enumeration_and_no_record(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    before = names(campaign, GENDER)
    run = Run(campaign, tmp_path, dry_run=True, enumerations={"contact": {"gender": GENDER_FIELD}})
    states = run.listen(
        [CONTACT, contact(1, 3), state({"b": 1}), OPTION_SETS, *GENDER_OPTIONS], capsys
    )
    assert run.soap == ["xtk:queryDef#ExecuteQuery"]
    assert run.rest_writes == []
    assert states == []
    assert names(campaign, GENDER) == before
    assert run.summary["streams"]["option_sets"]["updated"] == 1
    assert run.summary["streams"]["contact"]["created"] == 1  # with gender "diverse"
    assert run.rejects == []


def test_children_of_waiting_parents_wait_with_them(
    campaign: RunningCampaign, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A task whose project waits for option_sets is written after it, not rejected."""
    task_schema = schema(
        "new_projecttask",
        {
            "cusCrmId": {"type": "string"},
            "cusName": {"type": ["string", "null"]},
            "projectId": {"type": ["string", "null"]},
        },
        "cusCrmId",
    )
    messages = [
        PROJECT,
        record("new_project", cusCrmId="p-wait", cusName="Waiting", cusStage=100000001),
        task_schema,
        record("new_projecttask", cusCrmId="t-wait", cusName="Child", projectId="p-wait"),
        record("new_projecttask", cusCrmId="t-wait-2", cusName="Child 2", projectId="p-wait"),
        state({"bookmarks": {"new_projecttask": "t1"}}),
        OPTION_SETS,
        *STAGE_OPTIONS,
    ]
    config = {
        "resources": {
            **ROUTES,
            "new_project": {"resource": "cusProject", "key": "cusCrmId"},
            "new_projecttask": {
                "resource": "cusProjectTask",
                "key": "cusCrmId",
                "links": {"project": {"stream": "new_project", "field": "projectId"}},
            },
        },
        "enumerations": {"new_project": {"cusStage": STAGE_FIELD}},
        "batch_size_rows": 2,  # the tasks' batch fills (and drains its parent) first
    }
    run = Run(campaign, tmp_path, **config)
    run.listen(messages, capsys)

    assert run.rejects == []
    project = rows(campaign, "cusProject", "cusCrmId")["p-wait"]
    task = rows(campaign, "cusProjectTask", "cusCrmId")["t-wait"]
    assert task["project"]["PKey"] == project["PKey"]
