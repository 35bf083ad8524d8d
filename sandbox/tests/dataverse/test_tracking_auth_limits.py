from __future__ import annotations

import jwt
import pytest

from tests.conftest import get_token, http_session, msal_app


def u(sandbox, path):
    return sandbox.dataverse.api_url + path


def test_tracked_snapshot_pages_then_delta(sandbox, api):
    headers = {"Prefer": "odata.track-changes, odata.maxpagesize=400"}
    link = u(sandbox, "contacts?$select=lastname")
    pages, ids = [], set()
    while link:
        body = api.get(link, headers=headers).json()
        pages.append(body)
        ids |= {r["contactid"] for r in body["value"]}
        link = body.get("@odata.nextLink")
    assert len(pages) >= 3
    assert all("@odata.deltaLink" not in p for p in pages[:-1])
    delta = pages[-1]["@odata.deltaLink"]
    victim = sorted(ids)[0]
    sandbox.admin.delete_row("contacts", victim)
    touched = sandbox.admin.touch_rows("contacts", 2)
    body = api.get(delta).json()
    changed = [r["contactid"] for r in body["value"] if "contactid" in r]
    assert set(touched) <= set(changed)
    assert body["value"][-1] == {
        "@odata.context": u(sandbox, "$metadata#contacts/$deletedEntity"),
        "id": victim,
        "reason": "deleted",
    }
    count = api.get(delta.replace("contacts?", "contacts/$count?"))
    assert int(count.text) == len(body["value"])


@pytest.mark.parametrize("option", ["$filter=statecode eq 0", "$orderby=lastname", "$top=3"])
def test_tracking_rejects_query_options(sandbox, api, option):
    resp = api.get(u(sandbox, f"contacts?{option}"), headers={"Prefer": "odata.track-changes"})
    assert resp.status_code == 400
    name = option.split("=")[0]
    assert resp.json()["error"]["message"] == (
        f'The "{name}" query parameter isn\'t supported when Change Tracking is enabled.'
    )


def test_untracked_table(sandbox, api):
    resp = api.get(u(sandbox, "new_categories"), headers={"Prefer": "odata.track-changes"})
    assert resp.status_code == 400
    assert (
        resp.json()["error"]["message"] == "Entity: new_category isn't enabled for change tracking."
    )


def test_delta_token_expires_after_retention(sandbox, api):
    body = api.get(
        u(sandbox, "accounts?$select=name"), headers={"Prefer": "odata.track-changes"}
    ).json()
    delta = body["@odata.deltaLink"]
    assert api.get(delta).status_code == 200
    sandbox.admin.set_config(expire_change_tracking_in_days=2)
    sandbox.admin.shift_clock(3 * 86400)
    try:
        # the access token expired with the shift too: get a fresh one
        api.headers["Authorization"] = f"Bearer {get_token(sandbox)}"
        expired = api.get(delta)
        assert expired.status_code == 400
        assert expired.json()["error"] == {
            "code": "0x80044352",
            "message": "Version stamp associated with the client has expired. "
            "Please perform a full sync.",
        }
    finally:
        sandbox.admin.shift_clock(-3 * 86400)
        sandbox.admin.set_config(expire_change_tracking_in_days=7)


def test_msal_errors(sandbox):
    scope = [f"{sandbox.dataverse.url}/.default"]
    bad_secret = msal_app(sandbox, secret="wrong").acquire_token_for_client(scopes=scope)
    assert bad_secret["error"] == "invalid_client"
    assert bad_secret["error_description"].startswith("AADSTS7000215:")
    unknown = msal_app(
        sandbox, client_id="c11e0000-0000-4000-8000-00000000ffff"
    ).acquire_token_for_client(scopes=scope)
    assert unknown["error"] == "unauthorized_client"
    assert 700016 in unknown["error_codes"]
    bad_scope = msal_app(sandbox).acquire_token_for_client(
        scopes=[f"{sandbox.dataverse.url}/user_impersonation"]
    )
    assert bad_scope["error"] == "invalid_scope"


def test_token_claims_and_basic_auth(sandbox):
    session = http_session(sandbox)
    d = sandbox.dataverse
    resp = session.post(
        f"{d.authority}/oauth2/v2.0/token",
        data={"grant_type": "client_credentials", "scope": f"{d.url}/.default"},
        auth=(d.client_id, d.client_secret),
    )
    assert resp.status_code == 200
    token = resp.json()
    assert token["expires_in"] == 3599
    claims = jwt.decode(token["access_token"], options={"verify_signature": False})
    assert claims["aud"] == d.url
    assert claims["tid"] == d.tenant_id
    assert claims["appid"] == d.client_id
    grant = session.post(f"{d.authority}/oauth2/v2.0/token", data={"grant_type": "password"})
    assert grant.json()["error"] == "unsupported_grant_type"


def test_api_rejects_bad_tokens(sandbox, api):
    session = http_session(sandbox)
    for header in (None, "Bearer not-a-jwt"):
        resp = session.get(
            u(sandbox, "WhoAmI"), headers={"Authorization": header} if header else {}
        )
        assert resp.status_code == 401
        challenge = resp.headers["WWW-Authenticate"]
        assert challenge.startswith(
            f"Bearer authorization_uri={sandbox.dataverse.authority}/oauth2/authorize"
        )
    other = msal_app(
        sandbox,
        client_id="c11e0000-0000-4000-8000-000000000002",
        secret="sandbox-other-secret",
        tenant="d365d365-0000-4000-8000-000000000002",
    ).acquire_token_for_client(scopes=[f"{sandbox.dataverse.url}/.default"])
    foreign = session.get(
        u(sandbox, "WhoAmI"), headers={"Authorization": f"Bearer {other['access_token']}"}
    )
    assert foreign.status_code == 401


def test_expired_and_revoked_tokens(sandbox):
    session = http_session(sandbox)
    sandbox.admin.set_config(token_lifetime=60)
    try:
        short = get_token(sandbox)
    finally:
        sandbox.admin.set_config(token_lifetime=3599)
    headers = {"Authorization": f"Bearer {short}"}
    assert session.get(u(sandbox, "WhoAmI"), headers=headers).status_code == 200
    sandbox.admin.shift_clock(120)
    try:
        assert session.get(u(sandbox, "WhoAmI"), headers=headers).status_code == 401
    finally:
        sandbox.admin.shift_clock(-120)
    fresh = get_token(sandbox)
    sandbox.admin.revoke_tokens()
    assert (
        session.get(u(sandbox, "WhoAmI"), headers={"Authorization": f"Bearer {fresh}"}).status_code
        == 401
    )


def test_service_protection_requests_limit(sandbox):
    session = http_session(sandbox)
    session.headers["Authorization"] = f"Bearer {get_token(sandbox)}"
    sandbox.admin.reset_limit_usage()
    sandbox.admin.set_limits(requests=5)
    try:
        statuses = [session.get(u(sandbox, "WhoAmI")) for _ in range(6)]
        assert [r.status_code for r in statuses[:5]] == [200] * 5
        assert statuses[4].headers["x-ms-ratelimit-burst-remaining-xrm-requests"] == "0"
        throttled = statuses[5]
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) >= 1
        assert throttled.json()["error"] == {
            "code": "0x80072322",
            "message": "Number of requests exceeded the limit of 5 over time window of 300 "
            "seconds.",
        }
    finally:
        sandbox.admin.set_limits(requests=6000)
        sandbox.admin.reset_limit_usage()


def test_fault_injection(sandbox, api):
    sandbox.admin.inject_429(2, retry_after=7)
    first, second, third = (api.get(u(sandbox, "WhoAmI")) for _ in range(3))
    assert first.status_code == second.status_code == 429
    assert first.headers["Retry-After"] == "7"
    assert third.status_code == 200
    sandbox.admin.inject_503(1, path="^contacts")
    assert api.get(u(sandbox, "WhoAmI")).status_code == 200
    assert api.get(u(sandbox, "contacts?$top=1")).status_code == 503
    log = sandbox.admin.requests()
    assert log[-1]["status"] == 503
    assert log[-1]["app_id"] == sandbox.dataverse.client_id


def test_fault_rules_are_validated(sandbox):
    for rule in ({"kind": "418"}, {"kind": "429", "app": "entra"}):
        resp = http_session(sandbox).post(f"{sandbox.dataverse.admin_url}/faults", json=rule)
        assert resp.status_code == 400, rule
    assert sandbox.admin.faults() == []
