"""Campaign email event activity tables: metadata, regarding binds, UpsertMultiple on the key."""

from __future__ import annotations

import uuid
from xml.etree import ElementTree

import pytest

EVENT_TABLES = ("acs_emailsend", "acs_emailopen", "acs_emailclick", "acs_emailbounce")
NAV_ANNOTATION = "_regardingobjectid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"


def u(sandbox, path):
    return sandbox.dataverse.api_url + path


def contact_ids(sandbox, api, n):
    rows = api.get(u(sandbox, f"contacts?$select=contactid&$top={n}")).json()["value"]
    return [r["contactid"] for r in rows]


def upsert_multiple(sandbox, api, table, targets):
    return api.post(
        u(sandbox, f"{table}s/Microsoft.Dynamics.CRM.UpsertMultiple"),
        json={
            "Targets": [
                {
                    "@odata.type": f"Microsoft.Dynamics.CRM.{table}",
                    "@odata.id": f"{table}s(acs_eventid='{event_id}')",
                    **values,
                }
                for event_id, values in targets
            ]
        },
    )


def test_entity_definitions(sandbox, api):
    select = (
        "LogicalName,EntitySetName,DisplayName,IsActivity,PrimaryIdAttribute,PrimaryNameAttribute"
    )
    names = ",".join(f"'{t}'" for t in EVENT_TABLES)
    resp = api.get(
        u(sandbox, f"EntityDefinitions?$select={select}&$filter=LogicalName in ({names})")
    )
    assert resp.status_code == 200, resp.text
    rows = {e["LogicalName"]: e for e in resp.json()["value"]}
    assert set(rows) == set(EVENT_TABLES)
    click = rows["acs_emailclick"]
    assert click["EntitySetName"] == "acs_emailclicks"
    assert click["DisplayName"]["UserLocalizedLabel"]["Label"] == "Adobe Campaign Email URL Click"
    assert click["IsActivity"] is True
    assert click["PrimaryIdAttribute"] == "activityid"
    assert click["PrimaryNameAttribute"] == "subject"
    attributes = api.get(
        u(
            sandbox,
            "EntityDefinitions(LogicalName='acs_emailbounce')/Attributes?$select=LogicalName",
        )
    ).json()["value"]
    assert {"acs_bouncetype", "acs_bouncereason", "regardingobjectid", "acs_eventdate"} <= {
        a["LogicalName"] for a in attributes
    }


def test_regarding_navigation_property_is_named_per_activity(sandbox, api):
    root = ElementTree.fromstring(api.get(u(sandbox, "$metadata")).content)
    ns = {"edm": "http://docs.oasis-open.org/odata/ns/edm"}
    types = {t.get("Name"): t for t in root.iterfind(".//edm:EntityType", ns)}
    for table in EVENT_TABLES:
        navs = {n.get("Name") for n in types[table].iterfind("edm:NavigationProperty", ns)}
        assert f"regardingobjectid_contact_{table}" in navs
        assert "regardingobjectid" not in navs


def test_upsert_multiple_on_the_event_key_is_idempotent(sandbox, api):
    first, second = contact_ids(sandbox, api, 2)
    owner = api.get(u(sandbox, "WhoAmI")).json()["UserId"]
    event_id = f"evt-{uuid.uuid4()}"
    values = {
        "subject": "Campaign Name: CMP1; Delivery Name: DM1",
        "regardingobjectid_contact_acs_emailclick@odata.bind": f"/contacts({first})",
        "ownerid@odata.bind": f"/systemusers({owner})",
        "acs_campaignname": "CMP1",
        "acs_deliveryname": "DM1",
        "acs_eventdate": "2025-03-01T10:00:00Z",
        "acs_trackingurl": "https://example.com/offer",
    }
    resp = upsert_multiple(sandbox, api, "acs_emailclick", [(event_id, values)])
    assert resp.status_code == 204, resp.text
    moved = {
        **values,
        "regardingobjectid_contact_acs_emailclick@odata.bind": f"/contacts({second})",
    }
    assert upsert_multiple(sandbox, api, "acs_emailclick", [(event_id, moved)]).status_code == 204

    rows = api.get(
        u(sandbox, f"acs_emailclicks?$filter=acs_eventid eq '{event_id}'"),
        headers={"Prefer": 'odata.include-annotations="*"'},
    ).json()["value"]
    assert len(rows) == 1
    row = rows[0]
    assert row["_regardingobjectid_value"] == second
    assert row[NAV_ANNOTATION] == "regardingobjectid_contact_acs_emailclick"
    assert row["_ownerid_value"] == owner
    assert row["acs_eventdate"] == "2025-03-01T10:00:00Z"
    assert row["statecode"] == 0
    by_key = api.get(u(sandbox, f"acs_emailclicks(acs_eventid='{event_id}')?$select=subject"))
    assert by_key.json()["subject"] == "Campaign Name: CMP1; Delivery Name: DM1"


def test_upsert_multiple_rolls_back_when_a_contact_is_missing(sandbox, api):
    (contact,) = contact_ids(sandbox, api, 1)
    good, bad = f"evt-{uuid.uuid4()}", f"evt-{uuid.uuid4()}"
    nav = "regardingobjectid_contact_acs_emailopen@odata.bind"
    resp = upsert_multiple(
        sandbox,
        api,
        "acs_emailopen",
        [
            (good, {"subject": "ok", nav: f"/contacts({contact})"}),
            (bad, {"subject": "missing", nav: f"/contacts({uuid.uuid4()})"}),
        ],
    )
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "0x80040217"
    found = api.get(u(sandbox, f"acs_emailopens?$filter=acs_eventid eq '{good}'")).json()
    assert found["value"] == []


@pytest.mark.parametrize("nav", ["regardingobjectid", "regardingobjectid_contact"])
def test_regarding_needs_the_activity_navigation_property(sandbox, api, nav):
    (contact,) = contact_ids(sandbox, api, 1)
    resp = api.post(
        u(sandbox, "acs_emailsends"),
        json={"subject": "x", f"{nav}@odata.bind": f"/contacts({contact})"},
    )
    assert resp.status_code == 400
    assert nav in resp.json()["error"]["message"]
