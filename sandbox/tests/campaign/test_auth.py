"""Adobe IMS and the gateway checks, faults and the request log, over real TLS."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import requests
from crm_sandbox.campaign.config import (
    CLIENT_ID,
    CLIENT_SECRET,
    OTHER_CLIENT_ID,
    OTHER_CLIENT_SECRET,
    SCOPE,
)
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import serve_campaign


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(60))


@pytest.fixture(autouse=True)
def _reset_controls(campaign: RunningCampaign) -> Iterator[None]:
    """Each test leaves no faults, default token lifetime and TPS, and an unshifted clock."""
    yield
    campaign.admin.clear_faults()
    campaign.admin.set_config(token_lifetime=86399, tps_limit=0)
    campaign.admin.shift_clock(-campaign.admin.clock()["offset"])


def token_request(campaign: RunningCampaign, **overrides: str | None) -> requests.Response:
    form = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": SCOPE,
        **overrides,
    }
    data = {k: v for k, v in form.items() if v is not None}
    return requests.post(campaign.info["token_url"], data=data, verify=campaign.info["ca_file"])


def profiles_url(campaign: RunningCampaign, org: str = "sandbox-org") -> str:
    return f"{campaign.info['gateway_url']}/{org}/campaign/profileAndServices/profile"


def get(campaign: RunningCampaign, url: str, token: str | None, key: str | None):
    headers = {"Cache-Control": "no-cache"}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if key is not None:
        headers["X-Api-Key"] = key
    return requests.get(url, headers=headers, verify=campaign.info["ca_file"])


def test_token_over_tls_with_plain_requests_and_the_ca_file(campaign):
    resp = token_request(campaign)
    assert resp.status_code == 200
    body = resp.json()
    assert set(body) == {"access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 86399
    listed = get(campaign, profiles_url(campaign), body["access_token"], CLIENT_ID)
    assert listed.status_code == 200
    assert listed.headers["content-type"].startswith("application/json")


def test_token_parameters_in_the_query_string(campaign):
    params = {
        "grant_type": "client_credentials",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": SCOPE,
    }
    resp = requests.post(campaign.info["token_url"], params=params, verify=campaign.info["ca_file"])
    assert resp.status_code == 200


def test_untrusted_without_the_ca_file(campaign):
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(campaign.info["token_url"], data={}, verify=True)


@pytest.mark.parametrize(
    ("overrides", "error", "description"),
    [
        ({"client_id": "nobody"}, "invalid_client", "invalid client_id parameter"),
        ({"client_id": None}, "invalid_client", "invalid client_id parameter"),
        ({"client_secret": "wrong"}, "invalid_client", "invalid client_secret parameter"),
        ({"grant_type": "password"}, "unsupported_grant_type", None),
        ({"grant_type": None}, "invalid_request", None),
        ({"scope": None}, "invalid_scope", None),
        ({"scope": "openid,AdobeID,not_a_scope"}, "invalid_scope", None),
    ],
)
def test_token_errors_are_oauth_shaped(campaign, overrides, error, description):
    resp = token_request(campaign, **overrides)
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == error
    assert body["error_description"]
    if description:
        assert body["error_description"] == description


def test_subset_and_superset_of_the_default_scopes(campaign):
    extra = SCOPE + ",read_organizations,campaign_config_server_general"
    assert token_request(campaign, scope=extra).status_code == 200
    assert token_request(campaign, scope="openid AdobeID campaign_sdk").status_code == 200


def test_configurable_lifetime_and_expiry(campaign):
    campaign.admin.set_config(token_lifetime=60)
    token = token_request(campaign).json()
    assert token["expires_in"] == 60
    url = profiles_url(campaign)
    assert get(campaign, url, token["access_token"], CLIENT_ID).status_code == 200
    campaign.admin.shift_clock(61)
    resp = get(campaign, url, token["access_token"], CLIENT_ID)
    assert resp.status_code == 401
    assert resp.json() == {"error_code": "401013", "message": "Oauth token is not valid"}


def test_revoked_tokens_are_rejected(campaign):
    token = token_request(campaign).json()["access_token"]
    campaign.admin.revoke_tokens()
    resp = get(campaign, profiles_url(campaign), token, CLIENT_ID)
    assert resp.status_code == 401
    assert resp.json()["error_code"] == "401013"
    fresh = token_request(campaign).json()["access_token"]
    assert get(campaign, profiles_url(campaign), fresh, CLIENT_ID).status_code == 200


@pytest.mark.parametrize("token", [None, "", "not-a-token", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_missing_or_invalid_token_is_401013(campaign, token):
    resp = get(campaign, profiles_url(campaign), token, CLIENT_ID)
    assert resp.status_code == 401
    assert resp.json() == {"error_code": "401013", "message": "Oauth token is not valid"}


def test_api_key_checks(campaign):
    token = token_request(campaign).json()["access_token"]
    missing = get(campaign, profiles_url(campaign), token, None)
    assert missing.status_code == 403
    assert missing.json() == {"error_code": "403000", "message": "Api Key is required"}
    unknown = get(campaign, profiles_url(campaign), token, "some-other-key")
    assert unknown.status_code == 403
    assert unknown.json() == {"error_code": "403003", "message": "Api Key is invalid"}
    # A valid key of another credential does not match the token's client.
    mismatch = get(campaign, profiles_url(campaign), token, OTHER_CLIENT_ID)
    assert mismatch.status_code == 403
    assert mismatch.json()["error_code"] == "403003"


def test_token_of_another_organization_is_403023(campaign):
    other = token_request(
        campaign, client_id=OTHER_CLIENT_ID, client_secret=OTHER_CLIENT_SECRET
    ).json()["access_token"]
    resp = get(campaign, profiles_url(campaign), other, OTHER_CLIENT_ID)
    assert resp.status_code == 403
    assert resp.json() == {"error_code": "403023", "message": "Profile is not valid"}


def test_token_without_campaign_product_context_is_403023(campaign):
    token = token_request(campaign, scope="openid,AdobeID").json()["access_token"]
    resp = get(campaign, profiles_url(campaign), token, CLIENT_ID)
    assert resp.status_code == 403
    assert resp.json()["error_code"] == "403023"


def test_unknown_organization_is_oops(campaign):
    token = token_request(campaign).json()["access_token"]
    resp = get(campaign, profiles_url(campaign, "no-such-org"), token, CLIENT_ID)
    assert resp.status_code == 500
    assert resp.json() == {
        "code": 500,
        "message": "Oops. Something went wrong. Check your URI and try again.",
    }


def test_ims_profile_carries_the_product_context(campaign):
    token = token_request(campaign).json()["access_token"]
    resp = requests.get(
        f"{campaign.info['ims_url']}/ims/profile/v1",
        headers={"Authorization": f"Bearer {token}"},
        verify=campaign.info["ca_file"],
    )
    assert resp.status_code == 200
    contexts = resp.json()["projectedProductContext"]
    assert contexts[0]["prodCtx"]["organization_id"] == "sandbox-org"
    assert contexts[0]["prodCtx"]["serviceCode"] == "dma_tartan"


def test_429_fault_has_adobe_gateway_shape_and_retry_after(campaign):
    api = campaign.api_session()
    campaign.admin.inject_429(2, retry_after=3)
    for _ in range(2):
        resp = api.get(profiles_url(campaign))
        assert resp.status_code == 429
        assert resp.json() == {"error_code": "429050", "message": "Too many requests"}
        assert resp.headers["Retry-After"] == "3"
    assert api.get(profiles_url(campaign)).status_code == 200


def test_429_without_retry_after(campaign):
    campaign.admin.inject_429(1, retry_after=0)
    resp = campaign.api_session().get(profiles_url(campaign))
    assert resp.status_code == 429
    assert "Retry-After" not in resp.headers


@pytest.mark.parametrize("status", [502, 503])
def test_5xx_faults(campaign, status):
    api = campaign.api_session()
    campaign.admin.inject_5xx(status, 1, path="/profile")
    resp = api.get(profiles_url(campaign))
    assert resp.status_code == status
    assert resp.json()["code"] == status
    assert api.get(profiles_url(campaign)).status_code == 200


def test_latency_and_ims_faults(campaign):
    campaign.admin.add_latency(150, count=1)
    api = campaign.api_session()
    resp = api.get(profiles_url(campaign))
    assert resp.status_code == 200
    assert resp.elapsed.total_seconds() >= 0.15
    campaign.admin.add_fault("503", app="ims")
    assert token_request(campaign).status_code == 503
    assert token_request(campaign).status_code == 200


def test_tps_limit(campaign):
    api = campaign.api_session()
    campaign.admin.set_config(tps_limit=2)
    statuses = [api.get(profiles_url(campaign) + "?_lineCount=1").status_code for _ in range(4)]
    assert statuses[:2] == [200, 200]
    assert 429 in statuses[2:]


def test_request_log(campaign):
    api = campaign.api_session()
    campaign.admin.clear_requests()
    api.get(profiles_url(campaign) + "?_lineCount=3")
    log = campaign.admin.requests()
    assert [(r["app"], r["method"], r["status"]) for r in log] == [("gateway", "GET", 200)]
    assert log[0]["query"] == "_lineCount=3"
    assert log[0]["client_id"] == CLIENT_ID


def test_admin_reset_reseeds_and_zeroes_engine_calls(campaign):
    api = campaign.api_session()
    api.post(profiles_url(campaign), json={"email": "x@example.com"})
    assert campaign.admin.engine_calls()["total"] == 1
    assert campaign.admin.reset(profiles=80, seed=9) == {
        "profile": 80,
        "service": 3,
        "cusProject": 20,
        "cusProjectTask": 40,
    }
    state = campaign.admin.state()
    assert state["counts"] == {"profile": 80, "service": 3, "cusProject": 20, "cusProjectTask": 40}
    assert state["engine_calls"]["total"] == 0
    listed = api.get(profiles_url(campaign) + "/_count").json()
    assert listed == {"count": 80}
