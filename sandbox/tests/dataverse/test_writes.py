from __future__ import annotations

import uuid


def u(sandbox, path):
    return sandbox.dataverse.api_url + path


def account_id(sandbox, api):
    return api.get(u(sandbox, "accounts?$select=name&$top=1")).json()["value"][0]["accountid"]


def test_create_204_and_201(sandbox, api):
    acc = account_id(sandbox, api)
    resp = api.post(
        u(sandbox, "contacts"),
        json={
            "firstname": "Ada",
            "lastname": "Lovelace",
            "donotbulkemail": True,
            "parentcustomerid_account@odata.bind": f"/accounts({acc})",
        },
    )
    assert resp.status_code == 204, resp.text
    entity_url = resp.headers["OData-EntityId"]
    assert entity_url.startswith(u(sandbox, "contacts("))
    row = api.get(entity_url + "?$select=fullname,donotbulkemail,_parentcustomerid_value").json()
    assert row["fullname"] == "Ada Lovelace"
    assert row["donotbulkemail"] is True
    assert row["_parentcustomerid_value"] == acc
    rep = api.post(
        u(sandbox, "contacts?$select=fullname"),
        json={"firstname": "Grace", "lastname": "Hopper"},
        headers={"Prefer": "return=representation"},
    )
    assert rep.status_code == 201
    assert rep.json()["@odata.context"].endswith("/$entity")
    assert "OData-EntityId" not in rep.headers


def test_bind_to_missing_row_fails(sandbox, api):
    resp = api.post(
        u(sandbox, "contacts"),
        json={"lastname": "X", "parentcustomerid_account@odata.bind": f"/accounts({uuid.uuid4()})"},
    )
    assert resp.status_code == 404
    assert resp.json()["error"]["code"] == "0x80040217"


def test_patch_semantics(sandbox, api):
    missing = str(uuid.uuid4())
    resp = api.patch(
        u(sandbox, f"contacts({missing})"), json={"lastname": "A"}, headers={"If-Match": "*"}
    )
    assert resp.status_code == 404
    assert resp.json()["error"] == {
        "code": "0x80040217",
        "message": f"contact With Id = {missing} Does Not Exist",
    }
    created = api.patch(
        u(sandbox, f"contacts({missing})"),
        json={"lastname": "Upserted"},
        headers={"Prefer": "return=representation"},
    )
    assert created.status_code == 201
    again = api.patch(
        u(sandbox, f"contacts({missing})"), json={"lastname": "B"}, headers={"If-None-Match": "*"}
    )
    assert again.status_code == 412
    assert again.json()["error"]["message"] == "A record with matching key values already exists."
    updated = api.patch(
        u(sandbox, f"contacts({missing})"),
        json={"lastname": "Updated"},
        headers={"If-Match": "*", "Prefer": "return=representation"},
    )
    assert updated.status_code == 200
    assert updated.json()["lastname"] == "Updated"
    assert api.delete(u(sandbox, f"contacts({missing})")).status_code == 204
    assert api.delete(u(sandbox, f"contacts({missing})")).status_code == 404


def test_alternate_keys(sandbox, api):
    resp = api.patch(u(sandbox, "new_projects(new_code='ALT-1')"), json={"new_name": "Alt"})
    assert resp.status_code == 204
    assert resp.headers["OData-EntityId"].endswith("new_projects(new_code='ALT-1')")
    row = api.get(u(sandbox, "new_projects(new_code='ALT-1')?$select=new_name,new_code")).json()
    assert row["new_code"] == "ALT-1"
    bad = api.patch(u(sandbox, "contacts(emailaddress1='a@b.c')"), json={"lastname": "x"})
    assert bad.status_code == 400
    assert bad.json()["error"]["message"].startswith(
        "The key in the request URI is not valid for resource 'Microsoft.Dynamics.CRM.contact'."
    )


def test_multiple_actions(sandbox, api):
    created = api.post(
        u(sandbox, "contacts/Microsoft.Dynamics.CRM.CreateMultiple"),
        json={
            "Targets": [
                {"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": f"Bulk{i}"}
                for i in range(3)
            ]
        },
    )
    assert created.status_code == 200, created.text
    ids = created.json()["Ids"]
    assert len(ids) == 3
    untyped = api.post(
        u(sandbox, "contacts/Microsoft.Dynamics.CRM.CreateMultiple"),
        json={
            "Targets": [
                {"@odata.type": "Microsoft.Dynamics.CRM.contact", "lastname": "ok"},
                {"lastname": "no type"},
            ]
        },
    )
    assert untyped.status_code == 400
    assert api.get(u(sandbox, "contacts?$filter=lastname eq 'ok'")).json()["value"] == []
    upsert = api.post(
        u(sandbox, "new_projects/Microsoft.Dynamics.CRM.UpsertMultiple"),
        json={
            "Targets": [
                {
                    "@odata.type": "Microsoft.Dynamics.CRM.new_project",
                    "@odata.id": "new_projects(new_code='UM-1')",
                    "new_name": "One",
                },
                {
                    "@odata.type": "Microsoft.Dynamics.CRM.new_project",
                    "@odata.id": "new_projects(new_code='UM-1')",
                    "new_name": "Two",
                },
            ]
        },
    )
    assert upsert.status_code == 204, upsert.text
    assert (
        api.get(u(sandbox, "new_projects(new_code='UM-1')?$select=new_name")).json()["new_name"]
        == "Two"
    )
    update = api.post(
        u(sandbox, "contacts/Microsoft.Dynamics.CRM.UpdateMultiple"),
        json={
            "Targets": [
                {
                    "@odata.type": "Microsoft.Dynamics.CRM.contact",
                    "contactid": ids[0],
                    "lastname": "Changed",
                }
            ]
        },
    )
    assert update.status_code == 204
    unsupported = api.post(
        u(sandbox, "new_categories/Microsoft.Dynamics.CRM.CreateMultiple"),
        json={"Targets": [{"@odata.type": "Microsoft.Dynamics.CRM.new_category", "new_name": "x"}]},
    )
    assert unsupported.status_code == 400


def test_batch_changeset_rolls_back(sandbox, api):
    boundary, changeset = "batch_abc", "changeset_def"
    root = "/api/data/v9.2/"
    part = "Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n"
    body = (
        f"--{boundary}\r\nContent-Type: multipart/mixed; boundary={changeset}\r\n\r\n"
        f"--{changeset}\r\n{part}Content-ID: 1\r\n\r\n"
        f"POST {root}contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        '{"lastname":"BatchOne"}\r\n'
        f"--{changeset}\r\n{part}Content-ID: 2\r\n\r\n"
        f"POST {root}contacts HTTP/1.1\r\nContent-Type: application/json\r\n\r\n"
        '{"lastname":"' + "x" * 60 + '"}\r\n'
        f"--{changeset}--\r\n--{boundary}--\r\n"
    )
    resp = api.post(
        u(sandbox, "$batch"),
        data=body.encode(),
        headers={"Content-Type": f"multipart/mixed; boundary={boundary}"},
    )
    assert resp.status_code == 400, resp.text
    assert "0x80044331" in resp.text
    assert api.get(u(sandbox, "contacts?$filter=lastname eq 'BatchOne'")).json()["value"] == []


def test_writes_feed_change_tracking(sandbox, api):
    first = api.get(
        u(sandbox, "new_projecttasks?$select=new_name"), headers={"Prefer": "odata.track-changes"}
    )
    assert first.headers["Preference-Applied"] == "odata.track-changes"
    delta = first.json()["@odata.deltaLink"]
    created = api.post(u(sandbox, "new_projecttasks"), json={"new_name": "Temp"}).headers[
        "OData-EntityId"
    ]
    api.delete(created)
    existing = first.json()["value"][0]["new_projecttaskid"]
    api.patch(
        u(sandbox, f"new_projecttasks({existing})"),
        json={"new_name": "Renamed"},
        headers={"If-Match": "*"},
    )
    changes = api.get(delta).json()
    assert changes["@odata.context"].endswith("#new_projecttasks(new_name)/$delta")
    rows = [r for r in changes["value"] if "reason" not in r]
    stubs = [r for r in changes["value"] if r.get("reason") == "deleted"]
    assert [r["new_name"] for r in rows] == ["Renamed"]
    assert stubs == [
        {
            "@odata.context": u(sandbox, "$metadata#new_projecttasks/$deletedEntity"),
            "id": created.split("(")[1].rstrip(")"),
            "reason": "deleted",
        }
    ]
    assert changes["@odata.deltaLink"] != delta


def test_owner_binds_to_systemuser_or_team_through_one_navigation_property(sandbox, api):
    user_id = api.get(u(sandbox, "WhoAmI")).json()["UserId"]
    team_id = api.get(u(sandbox, "teams?$select=name")).json()["value"][0]["teamid"]
    annotated = {"Prefer": 'odata.include-annotations="*"'}
    for entity_set, owner, name in (
        ("systemusers", user_id, "# CRM Sandbox Integration"),
        ("teams", team_id, "CRM Sandbox"),
    ):
        resp = api.post(
            u(sandbox, "contacts"),
            json={"lastname": "Owned", "ownerid@odata.bind": f"/{entity_set}({owner})"},
        )
        assert resp.status_code == 204, resp.text
        row = api.get(resp.headers["OData-EntityId"] + "?$select=_ownerid_value", headers=annotated)
        row = row.json()
        assert row["_ownerid_value"] == owner
        assert row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == entity_set[:-1]
        assert (
            row["_ownerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"] == "ownerid"
        )
        assert row["_ownerid_value@OData.Community.Display.V1.FormattedValue"] == name


def test_owner_bind_refuses_per_target_names_and_non_principals(sandbox, api):
    user_id = api.get(u(sandbox, "WhoAmI")).json()["UserId"]
    resp = api.post(
        u(sandbox, "contacts"),
        json={"lastname": "X", "ownerid_systemuser@odata.bind": f"/systemusers({user_id})"},
    )
    assert resp.status_code == 400
    assert "ownerid_systemuser" in resp.json()["error"]["message"]
    resp = api.post(
        u(sandbox, "contacts"),
        json={"lastname": "X", "ownerid@odata.bind": f"/accounts({account_id(sandbox, api)})"},
    )
    assert resp.status_code == 400
    assert "Microsoft.Dynamics.CRM.principal" in resp.json()["error"]["message"]


def test_whoami_user_is_the_application_user(sandbox, api):
    user_id = api.get(u(sandbox, "WhoAmI")).json()["UserId"]
    user = api.get(u(sandbox, f"systemusers({user_id})?$select=fullname,applicationid")).json()
    assert user["applicationid"] == sandbox.dataverse.client_id
    assert user["fullname"] == "# CRM Sandbox Integration"
