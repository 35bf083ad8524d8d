"""Campaign Classic/v8 SOAP client (`classic.py`): enumeration read, write, replace/add-missing.

Unit tests answer through a fake transport; the last tests run against the sandbox's SOAP
router (`/nl/jsp/soaprouter.jsp`) and its REST validation of enumeration fields.
"""

from __future__ import annotations

import typing as t
import xml.etree.ElementTree as ET

import pytest
import requests
from campaign_client.classic import (
    SOAP_PATH,
    ClassicClient,
    Enumeration,
    EnumValue,
    EnumWrite,
    SoapFaultError,
    match,
    parse_xml,
    plan_write,
)
from campaign_client.client import (
    AccessDeniedError,
    CampaignClient,
    RecordRefusedError,
    RetriableCampaignError,
)
from crm_sandbox.campaign.inprocess import RunningCampaign

from tests.conftest import connection
from tests.fakes import FakeAdapter
from tests.journal_fakes import install

if t.TYPE_CHECKING:
    from collections.abc import Iterator

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
GENDER = Enumeration(
    "nms:recipient:gender",
    "Gender",
    "byte",
    (
        EnumValue("unknown", "Unspecified", "0"),
        EnumValue("male", "Male", "1"),
        EnumValue("female", "Female", "2"),
    ),
)


def soap(content: str) -> bytes:
    return (
        "<?xml version='1.0'?><SOAP-ENV:Envelope xmlns:SOAP-ENV='" + ENV + "' "
        "xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xmlns:ns='urn:xtk:queryDef'>"
        f"<SOAP-ENV:Body>{content}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    ).encode()


QUERY_REPLY = soap(
    "<ExecuteQueryResponse xmlns='urn:xtk:queryDef'><pdomOutput xsi:type='ns:Element'>"
    "<enum-collection><enum name='nms:recipient:gender' label='Gender' basetype='byte'>"
    "<value name='unknown' label='Unspecified' value='0' enabled='1'/>"
    "<value name='male' label='Male' value='1' enabled='1'/>"
    "<value name='female' label='Female' value='2' enabled='1'/>"
    "<value name='old' label='Old' value='9' enabled='0'/>"
    "</enum></enum-collection></pdomOutput></ExecuteQueryResponse>"
)
FAULT = soap(
    "<SOAP-ENV:Fault><faultcode>SOAP-ENV:Server</faultcode><faultstring>Error while executing "
    "the method 'Write' of service 'xtk:session'.</faultstring><detail>Invalid value name "
    "'' in enumeration 'cus:x'.</detail></SOAP-ENV:Fault>"
)


def fake_client(*replies: tuple[int, dict[str, str], bytes]) -> tuple[ClassicClient, FakeAdapter]:
    rest = CampaignClient(
        organization="org",
        client_id="id",
        client_secret="secret",
        ims_url="https://ims.test",
        api_base_url="https://api.test",
        max_retries=2,
    )
    rest.retry = type(rest.retry)(max_retries=2, base=0.0, cap=0.0)
    adapter = FakeAdapter()
    adapter.route(SOAP_PATH, *replies)
    install(adapter, rest)
    client = ClassicClient.from_config({"api_base_url": "https://api.test"}, rest)
    return client, adapter


def sent_xml(adapter: FakeAdapter, index: int = -1) -> ET.Element:
    soap_calls = [r for r in adapter.sent if (r.url or "").endswith(SOAP_PATH)]
    return ET.fromstring(soap_calls[index].body or b"")


# --- planning (pure) ----------------------------------------------------------------------


def test_add_missing_adds_only_values_matching_nothing() -> None:
    wanted = Enumeration(
        GENDER.name,
        values=(
            EnumValue("1", "Male", "1"),  # same stored value as male: matches
            EnumValue("female", "Woman", "7"),  # same name as female: matches
            EnumValue("diverse", "Diverse", "3"),  # new
        ),
    )
    planned = plan_write(GENDER, wanted, replace=False)
    assert planned is not None
    assert not planned.replace
    assert planned.values == (EnumValue("diverse", "Diverse", "3"),)
    assert planned.result(GENDER).by_name("diverse") is not None
    assert [v.name for v in planned.result(GENDER).values] == [
        "unknown",
        "male",
        "female",
        "diverse",
    ]


def test_nothing_to_write_when_unchanged() -> None:
    assert plan_write(GENDER, GENDER, replace=True) is None
    assert (
        plan_write(GENDER, Enumeration(GENDER.name, values=GENDER.values[1:]), replace=False)
        is None
    )


def test_replace_writes_the_exact_list_when_anything_differs() -> None:
    wanted = Enumeration(GENDER.name, values=GENDER.values[1:])  # "unknown" goes
    planned = plan_write(GENDER, wanted, replace=True)
    assert planned is not None
    assert planned.replace
    assert planned.result(GENDER).values == GENDER.values[1:]
    relabelled = Enumeration(
        GENDER.name, values=(*GENDER.values[:2], EnumValue("female", "F", "2"))
    )
    assert plan_write(GENDER, relabelled, replace=True) is not None


def test_a_missing_enumeration_is_created_whole() -> None:
    wanted = Enumeration("cus:lead", "Lead", "long", (EnumValue("hot", "Hot", "100000000"),))
    planned = plan_write(None, wanted, replace=False)
    assert planned is not None
    assert (planned.name, planned.basetype, planned.replace) == ("cus:lead", "long", True)


def test_match_prefers_the_stored_value_then_the_name() -> None:
    assert match(GENDER, "2", "male") == GENDER.values[2]
    assert match(GENDER, "42", "male") == GENDER.values[1]
    assert match(GENDER, "42", "nope") is None


# --- wire format --------------------------------------------------------------------------


def test_read_sends_execute_query_with_bearer_token_and_parses_values() -> None:
    client, adapter = fake_client((200, {}, QUERY_REPLY))
    enum = client.read_enumeration("nms:recipient:gender")
    assert enum is not None
    assert enum.basetype == "byte"
    assert enum.numeric
    assert [(v.name, v.value, v.enabled) for v in enum.values] == [
        ("unknown", "0", True),
        ("male", "1", True),
        ("female", "2", True),
        ("old", "9", False),
    ]
    request = next(r for r in adapter.sent if (r.url or "").endswith(SOAP_PATH))
    assert request.url == "https://api.test" + SOAP_PATH
    assert request.headers["SOAPAction"] == "xtk:queryDef#ExecuteQuery"
    assert request.headers["Authorization"] == "Bearer tok"
    assert request.headers["Content-Type"].startswith("text/xml")
    call = sent_xml(adapter)
    query = call.find(
        f"{{{ENV}}}Body/{{urn:xtk:queryDef}}ExecuteQuery/{{urn:xtk:queryDef}}entity/queryDef"
    )
    assert query is not None
    assert query.get("schema") == "xtk:enum"
    condition = query.find("where/condition")
    assert condition is not None
    assert condition.get("expr") == "@name = 'nms:recipient:gender'"


def test_read_of_a_missing_enumeration_is_none() -> None:
    empty = soap(
        "<ExecuteQueryResponse xmlns='urn:xtk:queryDef'><pdomOutput><enum-collection/>"
        "</pdomOutput></ExecuteQueryResponse>"
    )
    client, _ = fake_client((200, {}, empty))
    assert client.read_enumeration("cus:none") is None


@pytest.mark.parametrize("replace", [True, False])
def test_write_sends_one_enum_document(replace: bool) -> None:
    client, adapter = fake_client((200, {}, soap("<WriteResponse xmlns='urn:xtk:session'/>")))
    values = (
        EnumValue("hot", "Hot & cold", "100000000"),
        EnumValue("cold", "Cold", "100000001", False),
    )
    client.write(EnumWrite("cus:lead", "Lead", "long", values, replace=replace))
    request = next(r for r in adapter.sent if (r.url or "").endswith(SOAP_PATH))
    assert request.headers["SOAPAction"] == "xtk:session#Write"
    doc = sent_xml(adapter).find(
        f"{{{ENV}}}Body/{{urn:xtk:session}}Write/{{urn:xtk:session}}domDoc/enum"
    )
    assert doc is not None
    assert (doc.get("xtkschema"), doc.get("_key"), doc.get("name"), doc.get("basetype")) == (
        "xtk:enum",
        "@name",
        "cus:lead",
        "long",
    )
    sent_values = doc.findall("value")
    assert [
        (v.get("name"), v.get("label"), v.get("value"), v.get("enabled")) for v in sent_values
    ] == [
        ("hot", "Hot & cold", "100000000", "true"),
        ("cold", "Cold", "100000001", "false"),
    ]
    # Replace = Yes: the collection is replaced (no _operation); otherwise merged value by value
    assert {v.get("_operation") for v in sent_values} == ({None} if replace else {"insertOrUpdate"})


def test_a_soap_fault_is_raised_with_its_detail() -> None:
    client, _ = fake_client((500, {}, FAULT))
    with pytest.raises(SoapFaultError, match="Invalid value name") as raised:
        client.write(EnumWrite("cus:x", "X", "string", (EnumValue("", "", ""),), replace=True))
    assert raised.value.code == "SOAP-ENV:Server"


def test_throttling_is_retried_then_succeeds() -> None:
    client, adapter = fake_client(
        (429, {"Retry-After": "0"}, b'{"error_code":"429050","message":"Too many requests"}'),
        (200, {}, QUERY_REPLY),
    )
    assert client.read_enumeration("nms:recipient:gender") is not None
    assert len([r for r in adapter.sent if (r.url or "").endswith(SOAP_PATH)]) == 2


def test_retries_run_out() -> None:
    client, _ = fake_client((503, {}, b"busy"))
    with pytest.raises(RetriableCampaignError):
        client.read_enumeration("nms:recipient:gender")


def test_forbidden_is_access_denied() -> None:
    client, _ = fake_client((403, {}, b'{"error_code":"403023","message":"Profile is not valid"}'))
    with pytest.raises(AccessDeniedError, match="product context"):
        client.read_enumeration("nms:recipient:gender")


def test_a_response_with_a_dtd_is_refused() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><x>&a;</x>'
    with pytest.raises(ValueError, match="DTD"):
        parse_xml(bomb)
    client, _ = fake_client((200, {}, bomb))
    with pytest.raises(Exception, match="DTD"):
        client.read_enumeration("nms:recipient:gender")


# --- against the sandbox's SOAP router ----------------------------------------------------


def sandbox_client(campaign: RunningCampaign) -> ClassicClient:
    config = connection(campaign)
    return ClassicClient.from_config(config, CampaignClient.from_config(config))


@pytest.fixture
def kept_gender(campaign: RunningCampaign) -> Iterator[Enumeration]:
    """The gender enumeration, written back afterwards (a reseed keeps stored enumerations)."""
    client = sandbox_client(campaign)
    original = client.read_enumeration("nms:recipient:gender")
    assert original is not None
    yield original
    client.write(
        EnumWrite(original.name, original.label, original.basetype, original.values, replace=True)
    )


def test_sandbox_round_trip_add_missing_then_replace(
    campaign: RunningCampaign, kept_gender: Enumeration
) -> None:
    client = sandbox_client(campaign)
    gender = kept_gender
    assert {v.name for v in gender.values} >= {"male", "female"}
    wanted = Enumeration(gender.name, values=(*gender.values, EnumValue("diverse", "Diverse", "3")))
    planned = plan_write(gender, wanted, replace=False)
    assert planned is not None
    client.write(planned)
    after = client.read_enumeration(gender.name)
    assert after == planned.result(gender)
    assert plan_write(after, wanted, replace=False) is None  # a rerun writes nothing

    # the REST API now accepts the new value, and refuses one the enumeration does not have
    rest = client.rest
    created = rest.post(
        "profileAndServicesExt/profile",
        {"email": "d@example.com", "externalId": "d-1", "gender": "diverse"},
    )
    assert created["gender"] == "diverse"
    with pytest.raises(RecordRefusedError, match="gender"):
        rest.post("profileAndServicesExt/profile", {"email": "x@example.com", "gender": "robot"})

    replaced = Enumeration(
        gender.name,
        values=(EnumValue("male", "Male", "1"), EnumValue("female", "Female", "2")),
    )
    planned = plan_write(after, replaced, replace=True)
    assert planned is not None
    client.write(planned)
    assert [v.name for v in client.read_enumeration(gender.name).values] == ["male", "female"]  # type: ignore[union-attr]


def test_sandbox_creates_a_missing_enumeration_and_refuses_a_bad_name(
    campaign: RunningCampaign,
) -> None:
    client = sandbox_client(campaign)
    assert client.read_enumeration("cus:leadSource") is None
    wanted = Enumeration(
        "cus:leadSource", "Lead source", "long", (EnumValue("web", "Web", "100000000"),)
    )
    planned = plan_write(None, wanted, replace=False)
    assert planned is not None
    client.write(planned)
    assert client.read_enumeration("cus:leadSource") == wanted
    with pytest.raises(SoapFaultError, match="Invalid enumeration name"):
        client.write(EnumWrite("bad name!", "", "string", (), replace=True))


WRITE_WITHOUT_TOKEN = (
    b'<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">'
    b'<SOAP-ENV:Body><m:Write xmlns:m="urn:xtk:session"><sessiontoken/>'
    b'<domDoc><enum xtkschema="xtk:enum" name="x"/></domDoc></m:Write></SOAP-ENV:Body>'
    b"</SOAP-ENV:Envelope>"
)


def test_sandbox_refuses_a_call_without_a_token(campaign: RunningCampaign) -> None:
    client = sandbox_client(campaign)
    response = requests.post(
        client.soap_url,
        data=WRITE_WITHOUT_TOKEN,
        headers={"SOAPAction": "xtk:session#Write"},
        verify=client.rest.session.verify,
        timeout=30,
    )
    assert response.status_code == 500
    assert b"XSV-350008" in response.content
