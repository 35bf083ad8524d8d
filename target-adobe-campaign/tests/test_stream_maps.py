"""The documented contact -> profile and new_project -> cusProject maps, into the sandbox."""

from __future__ import annotations

import json
from pathlib import Path

from .helpers import Run, record, rows, schema

STREAM_MAPS = json.loads((Path(__file__).parent / "stream_maps.json").read_text())
KEY_FILTER = {"name": "byExternalId", "param": "externalId_parameter"}
RESOURCES = {
    "contact": {"resource": "profile", "key_filter": KEY_FILTER},
    "contact_deletes": {"resource": "profile", "key_filter": KEY_FILTER},
    "new_project_deletes": {"resource": "cusProject", "key": "cusCrmId"},
    "new_project": {
        "resource": "cusProject",
        "key": "cusCrmId",
        "links": {"profile": {"stream": "contact", "field": "contactId"}},
    },
}
NULLABLE_STRING = {"type": ["string", "null"]}
NULLABLE_BOOL = {"type": ["boolean", "null"]}
D365_CONTACT = schema(
    "contact",
    {
        "contactid": {"type": "string", "format": "uuid"},
        "firstname": NULLABLE_STRING,
        "lastname": NULLABLE_STRING,
        "emailaddress1": NULLABLE_STRING,
        "telephone1": NULLABLE_STRING,
        "birthdate": {"type": ["string", "null"], "format": "date"},
        "gendercode": {"type": ["integer", "null"]},
        "donotbulkemail": NULLABLE_BOOL,
        "donotemail": NULLABLE_BOOL,
        "donotphone": NULLABLE_BOOL,
        "donotfax": NULLABLE_BOOL,
        "donotpostalmail": NULLABLE_BOOL,
        "modifiedon": {"type": ["string", "null"], "format": "date-time"},
        "_sdc_deleted_at": {"type": ["string", "null"], "format": "date-time"},
    },
    "contactid",
)
D365_PROJECT = schema(
    "new_project",
    {
        "new_projectid": {"type": "string", "format": "uuid"},
        "new_name": NULLABLE_STRING,
        "new_code": NULLABLE_STRING,
        "new_budget": {"type": ["number", "null"]},
        "new_startdate": {"type": ["string", "null"], "format": "date"},
        "new_stage": {"type": ["integer", "null"]},
        "_new_contactid_value": {"type": ["string", "null"], "format": "uuid"},
    },
    "new_projectid",
)
CONTACT_ID = "6f0c1a52-0000-4000-8000-000000000001"
PROJECT_ID = "7a1d2b63-0000-4000-8000-000000000002"


def d365_contact(**values) -> dict:
    row = {
        "contactid": CONTACT_ID,
        "firstname": "Ada",
        "lastname": "Lovelace",
        "emailaddress1": "ada@example.com",
        "telephone1": "+44 20 0000",
        "birthdate": "1815-12-10",
        "gendercode": 2,
        "donotbulkemail": False,
        "donotemail": True,
        "donotphone": False,
        "donotfax": None,
        "donotpostalmail": True,
        "modifiedon": "2024-05-01T10:00:00Z",
    }
    return record("contact", **{**row, **values})


def test_stream_maps_turn_d365_rows_into_campaign_records(campaign, tmp_path, capsys) -> None:
    Run(campaign, tmp_path, resources=RESOURCES, stream_maps=STREAM_MAPS).listen(
        [
            D365_PROJECT,  # the child stream first: the target still writes the parent first
            D365_CONTACT,
            record(
                "new_project",
                new_projectid=PROJECT_ID,
                new_name="Website",
                new_code="W-1",
                new_budget=1250.5,
                new_startdate="2024-06-01",
                new_stage=100000001,
                _new_contactid_value=CONTACT_ID,
            ),
            d365_contact(),
        ],
        capsys,
    )
    profile = rows(campaign, "profile", "externalId")[CONTACT_ID]
    assert {k: profile[k] for k in EXPECTED_PROFILE} == EXPECTED_PROFILE
    assert profile["domain"] == "example.com"  # computed by Campaign
    project = rows(campaign, "cusProject", "cusCrmId")[PROJECT_ID]
    assert {k: project[k] for k in EXPECTED_PROJECT} == EXPECTED_PROJECT
    assert project["profile"]["PKey"] == profile["PKey"]


EXPECTED_PROFILE = {
    "externalId": CONTACT_ID,
    "firstName": "Ada",
    "lastName": "Lovelace",
    "email": "ada@example.com",
    "birthDate": "1815-12-10",
    "gender": "female",
    "blackListEmail": True,
    "blackListPhone": False,
    "blackListFax": False,
    "blackListPostalMail": True,
}
EXPECTED_PROJECT = {
    "cusCrmId": PROJECT_ID,
    "cusName": "Website",
    "cusCode": "W-1",
    "cusBudget": 1250.5,
    "cusStartDate": "2024-06-01",
    "cusStage": "running",
}


def test_gender_codes_map_to_enumeration_names(campaign, tmp_path, capsys) -> None:
    rows_in = [d365_contact(contactid=f"c{code}", gendercode=code) for code in (1, 2, None, 3)]
    Run(campaign, tmp_path, resources=RESOURCES, stream_maps=STREAM_MAPS).listen(
        [D365_CONTACT, *rows_in], capsys
    )
    genders = {k: r["gender"] for k, r in rows(campaign, "profile", "externalId").items()}
    assert {k: genders[k] for k in ("c1", "c2", "cNone", "c3")} == {
        "c1": "male",
        "c2": "female",
        "cNone": "unknown",
        "c3": "unknown",
    }


def test_mapped_deletes_reach_the_target(campaign, tmp_path, capsys) -> None:
    campaign.admin.create_row("profile", {"externalId": CONTACT_ID, "firstName": "Ada"})
    run = Run(campaign, tmp_path, resources=RESOURCES, stream_maps=STREAM_MAPS, apply_deletes=True)
    run.listen(
        [
            D365_CONTACT,
            record("contact", contactid=CONTACT_ID, _sdc_deleted_at="2024-05-02T00:00:00Z"),
        ],
        capsys,
    )
    assert campaign.admin.find_rows("profile", externalId=CONTACT_ID) == []
    assert run.summary["streams"]["contact_deletes"]["deleted"] == 1
