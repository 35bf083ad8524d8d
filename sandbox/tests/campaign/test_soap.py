"""Campaign v8 SOAP: enumerations written with xtk:session#Write, read with ExecuteQuery."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator

import pytest
from crm_sandbox.campaign.inprocess import RunningCampaign
from crm_sandbox.campaign.seed import SeedSizes

from .conftest import RST, serve_campaign, url

EXT = "profileAndServicesExt"
ENV = "http://schemas.xmlsoap.org/soap/envelope/"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningCampaign]:
    yield from serve_campaign(tmp_path_factory, SeedSizes(30, projects=6), seed=3)


@pytest.fixture(scope="module")
def token(campaign: RunningCampaign) -> str:
    return campaign.token()


def call(campaign, token, action: str, inner: str, *, raw: str | None = None):
    service, _, method = action.partition("#")
    body = raw or (
        f"<SOAP-ENV:Envelope xmlns:SOAP-ENV='{ENV}'><SOAP-ENV:Body>"
        f"<{method} xmlns='urn:{service}'><sessiontoken/>{inner}</{method}>"
        "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
    return campaign.http_session().post(
        f"{campaign.info['api_base_url']}/nl/jsp/soaprouter.jsp",
        data=body.encode(),
        headers={
            "Authorization": f"Bearer {token}",
            "SOAPAction": action,
            "Content-Type": "text/xml; charset=utf-8",
        },
        timeout=30,
    )


def write(campaign, token, enum_xml: str):
    return call(campaign, token, "xtk:session#Write", f"<domDoc>{enum_xml}</domDoc>")


def fault(resp) -> tuple[str, str]:
    assert resp.status_code == 500, resp.text
    node = ET.fromstring(resp.content).find(f"{{{ENV}}}Body/{{{ENV}}}Fault")
    assert node is not None, resp.text
    return node.findtext("faultstring") or "", node.findtext("detail") or ""


def strip(element: ET.Element) -> ET.Element:
    """Drop namespaces: Campaign's output documents inherit the response's default namespace."""
    for el in element.iter():
        el.tag = el.tag.rsplit("}", 1)[-1]
    return element


def query(campaign, token, query_def: str) -> ET.Element:
    resp = call(campaign, token, "xtk:queryDef#ExecuteQuery", f"<entity>{query_def}</entity>")
    assert resp.status_code == 200, resp.text
    out = ET.fromstring(resp.content).find(
        f"{{{ENV}}}Body/{{urn:xtk:queryDef}}ExecuteQueryResponse/{{urn:xtk:queryDef}}pdomOutput"
    )
    assert out is not None
    return strip(out[0])


def values_of(campaign, token, name: str) -> dict[str, tuple[str, str]]:
    enum = query(
        campaign,
        token,
        "<queryDef schema='xtk:enum' operation='get'><select><node expr='@name'/>"
        f"<node expr='value'/></select><where><condition expr=\"@name = '{name}'\"/></where>"
        "</queryDef>",
    )
    assert enum.get("name") == name
    return {v.get("name"): (v.get("label"), v.get("value")) for v in enum.findall("value")}


def test_seeded_enumerations_are_readable(campaign, token):
    assert values_of(campaign, token, "nms:recipient:gender") == {
        "unknown": ("Unspecified", "0"),
        "male": ("Male", "1"),
        "female": ("Female", "2"),
    }
    count = query(campaign, token, "<queryDef schema='xtk:enum' operation='count'/>")
    assert int(count.get("count")) >= 4
    rows = query(
        campaign,
        token,
        "<queryDef schema='xtk:enumValue' operation='select'><select><node expr='@name'/>"
        "<node expr='@label'/></select><where>"
        "<condition expr=\"[enum/@name] = 'cus:project:cusStage'\"/></where></queryDef>",
    )
    assert rows.tag == "enumValue-collection"
    assert [r.get("name") for r in rows] == ["planned", "running", "done"]


def test_replace_no_adds_values_and_rest_accepts_them(campaign, token, api):
    resp = write(
        campaign,
        token,
        "<enum xtkschema='xtk:enum' name='cus:project:cusStage' _key='@name'>"
        "<value name='onHold' label='On hold' _operation='insertOrUpdate'/>"
        "<value name='running' label='In progress' _operation='insertOrUpdate'/></enum>",
    )
    assert resp.status_code == 200, resp.text
    assert values_of(campaign, token, "cus:project:cusStage") == {
        "planned": ("Planned", "0"),
        "running": ("In progress", "1"),
        "done": ("Done", "2"),
        "onHold": ("On hold", "3"),
    }
    meta = api.get(url(campaign, f"{EXT}/resourceType/cusProject")).json()
    assert meta["content"]["cusStage"]["values"]["onHold"] == {
        "label": "On hold",
        "name": "onHold",
        "value": 3,
    }
    project = api.get(url(campaign, f"{EXT}/cusProject?_lineCount=1")).json()["content"][0]
    patched = api.patch(project["href"], json={"cusStage": "onHold"})
    assert patched.status_code == 200, patched.text
    assert api.get(project["href"]).json()["cusStage"] == "onHold"


def test_replace_yes_drops_values_not_sent_and_rest_refuses_them(campaign, token, api):
    resp = write(
        campaign,
        token,
        "<enum xtkschema='xtk:enum' name='nms:recipient:emailFormat'>"
        "<value name='text' label='Text'/><value name='html' label='HTML'/></enum>",
    )
    assert resp.status_code == 200, resp.text
    assert set(values_of(campaign, token, "nms:recipient:emailFormat")) == {"text", "html"}
    profile = api.get(url(campaign, "profileAndServices/profile?_lineCount=1")).json()["content"][0]
    refused = api.patch(profile["href"], json={"emailFormat": "unknown"})
    assert refused.status_code == 500
    assert refused.json()["message"] == (
        f"{RST} The value 'unknown' is not valid for the 'nms:recipient:emailFormat' enumeration "
        "of the '@emailFormat' field"
    )
    assert api.patch(profile["href"], json={"emailFormat": "html"}).status_code == 200


def test_new_enumeration_feeds_a_published_resource(campaign, token, api):
    campaign.admin.publish_resource(
        {
            "name": "cusTicket",
            "label": "Tickets",
            "key": "cusCrmId",
            "fields": [
                {"name": "cusCrmId", "type": "string", "length": 36},
                {"name": "cusPriority", "type": "enumeration", "enumeration": "cusPriorityCode"},
            ],
        }
    )
    assert values_of(campaign, token, "cusPriorityCode") == {}
    resp = write(
        campaign,
        token,
        "<enum xtkschema='xtk:enum' name='cusPriorityCode' label='Priority'>"
        "<value name='p1' label='High' value='100000000'/>"
        "<value name='p2' label='Low' value='100000001'/></enum>",
    )
    assert resp.status_code == 200, resp.text
    created = api.post(
        url(campaign, f"{EXT}/cusTicket"), json={"cusCrmId": "T1", "cusPriority": "p2"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["cusPriority"] == "p2"
    # disable p2: still read back, no longer writable, not in the metadata values
    write(
        campaign,
        token,
        "<enum xtkschema='xtk:enum' name='cusPriorityCode'>"
        "<value name='p2' enabled='0' _operation='update'/></enum>",
    )
    assert api.get(url(campaign, f"{EXT}/cusTicket/T1")).json()["cusPriority"] == "p2"
    meta = api.get(url(campaign, f"{EXT}/resourceType/cusTicket")).json()
    assert list(meta["content"]["cusPriority"]["values"]) == ["p1"]
    refused = api.post(
        url(campaign, f"{EXT}/cusTicket"), json={"cusCrmId": "T2", "cusPriority": "p2"}
    )
    assert refused.status_code == 500


def test_write_collection_and_value_delete(campaign, token):
    resp = call(
        campaign,
        token,
        "xtk:session#WriteCollection",
        "<domDoc><enum-collection xtkschema='xtk:enum'>"
        "<enum name='cusA'><value name='x'/><value name='y'/></enum>"
        "<enum name='cusB' basetype='byte'><value name='one' value='1'/></enum>"
        "</enum-collection></domDoc>",
    )
    assert resp.status_code == 200, resp.text
    assert values_of(campaign, token, "cusA") == {"x": ("x", "x"), "y": ("y", "y")}
    write(
        campaign,
        token,
        "<enum name='cusA' xtkschema='xtk:enum'><value name='x' _operation='delete'/></enum>",
    )
    assert set(values_of(campaign, token, "cusA")) == {"y"}
    write(
        campaign,
        token,
        "<enum name='cusB' xtkschema='xtk:enum'><value name='two' _operation='insert'/></enum>",
    )
    assert values_of(campaign, token, "cusB")["two"] == ("two", "2")  # next integer


def test_faults(campaign, token):
    string, detail = fault(
        write(campaign, token, "<enum xtkschema='xtk:enum' name='cusB' basetype='string'/>")
    )
    assert string == "Error while executing the method 'Write' of service 'xtk:session'."
    assert "basetype" in detail
    string, detail = fault(
        call(
            campaign,
            token,
            "xtk:session#WriteCollection",
            "<domDoc><enum-collection xtkschema='xtk:enum'><enum name='cusMixed'/>"
            "<recipient xtkschema='nms:recipient' email='a@b.c'/></enum-collection></domDoc>",
        )
    )
    assert "xtk:enum" in detail
    string, detail = fault(
        call(
            campaign,
            token,
            "xtk:queryDef#ExecuteQuery",
            "<entity><queryDef schema='xtk:enum' operation='select'><select>"
            "<node expr='@name'/></select><where><condition expr='@name LIKE 1'/></where>"
            "</queryDef></entity>",
        )
    )
    assert detail == "XTK-170036 Unable to parse expression '@name LIKE 1'."
    missing = call(
        campaign,
        token,
        "xtk:queryDef#ExecuteQuery",
        "<entity><queryDef schema='xtk:enum' operation='get'><select><node expr='@name'/>"
        "</select><where><condition expr=\"@name = 'nothing'\"/></where></queryDef></entity>",
    )
    assert "No document" in fault(missing)[1]
    used = write(
        campaign, token, "<enum xtkschema='xtk:enum' name='cusPriorityCode' _operation='delete'/>"
    )
    assert "used by cusTicket.cusPriority" in fault(used)[1]


def test_auth_and_action_checks(campaign, token):
    for bad in ("", "not-a-token"):
        string, _ = fault(write(campaign, bad, "<enum xtkschema='xtk:enum' name='cusC'/>"))
        assert string == "XSV-350008 Session has expired or is invalid. Please reconnect."
    other = campaign.token("campaign-other-client", "sandbox-other-secret")
    assert fault(write(campaign, other, "<enum xtkschema='xtk:enum' name='cusC'/>"))[0].startswith(
        "XSV-350008"
    )
    mismatch = call(campaign, token, "xtk:queryDef#ExecuteQuery", "", raw=None)
    assert "Parameter 'entity' is missing" in fault(mismatch)[0]
    wrong = campaign.http_session().post(
        f"{campaign.info['api_base_url']}/nl/jsp/soaprouter.jsp",
        data=b"<x/>",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert "SOAPAction" in fault(wrong)[0]


def test_dtds_and_entities_are_refused(campaign, token):
    bomb = (
        "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        "<!ENTITY lol2 '&lol;&lol;&lol;&lol;'>]>"
        f"<SOAP-ENV:Envelope xmlns:SOAP-ENV='{ENV}'><SOAP-ENV:Body><Write xmlns='urn:xtk:session'>"
        "<domDoc><enum xtkschema='xtk:enum' name='cusBomb' label='&lol2;'/></domDoc>"
        "</Write></SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )
    string, _ = fault(call(campaign, token, "xtk:session#Write", "", raw=bomb))
    assert "DTDs and entity declarations are refused" in string
    assert "cusBomb" not in [
        e.get("name")
        for e in query(
            campaign,
            token,
            "<queryDef schema='xtk:enum' operation='select'><select><node expr='@name'/>"
            "</select></queryDef>",
        )
    ]


def test_enumerations_survive_a_reseed_and_calls_are_logged(campaign, token):
    campaign.admin.clear_requests()
    campaign.admin.reset(30, 3, projects=6)
    assert "onHold" in values_of(campaign, token, "cus:project:cusStage")
    log = campaign.admin.requests()
    assert [(r["path"], r["client_id"], r["status"]) for r in log] == [
        ("/nl/jsp/soaprouter.jsp", "campaign-sandbox-client", 200)
    ]
