"""v8 SOAP router: the three logons, session expiry and re-logon, Logoff, TPS limit, request log."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from crm_sandbox.campaign.config import OPERATOR_LOGIN, OPERATOR_PASSWORD
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import serve_campaign
from .v8client import SoapClient, SoapError

COUNT = "<queryDef schema='nms:recipient' operation='count'/>"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(12, projects=2), seed=5)


def expired(client: SoapClient) -> SoapError:
    with pytest.raises(SoapError) as info:
        client.query(COUNT)
    assert info.value.status == 500
    assert info.value.string == "XSV-350008 Session has expired or is invalid. Please reconnect."
    return info.value


def test_logon_with_login_and_password(campaign):
    client = SoapClient(campaign)
    info = client.logon(OPERATOR_LOGIN, OPERATOR_PASSWORD)
    assert info.tag == "sessionInfo"
    assert info.find("userInfo").get("login") == OPERATOR_LOGIN
    assert info.find("serverInfo").get("sessionTimeOut") == "86400"
    assert client.session_token.startswith("___")
    assert client.security_token
    assert client.query(COUNT).get("count") == "12"


def test_session_needs_both_tokens(campaign):
    client = SoapClient(campaign)
    client.logon(OPERATOR_LOGIN, OPERATOR_PASSWORD)
    security = client.security_token
    client.security_token = "@forged"
    expired(client)
    client.security_token, client.session_token = security, "___nope"
    expired(client)


def test_wrong_password_and_no_credentials(campaign):
    with pytest.raises(SoapError) as info:
        SoapClient(campaign).logon(OPERATOR_LOGIN, "wrong")
    assert info.value.status == 500
    assert info.value.string.startswith("XSV-350022")
    expired(SoapClient(campaign))


def test_bearer_token_logon(campaign):
    client = SoapClient(campaign)
    info = client.bearer_logon(campaign.token())
    assert info.find("userInfo").get("login").endswith("@techacct.adobe.com")
    assert client.query(COUNT).get("count") == "12"
    with pytest.raises(SoapError) as bad:
        SoapClient(campaign).bearer_logon("not-a-token")
    assert bad.value.string.startswith("XSV-350008")
    other = campaign.token("campaign-other-client", "sandbox-other-secret")
    with pytest.raises(SoapError):
        SoapClient(campaign).bearer_logon(other)


def test_ims_bearer_on_every_call(campaign):
    client = SoapClient(campaign, bearer=campaign.token())
    assert client.query(COUNT).get("count") == "12"
    expired(SoapClient(campaign, bearer="garbage"))


def test_sessions_expire_and_logging_on_again_works(campaign):
    client = SoapClient(campaign)
    client.logon(OPERATOR_LOGIN, OPERATOR_PASSWORD)
    campaign.admin.set_config(session_lifetime=60)
    try:
        fresh = SoapClient(campaign)
        fresh.logon(OPERATOR_LOGIN, OPERATOR_PASSWORD)
        assert (
            fresh.logon(OPERATOR_LOGIN, OPERATOR_PASSWORD).find("serverInfo").get("sessionTimeOut")
            == "60"
        )
        campaign.admin.shift_clock(61)
        expired(fresh)
        client.query(COUNT)  # opened with the 24 h lifetime: still alive
        fresh.logon(OPERATOR_LOGIN, OPERATOR_PASSWORD)
        assert fresh.query(COUNT).get("count") == "12"
    finally:
        campaign.admin.set_config(session_lifetime=86400)
    campaign.admin.expire_sessions()
    expired(client)


def test_logoff_ends_the_session(campaign):
    client = SoapClient(campaign)
    client.logon(OPERATOR_LOGIN, OPERATOR_PASSWORD)
    (user,) = client.call("xtk:session", "GetUserInfo")
    assert user[0].get("login") == OPERATOR_LOGIN
    assert client.call("xtk:session", "Logoff") == []
    expired(client)


def test_unknown_method_and_missing_action(campaign):
    client = SoapClient(campaign, bearer=campaign.token())
    with pytest.raises(SoapError) as info:
        client.call("xtk:session", "GetOption", "<name xsi:type='xsd:string'>x</name>")
    assert info.value.code == "SOAP-ENV:Client"
    assert info.value.string == (
        "SOP-330006 The method 'GetOption' is not defined in SOAP service 'xtk:session'."
    )
    resp = client.http.post(client.url, data=b"<x/>", timeout=30)
    assert resp.status_code == 500
    assert b"SOAPAction" in resp.content


def test_tps_limit_and_request_log(campaign):
    client = SoapClient(campaign, bearer=campaign.token())
    campaign.admin.clear_requests()
    campaign.admin.set_config(soap_tps_limit=2)
    try:
        statuses = [client.post("xtk:queryDef", "ExecuteQuery").status_code for _ in range(6)]
    finally:
        campaign.admin.set_config(soap_tps_limit=0)
        campaign.admin.clear_faults()
    assert 429 in statuses
    throttled = client.post("xtk:queryDef", "ExecuteQuery")
    assert throttled.status_code == 500  # limit off again: a fault (no queryDef), not a 429
    log = campaign.admin.requests()
    assert {r["soap_action"] for r in log} == {"xtk:queryDef#ExecuteQuery"}
    assert {r["status"] for r in log} == {429, 500}
    assert log[0]["client_id"] == "campaign-sandbox-client"
