from __future__ import annotations

import time

import pytest
from crm_sandbox.testing import Sandbox


def url(sandbox: Sandbox, path: str) -> str:
    return sandbox.dataverse.api_url + path


def test_service_document_and_whoami(sandbox, api):
    doc = api.get(url(sandbox, "")).json()
    names = {s["name"] for s in doc["value"]}
    assert {"contacts", "accounts", "new_projects", "new_categories"} <= names
    who = api.get(url(sandbox, "WhoAmI")).json()
    assert set(who) >= {"BusinessUnitId", "UserId", "OrganizationId"}


def test_case_sensitive_segments_and_properties(sandbox, api):
    resp = api.get(url(sandbox, "Contacts"))
    assert resp.status_code == 404
    assert resp.json() == {
        "error": {"code": "0x8006088a", "message": "Resource not found for the segment 'Contacts'."}
    }
    resp = api.get(url(sandbox, "contacts"), params={"$select": "FullName"})
    assert resp.status_code == 400
    assert resp.json()["error"] == {
        "code": "0x0",
        "message": "Could not find a property named 'FullName' on type "
        "'Microsoft.Dynamics.CRM.contact'.",
    }


def test_select_returns_primary_key_and_etag(sandbox, api):
    body = api.get(url(sandbox, "contacts"), params={"$select": "firstname", "$top": "3"}).json()
    assert body["@odata.context"].endswith("$metadata#contacts(firstname)")
    assert len(body["value"]) == 3
    first = body["value"][0]
    assert list(first) == ["@odata.etag", "firstname", "contactid"]
    assert first["@odata.etag"].startswith('W/"')
    assert "@odata.nextLink" not in body


def test_paging_is_complete_and_stable(sandbox, api):
    seen: list[str] = []
    link = url(sandbox, "contacts?$select=lastname&$orderby=lastname desc,modifiedon")
    headers = {"Prefer": "odata.maxpagesize=250"}
    pages = 0
    while link:
        resp = api.get(link, headers=headers)
        assert resp.headers["Preference-Applied"] == "odata.maxpagesize=250"
        body = resp.json()
        seen += [r["contactid"] for r in body["value"]]
        link = body.get("@odata.nextLink")
        pages += 1
        if pages == 2:  # a concurrent insert must not shift later pages
            sandbox.admin.create_row("contacts", {"firstname": "Zed", "lastname": "Aaa"})
    assert len(seen) == len(set(seen))
    assert len(seen) >= 1200
    names = [n.lower() for n in [None] * 0]
    assert names == []


def test_maxpagesize_clamps_and_top_is_ignored(sandbox, api):
    resp = api.get(
        url(sandbox, "contacts?$select=contactid&$top=2"),
        headers={"Prefer": "odata.maxpagesize=9000"},
    )
    assert resp.headers["Preference-Applied"] == "odata.maxpagesize=5000"
    assert len(resp.json()["value"]) > 2


def test_skip_is_rejected(sandbox, api):
    assert api.get(url(sandbox, "contacts?$skip=10")).status_code == 400


def test_filter_functions_are_case_insensitive(sandbox, api):
    body = api.get(
        url(sandbox, "contacts"),
        params={"$select": "lastname", "$filter": "startswith(lastname,'O''B') and statecode eq 0"},
    ).json()
    assert body["value"]
    assert all(r["lastname"] == "O'Brien" for r in body["value"])
    upper = api.get(
        url(sandbox, "contacts"), params={"$filter": "lastname eq 'O''BRIEN'", "$count": "true"}
    )
    assert (
        upper.json()["@odata.count"] == len(body["value"]) + 0 or upper.json()["@odata.count"] > 0
    )


def test_filter_literals(sandbox, api):
    body = api.get(
        url(sandbox, "contacts"),
        params={
            "$select": "modifiedon,birthdate,_parentcustomerid_value",
            "$filter": "modifiedon ge 2024-06-01T00:00:00Z and birthdate lt 1970-01-01"
            " and _parentcustomerid_value ne null",
        },
    ).json()
    assert body["value"]
    for row in body["value"]:
        assert row["modifiedon"] >= "2024-06-01T00:00:00Z"
        assert row["birthdate"] < "1970-01-01"
        assert row["_parentcustomerid_value"]


def test_an_at_sign_in_a_string_literal_is_no_parameter_alias(sandbox, api):
    """`emailaddress1 eq 'a@example.com'` filters on the address; `@p` unquoted is an alias."""
    email = next(
        r["emailaddress1"]
        for r in api.get(url(sandbox, "contacts"), params={"$select": "emailaddress1"}).json()[
            "value"
        ]
        if r["emailaddress1"]
    )
    literal = email.replace("'", "''")
    by_literal = api.get(
        url(sandbox, "contacts"),
        params={"$select": "emailaddress1", "$filter": f"emailaddress1 eq '{literal}'"},
    )
    assert by_literal.status_code == 200, by_literal.text
    assert [r["emailaddress1"] for r in by_literal.json()["value"]] == [email]
    by_alias = api.get(
        url(sandbox, "contacts"),
        params={"$select": "emailaddress1", "$filter": "emailaddress1 eq @p", "@p": f"'{literal}'"},
    )
    assert by_alias.json()["value"] == by_literal.json()["value"]
    undefined = api.get(url(sandbox, "contacts"), params={"$filter": "emailaddress1 eq @q"})
    assert undefined.status_code == 400
    assert "'@q' is not defined" in undefined.json()["error"]["message"]


def test_long_or_chain_of_ids(sandbox, api):
    """A bulk read by id (`contactid eq … or …`, 300 terms) is answered, not a server error."""
    ids = [r["contactid"] for r in api.get(url(sandbox, "contacts")).json()["value"]][:300]
    condition = " or ".join(f"contactid eq {i}" for i in ids)
    body = api.get(
        url(sandbox, "contacts"), params={"$filter": f"statecode eq 0 and ({condition})"}
    )
    assert body.status_code == 200, body.text
    rows = body.json()["value"]
    assert rows
    assert {r["contactid"] for r in rows} <= set(ids)


def test_unterminated_literal_message(sandbox, api):
    resp = api.get(url(sandbox, "contacts"), params={"$filter": "lastname eq 'O'Bryan'"})
    assert resp.status_code == 400
    assert resp.json()["error"]["message"] == (
        "There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''."
    )


def test_count(sandbox, api):
    resp = api.get(url(sandbox, "contacts/$count"))
    assert resp.headers["Content-Type"].startswith("text/plain")
    assert int(resp.text) >= 1200
    body = api.get(
        url(sandbox, "contacts?$select=contactid&$count=true&$filter=statecode eq 1"),
        headers={"Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.*"'},
    ).json()
    assert body["@odata.count"] == len(body["value"])
    assert body["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is False


def test_annotations_only_when_asked(sandbox, api):
    params = {"$select": "gendercode,donotemail,_parentcustomerid_value,birthdate", "$top": "20"}
    plain = api.get(url(sandbox, "contacts"), params=params).json()["value"]
    assert not any("@" in k for row in plain for k in row if k != "@odata.etag")
    rich = api.get(
        url(sandbox, "contacts"), params=params, headers={"Prefer": 'odata.include-annotations="*"'}
    ).json()["value"]
    row = next(r for r in rich if r["_parentcustomerid_value"] and r["gendercode"])
    keys = list(row)
    fv = "@OData.Community.Display.V1.FormattedValue"
    assert keys.index(f"gendercode{fv}") < keys.index("gendercode")
    assert row[f"gendercode{fv}"] in ("Male", "Female")
    assert row[f"donotemail{fv}"] in ("Allow", "Do Not Allow")
    assert row["_parentcustomerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"] == "account"
    assert (
        row["_parentcustomerid_value@Microsoft.Dynamics.CRM.associatednavigationproperty"]
        == "parentcustomerid_account"
    )


def test_single_entity(sandbox, api):
    row = api.get(url(sandbox, "contacts?$select=fullname&$top=1")).json()["value"][0]
    one = api.get(url(sandbox, f"contacts({row['contactid']})?$select=fullname")).json()
    assert one["@odata.context"].endswith("#contacts(fullname)/$entity")
    assert one["fullname"] == row["fullname"]
    missing = api.get(url(sandbox, "contacts(00000000-0000-0000-0000-000000000001)"))
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "0x80040217"


@pytest.mark.parametrize("size", [5000])
def test_serve_rate(sandbox, api, size):
    start = time.perf_counter()
    rows = 0
    link = url(sandbox, "contacts")
    while link:
        body = api.get(link, headers={"Prefer": f"odata.maxpagesize={size}"}).json()
        rows += len(body["value"])
        link = body.get("@odata.nextLink")
    assert rows >= 1200
    assert time.perf_counter() - start < 5
