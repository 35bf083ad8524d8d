"""Metadata writes in an org without Adobe's solution (`--no-activity-tables`).

A provisioning client creates a custom activity table, its columns and an alternate key through
the Web API; the key is Pending until its index job is done; rows are then upserted on it; the
table survives a restart; and the bulk messages can be switched off per table.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from xml.etree import ElementTree

import pytest
from crm_sandbox.testing import Sandbox, launch

from tests.conftest import get_token, http_session

TABLE = "acs_emailsend"
NAV = f"regardingobjectid_contact_{TABLE}@odata.bind"
KEY_DELAY = 60.0


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    state = tmp_path_factory.mktemp("no-activity-org")
    with launch(state, contacts=50, seed=3, no_activity_tables=True) as sb:
        sb.admin.set_config(key_index_delay_seconds=KEY_DELAY)
        yield sb


@pytest.fixture(autouse=True)
def _clean_dataverse_controls(sandbox: Sandbox) -> Iterator[None]:
    yield
    if sandbox.process.poll() is None:  # the restart test stops this module's sandbox
        sandbox.admin.clear_faults()
        sandbox.admin.reset_limit_usage()


def u(sandbox: Sandbox, path: str) -> str:
    return sandbox.dataverse.api_url + path


def label(text: str) -> dict[str, object]:
    return {"LocalizedLabels": [{"Label": text, "LanguageCode": 1033}]}


def string(schema: str, display: str, length: int = 100, **extra: object) -> dict[str, object]:
    return {
        "@odata.type": "Microsoft.Dynamics.CRM.StringAttributeMetadata",
        "AttributeType": "String",
        "AttributeTypeName": {"Value": "StringType"},
        "SchemaName": schema,
        "DisplayName": label(display),
        "RequiredLevel": {"Value": "None"},
        "MaxLength": length,
        **extra,
    }


def entity(schema: str, primary: dict[str, object], **extra: object) -> dict[str, object]:
    return {
        "@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata",
        "SchemaName": schema,
        "DisplayName": label(schema),
        "DisplayCollectionName": label(schema + "s"),
        "OwnershipType": "UserOwned",
        "HasActivities": False,
        "HasNotes": False,
        "Attributes": [{**primary, "IsPrimaryName": True}],
        **extra,
    }


def error(resp, status: int) -> dict[str, str]:
    assert resp.status_code == status, resp.text
    return resp.json()["error"]


def contact_id(sandbox: Sandbox, api) -> str:
    return api.get(u(sandbox, "contacts?$select=contactid&$top=1")).json()["value"][0]["contactid"]


def upsert_multiple(sandbox: Sandbox, api, targets: list[tuple[str, dict[str, object]]]):
    return api.post(
        u(sandbox, f"{TABLE}s/Microsoft.Dynamics.CRM.UpsertMultiple"),
        json={
            "Targets": [
                {
                    "@odata.type": f"Microsoft.Dynamics.CRM.{TABLE}",
                    "@odata.id": f"{TABLE}s(acs_eventid='{event_id}')",
                    **values,
                }
                for event_id, values in targets
            ]
        },
    )


def test_org_starts_without_the_activity_tables(sandbox, api):
    names = api.get(u(sandbox, "EntityDefinitions?$select=LogicalName")).json()["value"]
    assert "contact" in {e["LogicalName"] for e in names}
    assert not {e["LogicalName"] for e in names} & {"acs_emailsend", "acs_emailclick"}
    assert error(api.get(u(sandbox, "acs_emailsends")), 404)["code"] == "0x8006088a"


def test_create_activity_table_columns_and_key(sandbox, api):
    definition = entity(
        "acs_EmailSend",
        string("Subject", "Subject", 400),
        IsActivity=True,
        ChangeTrackingEnabled=True,
        DisplayName=label("Adobe Campaign Email Send"),
    )
    headers = {"MSCRM.SolutionUniqueName": "AdobeCampaign"}
    resp = api.post(u(sandbox, "EntityDefinitions"), json=definition, headers=headers)
    assert resp.status_code == 204, resp.text
    meta = api.get(
        u(
            sandbox,
            f"EntityDefinitions(LogicalName='{TABLE}')?$select=SchemaName,EntitySetName,"
            "PrimaryIdAttribute,PrimaryNameAttribute,IsActivity,IsCustomEntity,ChangeTrackingEnabled",
        )
    ).json()
    assert resp.headers["OData-EntityId"] == u(sandbox, f"EntityDefinitions({meta['MetadataId']})")
    assert {k: v for k, v in meta.items() if not k.startswith(("@", "Metadata"))} == {
        "SchemaName": "acs_EmailSend",
        "EntitySetName": "acs_emailsends",
        "PrimaryIdAttribute": "activityid",
        "PrimaryNameAttribute": "subject",
        "IsActivity": True,
        "IsCustomEntity": True,
        "ChangeTrackingEnabled": True,
    }
    columns = [
        string("acs_EventId", "Event ID"),
        string("acs_CampaignName", "Campaign Name"),
        string("acs_MirrorPageUrl", "Mirror Page URL", 2000),
        {
            "@odata.type": "Microsoft.Dynamics.CRM.DateTimeAttributeMetadata",
            "SchemaName": "acs_EventDate",
            "DisplayName": label("Date Sent"),
            "Format": "DateAndTime",
        },
        {"AttributeType": "Memo", "SchemaName": "acs_Notes", "MaxLength": 500},
        {"AttributeType": "Integer", "SchemaName": "acs_Attempts"},
        {
            "@odata.type": "Microsoft.Dynamics.CRM.BooleanAttributeMetadata",
            "SchemaName": "acs_Hard",
            "DefaultValue": False,
            "OptionSet": {
                "TrueOption": {"Value": 1, "Label": label("Hard")},
                "FalseOption": {"Value": 0, "Label": label("Soft")},
            },
        },
    ]
    for column in columns:
        created = api.post(
            u(sandbox, f"EntityDefinitions(LogicalName='{TABLE}')/Attributes"), json=column
        )
        assert created.status_code == 204, created.text
        assert "/Attributes(" in created.headers["OData-EntityId"]
    attributes = api.get(
        u(
            sandbox,
            f"EntityDefinitions(LogicalName='{TABLE}')/Attributes?$select=LogicalName,"
            "AttributeType,SchemaName",
        )
    ).json()["value"]
    types = {a["LogicalName"]: a["AttributeType"] for a in attributes}
    assert types["acs_eventid"] == "String"
    assert types["acs_eventdate"] == "DateTime"
    assert types["acs_notes"] == "Memo"
    assert types["acs_attempts"] == "Integer"
    assert types["acs_hard"] == "Boolean"
    assert {
        "activityid",
        "subject",
        "regardingobjectid",
        "ownerid",
        "statecode",
        "createdon",
    } <= set(types)
    key = api.post(
        u(sandbox, f"EntityDefinitions(LogicalName='{TABLE}')/Keys"),
        json={
            "SchemaName": "acs_EventIdKey",
            "DisplayName": label("Event ID key"),
            "KeyAttributes": ["acs_eventid"],
        },
    )
    assert key.status_code == 204, key.text
    assert "/Keys(" in key.headers["OData-EntityId"]


def test_csdl_and_message_filters_show_the_new_table(sandbox, api):
    root = ElementTree.fromstring(api.get(u(sandbox, "$metadata")).content)
    ns = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    types = {t.get("Name"): t for t in root.iterfind(".//edm:EntityType", ns)}
    navs = {n.get("Name") for n in types[TABLE].iterfind("edm:NavigationProperty", ns)}
    assert {f"regardingobjectid_contact_{TABLE}", f"regardingobjectid_account_{TABLE}"} <= navs
    sets = {s.get("Name") for s in root.iterfind(".//edm:EntitySet", ns)}
    assert f"{TABLE}s" in sets
    probe = (
        "sdkmessagefilters?$select=sdkmessagefilterid&$filter=sdkmessageid/name eq 'UpsertMultiple'"
        f" and primaryobjecttypecode eq '{TABLE}'"
    )
    assert len(api.get(u(sandbox, probe)).json()["value"]) == 1


def test_pending_key_cannot_be_used_until_active(sandbox, api):
    keys_url = u(sandbox, f"EntityDefinitions(LogicalName='{TABLE}')/Keys")
    (pending,) = api.get(keys_url).json()["value"]
    assert pending["EntityKeyIndexStatus"] == "Pending"
    assert pending["KeyAttributes"] == ["acs_eventid"]
    assert pending["LogicalName"] == "acs_eventidkey"
    contact = contact_id(sandbox, api)
    refused = upsert_multiple(
        sandbox, api, [("evt-1", {"subject": "s", NAV: f"/contacts({contact})"})]
    )
    assert error(refused, 400) == {
        "code": "0x80060890",
        "message": f"The specified key attributes are not a defined key for the {TABLE} entity",
    }
    sandbox.admin.shift_clock(KEY_DELAY + 1)
    expanded = api.get(
        u(
            sandbox,
            f"EntityDefinitions(LogicalName='{TABLE}')?$select=LogicalName"
            "&$expand=Keys($select=SchemaName,EntityKeyIndexStatus)",
        )
    ).json()
    assert [(k["SchemaName"], k["EntityKeyIndexStatus"]) for k in expanded["Keys"]] == [
        ("acs_EventIdKey", "Active")
    ]
    one = api.get(keys_url + "(LogicalName='acs_eventidkey')?$select=EntityKeyIndexStatus")
    assert one.json()["EntityKeyIndexStatus"] == "Active"


def test_upsert_multiple_on_the_created_key(sandbox, api):
    contact = contact_id(sandbox, api)
    values = {
        "subject": "Campaign Name: CMP1; Delivery Name: DM1",
        NAV: f"/contacts({contact})",
        "acs_eventdate": "2025-03-01T10:00:00Z",
        "acs_hard": True,
    }
    for _ in range(2):  # idempotent on the key
        assert upsert_multiple(sandbox, api, [("send:1", values)]).status_code == 204
    rows = api.get(
        u(sandbox, f"{TABLE}s?$filter=acs_eventid eq 'send:1'"),
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()["value"]
    assert len(rows) == 1
    row = rows[0]
    assert row["_regardingobjectid_value"] == contact
    assert row["_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == (
        f"regardingobjectid_contact_{TABLE}"
    )
    assert row["acs_hard@OData.Community.Display.V1.FormattedValue"] == "Hard"
    duplicate = api.post(u(sandbox, f"{TABLE}s"), json={"subject": "x", "acs_eventid": "send:1"})
    assert duplicate.status_code == 412, duplicate.text
    tracked = api.get(
        u(sandbox, f"{TABLE}s?$select=subject"), headers={"Prefer": "odata.track-changes"}
    )
    assert "@odata.deltaLink" in tracked.json()


def test_missing_contact_is_rejected_in_upsert_multiple_and_batch(sandbox, api):
    missing = str(uuid.uuid4())
    message = f"contact With Id = {missing} Does Not Exist"
    resp = upsert_multiple(
        sandbox, api, [("send:missing", {"subject": "s", NAV: f"/contacts({missing})"})]
    )
    assert error(resp, 404) == {"code": "0x80040217", "message": message}
    boundary, changeset = "batch_1", "changeset_1"
    root = "/api/data/v9.2/"
    body = (
        f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        f"--{changeset}\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
        "Content-ID: 1\r\n\r\n"
        f"PATCH {root}{TABLE}s(acs_eventid='send:missing') HTTP/1.1\r\n"
        "Content-Type: application/json\r\n\r\n"
        f'{{"subject":"s","{NAV}":"/contacts({missing})"}}\r\n'
        f"--{changeset}--\r\n--{boundary}--\r\n"
    )
    batch = api.post(
        u(sandbox, "$batch"),
        data=body.encode(),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
    )
    assert batch.status_code == 404, batch.text  # the failed change set answers the batch
    assert "HTTP/1.1 404 Not Found" in batch.text
    assert message in batch.text
    assert (
        api.get(u(sandbox, f"{TABLE}s?$filter=acs_eventid eq 'send:missing'")).json()["value"] == []
    )


def test_bulk_messages_can_be_switched_off_per_table(sandbox, api):
    probe = u(
        sandbox,
        "sdkmessagefilters?$filter=sdkmessageid/name eq 'UpsertMultiple'"
        f" and primaryobjecttypecode eq '{TABLE}'",
    )
    assert sandbox.admin.set_bulk_messages(TABLE, enabled=False) == [TABLE]
    try:
        assert api.get(probe).json()["value"] == []
        refused = upsert_multiple(sandbox, api, [("send:1", {"subject": "s"})])
        assert error(refused, 400)["message"] == (
            f"The 'UpsertMultiple' method does not support entities of type '{TABLE}'. "
            "MessageProcessorCache returned MessageProcessor.Empty."
        )
        contacts = api.get(probe.replace(TABLE, "contact")).json()["value"]
        assert len(contacts) == 1
    finally:
        assert sandbox.admin.set_bulk_messages(TABLE, enabled=True) == []
    assert len(api.get(probe).json()["value"]) == 1


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        # the table exists already
        (
            "EntityDefinitions",
            entity("acs_EmailSend", string("Subject", "S"), IsActivity=True),
            400,
            "0x80047010",
        ),
        # no publisher prefix
        ("EntityDefinitions", entity("EmailThing", string("acs_Name", "Name")), 400, "0x80044366"),
        # an activity's primary name attribute must be `subject`
        (
            "EntityDefinitions",
            entity("acs_Other", string("acs_Name", "N"), IsActivity=True),
            400,
            "0x8004f127",
        ),
        # the primary name attribute must be a string
        (
            "EntityDefinitions",
            entity("acs_Other", {"AttributeType": "Integer", "SchemaName": "acs_Number"}),
            400,
            "0x8004700e",
        ),
        # no primary name attribute
        (
            "EntityDefinitions",
            {**entity("acs_Other", string("acs_Name", "N")), "Attributes": []},
            400,
            "0x8004023a",
        ),
        # columns
        (
            f"EntityDefinitions(LogicalName='{TABLE}')/Attributes",
            string("acs_EventId", "E"),
            400,
            "0x80060304",
        ),
        (
            f"EntityDefinitions(LogicalName='{TABLE}')/Attributes",
            string("EventCode", "E"),
            400,
            "0x80044366",
        ),
        (
            f"EntityDefinitions(LogicalName='{TABLE}')/Attributes",
            {
                "@odata.type": "Microsoft.Dynamics.CRM.LookupAttributeMetadata",
                "SchemaName": "acs_X",
            },
            501,
            "",
        ),
        (
            "EntityDefinitions(LogicalName='contact')/Attributes",
            string("new_Code", "Code"),
            501,
            "",
        ),
        (
            "EntityDefinitions(LogicalName='acs_nothing')/Attributes",
            string("acs_Code", "Code"),
            404,
            "0x80040217",
        ),
        # keys
        (
            f"EntityDefinitions(LogicalName='{TABLE}')/Keys",
            {"SchemaName": "acs_EventIdKey", "KeyAttributes": ["acs_campaignname"]},
            400,
            "0x80060893",
        ),
        (
            f"EntityDefinitions(LogicalName='{TABLE}')/Keys",
            {"SchemaName": "acs_SecondKey", "KeyAttributes": ["acs_eventid"]},
            400,
            "0x80060894",
        ),
        (
            f"EntityDefinitions(LogicalName='{TABLE}')/Keys",
            {"SchemaName": "acs_NotesKey", "KeyAttributes": ["acs_notes"]},
            400,
            "0x8004023a",
        ),
    ],
)
def test_metadata_write_errors(sandbox, api, path, body, status, code):
    assert error(api.post(u(sandbox, path), json=body), status)["code"] == code


def test_created_table_survives_a_restart(sandbox):
    state_dir = sandbox.state_dir
    sandbox.stop()
    with launch(state_dir, contacts=50, seed=3, no_activity_tables=True) as again:
        api = http_session(again)
        api.headers["Authorization"] = f"Bearer {get_token(again)}"
        keys = api.get(
            u(again, f"EntityDefinitions(LogicalName='{TABLE}')/Keys?$select=EntityKeyIndexStatus")
        ).json()["value"]
        assert [k["EntityKeyIndexStatus"] for k in keys] == ["Active"]
        rows = api.get(u(again, f"{TABLE}s(acs_eventid='send:1')?$select=subject,acs_hard")).json()
        assert rows["subject"] == "Campaign Name: CMP1; Delivery Name: DM1"
        assert rows["acs_hard"] is True
        assert "acs_emailopen" not in {
            e["LogicalName"]
            for e in api.get(u(again, "EntityDefinitions?$select=LogicalName")).json()["value"]
        }
