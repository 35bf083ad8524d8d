"""SOAP envelopes of the v8 router: request parsing and response rendering.

Requests as Adobe's JS SDK (acc-js-sdk `src/soap.js`) sends them: `POST
/nl/jsp/soaprouter.jsp?soapAction=<urlencoded urn#Method>`, `Content-Type:
application/soap+xml;charset=UTF-8`, an unquoted `SoapAction: urn#Method` header (SOAP 1.1
clients send `SOAPAction`, possibly quoted), a `SOAP-ENV:Header` that may carry `Cookie` and
`X-Security-Token` elements, and a method element whose first parameter is the session token
(whatever its name: the SDK writes `sessiontoken`, Adobe's samples `__sessiontoken`); the other
parameters are read by position, as Campaign does (its samples name them all `param`). The URN
may name an interface implementation (`xtk:persist|xtk:session#Write`). The method element's
namespace is not checked: Campaign routes on the action [inference].

Responses as the SDK parses them: the literal `SOAP-ENV:` prefix, an unprefixed
`<MethodResponse xmlns='urn:…'>`, `xsi:type` on every output (`xsd:string`, …) and literal XML
outputs typed `ns:Element`. Faults: `SOAP-ENV:Fault` with `faultcode`, `faultstring` and
`detail`, over HTTP 500.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from urllib.parse import parse_qs
from xml.parsers import expat
from xml.sax.saxutils import escape, quoteattr

from starlette.requests import Request
from starlette.responses import Response

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
LITERAL_XML = "http://xml.apache.org/xml-soap/literalxml"
MAX_BODY = 10 * 1024 * 1024


class SoapFault(Exception):
    """A SOAP fault: code (`SOAP-ENV:Client` / `SOAP-ENV:Server`), string and detail."""

    def __init__(self, faultstring: str, detail: str = "", code: str = "SOAP-ENV:Server") -> None:
        """Keep the fault's parts."""
        super().__init__(faultstring)
        self.code = code
        self.faultstring = faultstring
        self.detail = detail


def client_fault(message: str) -> SoapFault:
    """Return a malformed request (`SOAP-ENV:Client`)."""
    return SoapFault(message, code="SOAP-ENV:Client")


def method_error(method: str, service: str, detail: str) -> SoapFault:
    """Campaign's fault for a method that failed: the reason is in `detail`."""
    return SoapFault(f"Error while executing the method '{method}' of service '{service}'.", detail)


def local(tag: str) -> str:
    """Tag without its namespace."""
    return tag.rsplit("}", 1)[-1]


def _refuse(*_: object) -> int:
    raise client_fault("Invalid XML: DTDs and entity declarations are refused.")


def parse_xml(body: bytes) -> ET.Element:
    """Parse request XML, refusing DTDs, entity declarations and external entities."""
    checker = expat.ParserCreate()
    checker.StartDoctypeDeclHandler = _refuse
    checker.EntityDeclHandler = _refuse
    checker.UnparsedEntityDeclHandler = _refuse
    checker.ExternalEntityRefHandler = _refuse
    try:
        checker.Parse(body, True)
        return ET.fromstring(body)
    except (expat.ExpatError, ET.ParseError) as exc:
        raise client_fault(f"Invalid XML: {exc}") from None


@dataclass
class Call:
    """One parsed SOAP call."""

    urn: str  # as sent: `xtk:session`, `xtk:persist|xtk:session`
    method: str
    session_token: str  # the first parameter's text
    params: list[ET.Element]  # the other parameters, in order
    header: dict[str, str] = field(default_factory=dict)  # SOAP-ENV:Header elements' texts

    @property
    def action(self) -> str:
        """`urn#Method` as sent."""
        return f"{self.urn}#{self.method}"

    @property
    def service(self) -> str:
        """The interface or schema whose method is called (`xtk:persist` for `xtk:persist|…`)."""
        return self.urn.split("|", 1)[0]

    @property
    def schema(self) -> str:
        """The schema answering (`xtk:session` for `xtk:persist|xtk:session`)."""
        return self.urn.rsplit("|", 1)[-1]

    def text(self, index: int, name: str) -> str:
        """Text of parameter `index` (after the session token); fault when missing."""
        if index >= len(self.params):
            raise client_fault(f"Parameter '{name}' is missing.")
        return (self.params[index].text or "").strip()

    def element(self, index: int, name: str) -> ET.Element:
        """Return the literal XML of parameter `index`; fault when missing or empty."""
        if index >= len(self.params) or not len(self.params[index]):
            raise client_fault(f"Parameter '{name}' is missing.")
        return self.params[index][0]


def request_action(request: Request) -> str:
    """`urn#Method` from SoapAction, the `soapAction` query parameter or a SOAP 1.2 `action`."""
    action = request.headers.get("soapaction", "")
    if not action:
        action = (parse_qs(request.url.query).get("soapAction") or [""])[0]
    if not action:
        found = re.search(r'action="?([^";]+)', request.headers.get("content-type", ""))
        action = found.group(1) if found else ""
    action = action.strip().strip('"')
    if "#" not in action:
        raise client_fault("The SOAPAction header is missing or invalid.")
    return action


def parse_call(body: bytes, action: str) -> Call:
    """Parse the envelope of a call to `action`."""
    if len(body) > MAX_BODY:
        raise client_fault("The request is too large.")
    root = parse_xml(body)
    if local(root.tag) != "Envelope" or root.tag.split("}")[0][1:] not in (SOAP_ENV, SOAP12_ENV):
        raise client_fault("The request is not a SOAP envelope.")
    urn, _, name = action.partition("#")
    body_el = next((c for c in root if local(c.tag) == "Body"), None)
    method = body_el[0] if body_el is not None and len(body_el) else None
    if method is None or local(method.tag) != name:
        raise client_fault(f"The SOAP body does not call '{action}' (element {name}).")
    header_el = next((c for c in root if local(c.tag) == "Header"), None)
    header = {
        local(h.tag): (h.text or "").strip() for h in (header_el if header_el is not None else ())
    }
    params = list(method)
    token = (params[0].text or "").strip() if params else ""
    return Call(urn, name, token, params[1:], header)


@dataclass(frozen=True)
class Out:
    """One output parameter: a scalar (`xsd:*` type and text) or literal XML (`ns:Element`)."""

    name: str
    type: str
    text: str = ""
    element: ET.Element | None = None

    def render(self) -> str:
        """Return the parameter element as Campaign writes it."""
        if self.type != "ns:Element":
            return f"<{self.name} xsi:type='{self.type}'>{escape(self.text)}</{self.name}>"
        inner = "" if self.element is None else ET.tostring(self.element, encoding="unicode")
        return (
            f"<{self.name} xsi:type='ns:Element' SOAP-ENV:encodingStyle='{LITERAL_XML}'>"
            f"{inner}</{self.name}>"
        )


def _envelope(content: str, schema: str) -> str:
    return (
        "<?xml version='1.0'?>\n"
        "<SOAP-ENV:Envelope xmlns:xsd='http://www.w3.org/2001/XMLSchema' "
        "xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' "
        f"xmlns:ns={quoteattr('urn:' + schema)} xmlns:SOAP-ENV='{SOAP_ENV}'>"
        f"<SOAP-ENV:Body>{content}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )


def _xml(body: str, status: int = 200) -> Response:
    return Response(body, status, media_type="text/xml; charset=utf-8")


def response(call: Call, outputs: list[Out]) -> Response:
    """HTTP 200 with `<MethodResponse xmlns='urn:<schema>'>` and the outputs in order."""
    schema = call.schema
    content = (
        f"<{call.method}Response xmlns={quoteattr('urn:' + schema)} "
        f"SOAP-ENV:encodingStyle='{ENCODING}'>"
        f"{''.join(o.render() for o in outputs)}</{call.method}Response>"
    )
    return _xml(_envelope(content, schema))


def fault_response(fault: SoapFault) -> Response:
    """HTTP 500 with a SOAP 1.1 fault."""
    content = (
        f"<SOAP-ENV:Fault><faultcode>{fault.code}</faultcode>"
        f"<faultstring xsi:type='xsd:string'>{escape(fault.faultstring)}</faultstring>"
        f"<detail xsi:type='xsd:string'>{escape(fault.detail)}</detail></SOAP-ENV:Fault>"
    )
    return _xml(_envelope(content, "xtk:session"), 500)
