"""Logons (three modes), the tokens later calls carry, and re-logon on session expiry."""

from __future__ import annotations

import threading

import pytest
from campaign_client.client import CampaignAPIError
from campaign_client.soap import SessionExpiredError, SoapFaultError
from campaign_client.soap_session import PasswordLogonAuth, SoapSession

from tests.conftest import (
    EXPIRED_500,
    SOAP_URL,
    XSI_TYPE,
    FakeCampaign,
    envelope,
    fault,
    logon_reply,
    make_session,
    ok,
)

PING = ok("xtk:persist", "Ping", "<ok xsi:type='xsd:string'>pong</ok>")
PASSWORD = {"soap_auth": "login_password", "soap_login": "crm-sync", "soap_password": "pa55word!"}


def test_login_password_logs_on_once_then_sends_session_and_security_tokens(
    campaign: FakeCampaign,
) -> None:
    campaign.on("xtk:session#Logon", logon_reply("Logon", "___SESSION-1", "@SECURITY-1=="))
    campaign.on("xtk:persist#Ping", PING)
    session = make_session(**PASSWORD)
    assert session.call("xtk:persist", "Ping").value(0) == "pong"
    session.call("xtk:persist", "Ping")

    logon, ping, _ = campaign.sent
    assert logon.action == "xtk:session#Logon"
    assert logon.request.url == SOAP_URL + "?soapAction=xtk%3Asession%23Logon"
    assert logon.request.headers["Content-Type"] == "application/soap+xml;charset=UTF-8"
    assert logon.method.tag == "{urn:xtk:session}Logon"
    assert [(p.tag, p.text, p.get(XSI_TYPE)) for p in logon.params] == [
        ("sessiontoken", None, "xsd:string"),
        ("login", "crm-sync", "xsd:string"),
        ("password", "pa55word!", "xsd:string"),
        ("parameters", None, "ns:Element"),
    ]
    assert "Cookie" not in logon.request.headers
    assert "Authorization" not in logon.request.headers
    assert len(campaign.calls("xtk:session#Logon")) == 1

    assert ping.request.headers["X-Session-Token"] == "___SESSION-1"
    assert ping.request.headers["X-Security-Token"] == "@SECURITY-1=="
    assert ping.request.headers["Cookie"] == "__sessiontoken=___SESSION-1"
    assert ping.param("sessiontoken").text == "___SESSION-1"
    assert ping.request.url == SOAP_URL + "?soapAction=xtk%3Apersist%23Ping"


def test_bearer_logon_trades_the_ims_token_for_a_session(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#BearerTokenLogon", logon_reply("BearerTokenLogon", "S-9", "X-9"))
    campaign.on("xtk:persist#Ping", PING)
    make_session(soap_auth="bearer_logon").call("xtk:persist", "Ping")
    logon, ping = campaign.sent
    assert [(p.tag, p.text) for p in logon.params] == [
        ("sessiontoken", None),
        ("bearerToken", "ims-token-1"),
    ]
    assert "Authorization" not in logon.request.headers
    assert (ping.request.headers["X-Session-Token"], ping.request.headers["X-Security-Token"]) == (
        "S-9",
        "X-9",
    )
    assert "Authorization" not in ping.request.headers


def test_ims_bearer_sends_the_token_on_every_call_and_no_logon(campaign: FakeCampaign) -> None:
    campaign.on("xtk:persist#Ping", PING)
    session = make_session()  # soap_auth defaults to ims_bearer
    session.call("xtk:persist", "Ping")
    session.call("xtk:persist", "Ping")
    assert [s.action for s in campaign.sent] == ["xtk:persist#Ping"] * 2
    for sent in campaign.sent:
        assert sent.request.headers["Authorization"] == "Bearer ims-token-1"
        assert "X-Session-Token" not in sent.request.headers
        assert "Cookie" not in sent.request.headers
        assert sent.param("sessiontoken").text is None  # empty: "should be ignored"
    assert campaign.ims_tokens == 1


@pytest.mark.parametrize(
    "expired",
    [
        EXPIRED_500,
        (200, {}, envelope("session_expired.xml")),
        (500, {}, b"XSV-350008 Session has expired or is invalid. Please reconnect."),
    ],
    ids=["fault-http-500", "fault-http-200", "plain-500"],
)
def test_an_expired_session_logs_on_again_once_and_replays_the_call(
    campaign: FakeCampaign, expired: tuple[int, dict[str, str], bytes]
) -> None:
    campaign.on(
        "xtk:session#Logon",
        logon_reply("Logon", "S-1", "X-1"),
        logon_reply("Logon", "S-2", "X-2"),
    )
    campaign.on("xtk:queryDef#ExecuteQuery", expired, ok("xtk:queryDef", "ExecuteQuery"))
    make_session(**PASSWORD).call("xtk:queryDef", "ExecuteQuery")
    assert [s.action for s in campaign.sent] == [
        "xtk:session#Logon",
        "xtk:queryDef#ExecuteQuery",
        "xtk:session#Logon",
        "xtk:queryDef#ExecuteQuery",
    ]
    first, replay = campaign.calls("xtk:queryDef#ExecuteQuery")
    assert first.request.headers["X-Session-Token"] == "S-1"
    assert replay.request.headers["X-Session-Token"] == "S-2"
    assert replay.param("sessiontoken").text == "S-2"


def test_a_session_refused_twice_raises(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#Logon", logon_reply("Logon", "S", "X"))
    campaign.on("xtk:queryDef#ExecuteQuery", EXPIRED_500)
    with pytest.raises(SessionExpiredError) as raised:
        make_session(**PASSWORD).call("xtk:queryDef", "ExecuteQuery")
    assert raised.value.code == "XSV-350008"
    assert len(campaign.calls("xtk:session#Logon")) == 2


def test_ims_bearer_refused_drops_the_token_and_replays(campaign: FakeCampaign) -> None:
    campaign.on("xtk:persist#Ping", EXPIRED_500, PING)
    assert make_session().call("xtk:persist", "Ping").value(0) == "pong"
    first, replay = campaign.calls()
    assert first.request.headers["Authorization"] == "Bearer ims-token-1"
    assert replay.request.headers["Authorization"] == "Bearer ims-token-2"


def test_a_refused_logon_raises_its_fault_without_the_password(campaign: FakeCampaign) -> None:
    campaign.on(
        "xtk:session#Logon",
        fault(
            "Error while executing the method 'Logon' of service 'xtk:session'.",
            "XSV-350022 Invalid password for 'crm-sync' (pa55word!).",
        ),
    )
    session = make_session(**PASSWORD)
    with pytest.raises(SoapFaultError) as raised:
        session.call("xtk:persist", "Ping")
    assert raised.value.code == "XSV-350022"
    assert "pa55word!" not in str(raised.value)
    assert "pa55word!" not in repr(session.auth)
    assert [s.action for s in campaign.sent] == ["xtk:session#Logon"]  # never replayed


def test_a_logon_without_tokens_is_an_error(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#Logon", logon_reply("Logon", "", ""))
    with pytest.raises(CampaignAPIError, match="no session or security token"):
        make_session(**PASSWORD).call("xtk:persist", "Ping")


def test_threads_share_one_logon(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#Logon", logon_reply("Logon", "S", "X"))
    campaign.on("xtk:persist#Ping", PING)
    session = make_session(**PASSWORD)
    threads = [
        threading.Thread(target=session.call, args=("xtk:persist", "Ping")) for _ in range(6)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(campaign.calls("xtk:session#Logon")) == 1
    assert len(campaign.calls("xtk:persist#Ping")) == 6


def test_from_config_checks_the_mode() -> None:
    with pytest.raises(ValueError, match="soap_auth must be one of"):
        make_session(soap_auth="magic")
    session = SoapSession.from_config({**PASSWORD, "soap_url": SOAP_URL})
    assert isinstance(session.auth, PasswordLogonAuth)
    assert session.transport.url == SOAP_URL
