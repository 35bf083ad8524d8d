"""A plain HTTP client writing SOAP envelopes exactly as Adobe's acc-js-sdk (`src/soap.js`) does."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import quote

from crm_sandbox.campaign.inprocess import RunningCampaign

ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
LITERAL = "http://xml.apache.org/xml-soap/literalxml"


def string(name: str, value: str) -> str:
    return f"<{name} xsi:type='xsd:string'>{value}</{name}>"


def document(name: str, xml: str) -> str:
    """`writeDocument`: an empty xsi:type and the literal-XML encoding."""
    return f"<{name} xsi:type='' SOAP-ENV:encodingStyle='{LITERAL}'>{xml}</{name}>"


def element(name: str, xml: str) -> str:
    return f"<{name} xsi:type='ns:Element' SOAP-ENV:encodingStyle='{LITERAL}'>{xml}</{name}>"


def strip(node: ET.Element) -> ET.Element:
    for el in node.iter():
        el.tag = el.tag.rsplit("}", 1)[-1]
    return node


class SoapError(Exception):
    def __init__(self, status: int, code: str, string: str, detail: str) -> None:
        super().__init__(f"{status} {code} {string} {detail}")
        self.status, self.code, self.string, self.detail = status, code, string, detail


class SoapClient:
    """Bearer (IMS on every call) or session (security token + session token) authentication."""

    def __init__(self, campaign: RunningCampaign, *, bearer: str | None = None) -> None:
        self.campaign = campaign
        self.http = campaign.http_session()
        self.bearer = bearer
        self.session_token = ""
        self.security_token = ""
        self.url = f"{campaign.info['api_base_url']}/nl/jsp/soaprouter.jsp"

    def post(self, urn: str, method: str, params: str = ""):
        cookie = (
            f"<Cookie>__sessiontoken={self.session_token}</Cookie>" if self.session_token else ""
        )
        body = (
            "<?xml version='1.0' encoding='UTF-8'?>"
            f"<SOAP-ENV:Envelope xmlns:xsd='{XSD}' xmlns:xsi='{XSI}' xmlns:SOAP-ENV='{ENV}' "
            "xmlns:ns='http://xml.apache.org/xml-soap'>"
            f"<SOAP-ENV:Header>{cookie}<X-Security-Token>{self.security_token}</X-Security-Token>"
            f"</SOAP-ENV:Header><SOAP-ENV:Body><m:{method} xmlns:m='urn:{urn}' "
            f"SOAP-ENV:encodingStyle='{ENCODING}'>"
            f"<sessiontoken xsi:type='xsd:string'>{self.session_token}</sessiontoken>{params}"
            f"</m:{method}></SOAP-ENV:Body></SOAP-ENV:Envelope>"
        )
        headers = {
            "Content-type": "application/soap+xml;charset=UTF-8",
            "SoapAction": f"{urn}#{method}",
        }
        if self.bearer:
            headers["Authorization"] = f"Bearer {self.bearer}"
        else:
            headers["X-Security-Token"] = self.security_token
            headers["X-Session-Token"] = self.session_token
            if self.session_token:
                headers["Cookie"] = f"__sessiontoken={self.session_token}"
        return self.http.post(
            f"{self.url}?soapAction={quote(f'{urn}#{method}', safe='')}",
            data=body.encode(),
            headers=headers,
            timeout=30,
        )

    def call(self, urn: str, method: str, params: str = "") -> list[ET.Element]:
        """The output parameters (namespaces stripped); SoapError on a fault."""
        resp = self.post(urn, method, params)
        root = ET.fromstring(resp.content)
        body = root.find(f"{{{ENV}}}Body")
        assert body is not None, resp.text
        first = body[0]
        if first.tag == f"{{{ENV}}}Fault":
            raise SoapError(
                resp.status_code,
                first.findtext("faultcode") or "",
                first.findtext("faultstring") or "",
                first.findtext("detail") or "",
            )
        assert resp.status_code == 200, resp.text
        assert first.tag.rsplit("}", 1)[-1] == f"{method}Response", resp.text
        assert b"<SOAP-ENV:Body>" in resp.content  # the literal prefix the SDK looks for
        return [strip(p) for p in first]

    def logon(self, login: str, password: str) -> ET.Element:
        out = self.call(
            "xtk:session",
            "Logon",
            string("login", login) + string("password", password) + element("parameters", ""),
        )
        self.session_token, self.security_token = out[0].text or "", out[2].text or ""
        return out[1][0]

    def bearer_logon(self, token: str) -> ET.Element:
        out = self.call("xtk:session", "BearerTokenLogon", string("bearerToken", token))
        self.session_token, self.security_token = out[0].text or "", out[2].text or ""
        return out[1][0]

    def query(self, query_def: str) -> ET.Element:
        """ExecuteQuery as the SDK sends it: the queryDef is the `document` ("this") parameter."""
        (output,) = self.call("xtk:queryDef", "ExecuteQuery", document("document", query_def))
        assert output.get(f"{{{XSI}}}type") == "ns:Element"
        return output[0]

    def write(self, xml: str) -> None:
        assert self.call("xtk:persist|xtk:session", "Write", document("doc", xml)) == []

    def write_collection(self, xml: str) -> None:
        assert self.call("xtk:persist|xtk:session", "WriteCollection", document("doc", xml)) == []

    def schema(self, pk: str, md5: str = "", must_exist: bool = False) -> ET.Element | None:
        (doc,) = self.call(
            "xtk:persist",
            "GetEntityIfMoreRecent",
            string("pk", pk)
            + string("md5", md5)
            + f"<mustExist xsi:type='xsd:boolean'>{int(must_exist)}</mustExist>",
        )
        return doc[0] if len(doc) else None
