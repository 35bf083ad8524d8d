"""The SOAP layer: envelopes as acc-js-sdk builds them, responses, faults, retries."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import requests
import responses
from campaign_client.client import (
    AccessDeniedError,
    AmbiguousWriteError,
    CampaignAPIError,
    RetriableCampaignError,
)
from campaign_client.soap import (
    APACHE_SOAP,
    LITERAL_XML,
    SOAP_ENCODING,
    SOAP_ENV,
    Param,
    SessionExpiredError,
    SoapFaultError,
    SoapTransport,
    Tokens,
    build_envelope,
    read_response,
)
from sync_support.retry import TimeBudgetRetry

from tests.conftest import (
    EXPIRED_500,
    SOAP_URL,
    XSI_TYPE,
    FakeCampaign,
    envelope,
    fault,
    make_session,
    ok,
)


def response(status: int, body: bytes, url: str = SOAP_URL) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer._content = body
    answer.url = url
    answer.reason = "reason"
    return answer


# --- envelopes ------------------------------------------------------------------------------


def test_envelope_is_the_sdks_with_tokens_in_header_and_first_parameter() -> None:
    doc = ET.Element("recipient", {"xtkschema": "nms:recipient", "email": "a&b@example.com"})
    body = build_envelope(
        "xtk:session",
        "Write",
        [Param.document("doc", doc), Param.string("note", "<x> & 'y'"), Param.boolean("b", True)],
        Tokens("sess-1", "sec-1"),
    )
    text = body.decode()
    assert text.startswith("<?xml version='1.0' encoding='UTF-8'?><SOAP-ENV:Envelope ")
    assert f'xmlns:ns="{APACHE_SOAP}"' in text
    assert '<m:Write xmlns:m="urn:xtk:session"' in text
    root = ET.fromstring(body)
    header = root.find(f"{{{SOAP_ENV}}}Header")
    assert header is not None
    assert [(h.tag, h.text) for h in header] == [
        ("Cookie", "__sessiontoken=sess-1"),
        ("X-Security-Token", "sec-1"),
    ]
    method = root.find(f"{{{SOAP_ENV}}}Body/{{urn:xtk:session}}Write")
    assert method is not None
    assert method.get(f"{{{SOAP_ENV}}}encodingStyle") == SOAP_ENCODING
    params = list(method)
    # unqualified parameters, the session token first
    assert [p.tag for p in params] == ["sessiontoken", "doc", "note", "b"]
    assert (params[0].get(XSI_TYPE), params[0].text) == ("xsd:string", "sess-1")
    assert params[1].get(XSI_TYPE) == ""  # a DOM document, as the SDK's writeDocument
    assert params[1].get(f"{{{SOAP_ENV}}}encodingStyle") == LITERAL_XML
    assert params[1][0].attrib == {"xtkschema": "nms:recipient", "email": "a&b@example.com"}
    assert (params[2].get(XSI_TYPE), params[2].text) == ("xsd:string", "<x> & 'y'")
    assert params[2].get(f"{{{SOAP_ENV}}}encodingStyle") is None
    assert (params[3].get(XSI_TYPE), params[3].text) == ("xsd:boolean", "true")


def test_envelope_without_session_has_an_empty_token_and_no_cookie() -> None:
    root = ET.fromstring(build_envelope("xtk:persist", "X", [Param.element("e", None)], Tokens()))
    header = root.find(f"{{{SOAP_ENV}}}Header")
    assert header is not None
    assert [(h.tag, h.text) for h in header] == [("X-Security-Token", None)]
    method = root.find(f"{{{SOAP_ENV}}}Body/{{urn:xtk:persist}}X")
    assert method is not None
    assert [(p.tag, p.text, p.get(XSI_TYPE)) for p in method] == [
        ("sessiontoken", None, "xsd:string"),
        ("e", None, "ns:Element"),
    ]


def test_token_headers() -> None:
    assert Tokens("s", "x").headers() == {
        "X-Security-Token": "x",
        "X-Session-Token": "s",
        "Cookie": "__sessiontoken=s",
    }
    assert Tokens().headers() == {"X-Security-Token": "", "X-Session-Token": ""}
    assert Tokens(bearer="ims").headers() == {}  # the session's auth sends the bearer
    assert "secret" not in repr(Tokens("secret-session", "secret-security", "secret-bearer"))


# --- responses ------------------------------------------------------------------------------


def test_outputs_are_read_in_order_and_cast_by_xsi_type() -> None:
    outputs = (
        "<a xsi:type='xsd:string'>text</a><b xsi:type='xsd:int'>42</b>"
        "<c xsi:type='xsd:boolean'>true</c><d xsi:type='xsd:double'>1.5</d>"
        "<e xsi:type='ns:Element'><doc x='1'/></e><f xsi:type='ns:Element'/>"
    )
    _, _, body = ok("xtk:session", "Test", outputs)
    result = read_response(response(200, body), "xtk:session#Test")
    assert [result.value(i) for i in range(4)] == ["text", 42, True, 1.5]
    doc = result.element(4)
    assert doc is not None
    assert doc.attrib == {"x": "1"}
    assert result.element(5) is None
    with pytest.raises(CampaignAPIError, match="no output parameter 7"):
        result.value(6)


def test_a_non_static_methods_entity_is_set_apart() -> None:
    outputs = (
        "<entity xsi:type='ns:Element'><queryDef/></entity>"
        "<pdomOutput xsi:type='ns:Element'><x-collection/></pdomOutput>"
    )
    _, _, body = ok("xtk:queryDef", "ExecuteQuery", outputs)
    result = read_response(response(200, body), "xtk:queryDef#ExecuteQuery")
    assert result.entity is not None
    assert result.entity.tag == "queryDef"
    output = result.element(0)
    assert output is not None
    assert output.tag == "x-collection"


def test_fault_carries_campaigns_code_faultstring_and_detail() -> None:
    _, _, body = fault(
        "Error while executing the method 'WriteCollection' of service 'xtk:session'.",
        "PGS-220000 PostgreSQL error: ERROR: duplicate key value violates unique constraint "
        "Impossible to save document of type 'Recipients (nms:recipient)'",
    )
    with pytest.raises(SoapFaultError) as raised:
        read_response(response(500, body), "xtk:session#WriteCollection")
    error = raised.value
    assert type(error) is SoapFaultError
    assert (error.status, error.code, error.faultcode) == (500, "PGS-220000", "SOAP-ENV:Server")
    assert error.faultstring.startswith("Error while executing the method 'WriteCollection'")
    assert "duplicate key" in error.detail
    assert "(POST /nl/jsp/soaprouter.jsp (xtk:session#WriteCollection))" in str(error)


def test_a_code_in_the_faultstring_comes_first() -> None:
    _, _, body = fault("XSV-350013 The IP address is not allowed.", "SOP-330011 more")
    with pytest.raises(SoapFaultError) as raised:
        read_response(response(500, body), "xtk:session#Logon")
    assert raised.value.code == "XSV-350013"


def test_a_fault_without_a_campaign_code_keeps_the_soap_faultcode() -> None:
    _, _, body = fault("Invalid parameter", "", faultcode="SOAP-ENV:Client")
    with pytest.raises(SoapFaultError) as raised:
        read_response(response(500, body), "xtk:session#Write")
    assert raised.value.code == "SOAP-ENV:Client"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        EXPIRED_500[::2],  # fault over HTTP 500, code in the detail
        (200, envelope("session_expired.xml")),  # the same fault over HTTP 200
        (500, b"XSV-350008 Session has expired or is invalid. Please reconnect."),  # plain 500
        fault(  # acc-js-sdk #108: an IMS 401 wrapped in a 500 fault
            "SOP-330007 Error while reading parameters of method 'GetEntityIfMoreRecent'.",
            "XSV-350114 Unknown error during '/ims/profile/v1' IMS call, HTTP response code is 401",
        )[::2],
    ],
)
def test_session_expiry_is_recognised_in_every_shape(status: int, body: bytes) -> None:
    with pytest.raises(SessionExpiredError):
        read_response(response(status, body), "xtk:queryDef#ExecuteQuery")


def test_secrets_are_masked_in_errors() -> None:
    _, _, body = fault("Logon failed for 's3cr3t-pass'", "token tok-123 refused")
    with pytest.raises(SoapFaultError) as raised:
        read_response(response(500, body), "xtk:session#Logon", ["s3cr3t-pass", "tok-123"])
    assert "s3cr3t-pass" not in str(raised.value)
    assert "tok-123" not in str(raised.value)
    assert "***" in raised.value.detail


def test_a_gateway_403_is_access_denied_and_other_errors_are_typed() -> None:
    gateway = b'{"error_code":"403023","message":"Profile is not valid"}'
    with pytest.raises(AccessDeniedError, match="product context"):
        read_response(response(403, gateway), "xtk:session#Write")
    with pytest.raises(CampaignAPIError, match="not a SOAP response"):
        read_response(response(200, b"<html>"), "xtk:session#Write")
    with pytest.raises(CampaignAPIError, match="DTD"):
        read_response(response(200, b'<!DOCTYPE x [<!ENTITY a "a">]><x>&a;</x>'), "a#B")
    _, _, empty = ok("xtk:session", "Other")
    with pytest.raises(CampaignAPIError, match="500"):
        read_response(response(500, empty), "xtk:session#Other")


# --- transport: retries ---------------------------------------------------------------------


def test_throttling_waits_retry_after_then_succeeds(
    campaign: FakeCampaign, sleeps: list[float]
) -> None:
    campaign.on(
        "xtk:persist#Ping",
        (429, {"Retry-After": "7"}, b"Too many requests"),
        (503, {}, b"busy"),
        ok("xtk:persist", "Ping", "<ok xsi:type='xsd:string'>yes</ok>"),
    )
    session = make_session()
    assert session.call("xtk:persist", "Ping").value(0) == "yes"
    assert len(campaign.calls("xtk:persist#Ping")) == 3
    assert sleeps[0] == 7.0  # Retry-After honoured as given
    assert len(sleeps) == 2
    assert session.calls.retries == 2


def test_retries_run_out_with_the_last_error(campaign: FakeCampaign) -> None:
    campaign.on("xtk:persist#Ping", (502, {}, b"bad gateway"))
    with pytest.raises(RetriableCampaignError, match="502"):
        make_session(max_retries=2).call("xtk:persist", "Ping")
    assert len(campaign.calls()) == 3


def test_a_fault_is_not_retried(campaign: FakeCampaign) -> None:
    campaign.on("xtk:session#Write", fault("Error", "XTK-170036 Unable to parse expression"))
    with pytest.raises(SoapFaultError, match="XTK-170036"):
        make_session().call("xtk:session", "Write")
    assert len(campaign.calls()) == 1


def transport(retries: int) -> SoapTransport:
    return SoapTransport(
        requests.Session(),
        SOAP_URL,
        retry=TimeBudgetRetry(max_retries=retries, base=0, cap=0),
        timeout=5,
    )


@responses.activate
def test_an_insert_is_not_resent_after_an_ambiguous_failure() -> None:
    responses.add(responses.POST, SOAP_URL, status=504)
    with pytest.raises(AmbiguousWriteError, match="outcome unknown"):
        transport(3).post("xtk:session#Write", b"<x/>", idempotent=False)
    assert len(responses.calls) == 1


@responses.activate
def test_an_insert_is_resent_after_throttling() -> None:
    responses.add(responses.POST, SOAP_URL, status=429, headers={"Retry-After": "0"})
    _, _, body = ok("xtk:session", "Write")
    responses.add(responses.POST, SOAP_URL, body=body)
    transport(3).post("xtk:session#Write", b"<x/>", idempotent=False)
    assert len(responses.calls) == 2


@responses.activate
def test_url_and_headers_are_the_sdks_or_the_legacy_ones() -> None:
    _, _, body = ok("xtk:queryDef", "ExecuteQuery")
    responses.add(responses.POST, SOAP_URL, body=body)
    transport(0).post("xtk:queryDef#ExecuteQuery", b"<x/>")
    request = responses.calls[0].request
    assert request.url == SOAP_URL + "?soapAction=xtk%3AqueryDef%23ExecuteQuery"
    assert request.headers["Content-Type"] == "application/soap+xml;charset=UTF-8"
    assert request.headers["SoapAction"] == "xtk:queryDef#ExecuteQuery"
    legacy = SoapTransport(
        requests.Session(),
        SOAP_URL,
        retry=TimeBudgetRetry(max_retries=0),
        timeout=5,
        headers={"Content-Type": "text/xml; charset=utf-8"},
        method_in_url=False,
    )
    legacy.post("xtk:queryDef#ExecuteQuery", b"<x/>")
    assert responses.calls[1].request.url == SOAP_URL
    assert responses.calls[1].request.headers["Content-Type"] == "text/xml; charset=utf-8"
