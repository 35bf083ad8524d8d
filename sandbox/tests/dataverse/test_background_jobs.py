"""Background jobs clients start on seeded tables: an alternate key's index job and BulkDelete.

- `POST EntityDefinitions(LogicalName='contact')/Keys` (Microsoft's "Define alternate keys using
  the Web API"): Pending, then Active (upserts and reads by the key work) or Failed on
  duplicates.
- `POST BulkDelete` (Microsoft's "Delete data in bulk"): a system job that deletes the rows its
  QuerySet matches once its start time has passed; deletions show up in change tracking.

Both change the org, so this module runs its own sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from crm_sandbox.testing import Sandbox, launch

KEY_DELAY = 30.0


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    with launch(tmp_path_factory.mktemp("jobs-org"), contacts=60, seed=11) as sb:
        sb.admin.set_config(key_index_delay_seconds=KEY_DELAY)
        yield sb


def u(sandbox: Sandbox, path: str) -> str:
    return sandbox.dataverse.api_url + path


def label(text: str) -> dict[str, object]:
    return {"LocalizedLabels": [{"Label": text, "LanguageCode": 1033}]}


def key_status(sandbox: Sandbox, api, logical_name: str) -> str:
    keys = api.get(u(sandbox, "EntityDefinitions(LogicalName='contact')/Keys")).json()["value"]
    return next(k["EntityKeyIndexStatus"] for k in keys if k["LogicalName"] == logical_name)


def test_alternate_key_on_contact_becomes_active_and_serves_upserts(sandbox, api):
    created = api.post(
        u(sandbox, "EntityDefinitions(LogicalName='contact')/Keys"),
        json={
            "SchemaName": "new_EmailKey",
            "DisplayName": label("Email key"),
            "KeyAttributes": ["emailaddress1"],
        },
    )
    assert created.status_code == 204, created.text
    assert "EntityDefinitions(LogicalName='contact')/Keys(" in created.headers["OData-EntityId"]
    assert key_status(sandbox, api, "new_emailkey") == "Pending"
    by_key = u(sandbox, "contacts(emailaddress1='ada.upsert@example.com')")
    pending = api.patch(by_key, json={"lastname": "Upsert"})
    assert pending.status_code == 400
    assert pending.json()["error"]["code"] == "0x80060890"

    sandbox.admin.shift_clock(KEY_DELAY + 1)
    assert key_status(sandbox, api, "new_emailkey") == "Active"
    assert api.patch(by_key, json={"lastname": "Upsert"}).status_code == 204  # created
    assert api.patch(by_key, json={"firstname": "Ada"}).status_code == 204  # updated
    row = api.get(by_key + "?$select=firstname,lastname,emailaddress1").json()
    assert (row["firstname"], row["lastname"]) == ("Ada", "Upsert")
    same = api.get(u(sandbox, "contacts?$select=emailaddress1&$filter=lastname eq 'Upsert'"))
    assert same.status_code == 200, same.text
    assert len(same.json()["value"]) == 1
    duplicate = api.post(
        u(sandbox, "contacts"), json={"lastname": "Copy", "emailaddress1": "ada.upsert@example.com"}
    )
    assert duplicate.status_code == 412, duplicate.text


def test_alternate_key_over_duplicate_values_fails(sandbox, api):
    for name in ("One", "Two"):
        resp = api.post(u(sandbox, "contacts"), json={"lastname": name, "jobtitle": "Twin"})
        assert resp.status_code == 204, resp.text
    created = api.post(
        u(sandbox, "EntityDefinitions(LogicalName='contact')/Keys"),
        json={"SchemaName": "new_JobKey", "KeyAttributes": ["jobtitle"]},
    )
    assert created.status_code == 204, created.text
    sandbox.admin.shift_clock(KEY_DELAY + 1)
    assert key_status(sandbox, api, "new_jobkey") == "Failed"
    refused = api.get(u(sandbox, "contacts(jobtitle='Twin')"))
    assert refused.status_code == 400
    assert refused.json()["error"]["code"] == "0x80060890"


def bulk_delete(sandbox: Sandbox, api, criteria: dict[str, object], start: str) -> str:
    resp = api.post(
        u(sandbox, "BulkDelete"),
        json={
            "QuerySet": [
                {
                    "@odata.type": "Microsoft.Dynamics.CRM.QueryExpression",
                    "EntityName": "contact",
                    "ColumnSet": {"AllColumns": False, "Columns": ["contactid"]},
                    "Criteria": criteria,
                }
            ],
            "JobName": "Remove test contacts",
            "SendEmailNotification": False,
            "ToRecipients": [],
            "CCRecipients": [],
            "RecurrencePattern": "",
            "StartDateTime": start,
        },
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["@odata.context"].endswith("$metadata#Microsoft.Dynamics.CRM.BulkDeleteResponse")
    return body["JobId"]


def test_bulk_delete_job_deletes_matching_rows_and_tracks_them(sandbox, api):
    ids = {}
    for first in ("Del1", "Del2", "Keep"):
        resp = api.post(
            u(sandbox, "contacts"),
            json={"firstname": first, "lastname": "Bulkdelete"},
            headers={"Prefer": "return=representation"},
        )
        ids[first] = resp.json()["contactid"]
    tracked = api.get(
        u(sandbox, "contacts?$select=lastname"), headers={"Prefer": "odata.track-changes"}
    )
    delta_link = tracked.json()["@odata.deltaLink"]
    criteria = {
        "FilterOperator": "And",
        "Conditions": [
            {
                "AttributeName": "lastname",
                "Operator": "Equal",
                "Values": [{"Type": "System.String", "Value": "Bulkdelete"}],
            }
        ],
        "Filters": [
            {
                "FilterOperator": "Or",
                "Conditions": [
                    {
                        "AttributeName": "firstname",
                        "Operator": "In",
                        "Values": [
                            {"Type": "System.String", "Value": "Del1"},
                            {"Type": "System.String", "Value": "Del2"},
                        ],
                    }
                ],
            }
        ],
    }
    now = datetime.fromtimestamp(sandbox.admin.clock()["time"], UTC).isoformat()
    job = bulk_delete(sandbox, api, criteria, now)
    state = api.get(u(sandbox, f"asyncoperations({job})?$select=statecode,statuscode,name"))
    assert state.status_code == 200, state.text
    assert (state.json()["statecode"], state.json()["statuscode"]) == (3, 30)  # Succeeded
    assert state.json()["name"] == "Remove test contacts"
    left = api.get(u(sandbox, "contacts?$select=firstname&$filter=lastname eq 'Bulkdelete'"))
    assert [r["firstname"] for r in left.json()["value"]] == ["Keep"]
    operation = api.get(
        u(sandbox, f"bulkdeleteoperations?$filter=_asyncoperationid_value eq {job}")
    ).json()["value"]
    assert [o["successcount"] for o in operation] == [2]
    changes = api.get(delta_link).json()["value"]
    deleted = {c["id"] for c in changes if c.get("reason") == "deleted"}
    assert deleted == {ids["Del1"], ids["Del2"]}


def test_bulk_delete_waits_for_its_start_time(sandbox, api):
    resp = api.post(u(sandbox, "contacts"), json={"lastname": "Later"})
    assert resp.status_code == 204
    condition = {"AttributeName": "lastname", "Operator": "Like", "Values": ["Lat%"]}
    job = bulk_delete(sandbox, api, {"Conditions": [condition]}, "2999-01-01T00:00:00Z")
    waiting = api.get(u(sandbox, f"asyncoperations({job})")).json()
    assert (waiting["statecode"], waiting["statuscode"]) == (0, 0)  # Ready, Waiting For Resources
    assert len(api.get(u(sandbox, "contacts?$filter=lastname eq 'Later'")).json()["value"]) == 1


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ({"EntityName": "nothing"}, "0x80041102"),
        (
            {
                "EntityName": "contact",
                "Criteria": {"Conditions": [{"AttributeName": "nope", "Values": ["x"]}]},
            },
            "0x80041103",
        ),
    ],
)
def test_bulk_delete_refuses_bad_queries(sandbox, api, query, code):
    resp = api.post(u(sandbox, "BulkDelete"), json={"QuerySet": [query], "JobName": "bad"})
    assert resp.status_code == 400, resp.text
    assert resp.json()["error"]["code"] == code
