"""Campaign Classic / v8 SOAP: read and write enumerations (`xtk:enum`).

Campaign Standard's REST API reads enumerations but cannot write them; Campaign Classic/v8's
SOAP router can: `POST <instance>/nl/jsp/soaprouter.jsp` with the SOAPAction
`xtk:queryDef#ExecuteQuery` (read) or `xtk:session#Write` (write), authenticated with the
same IMS bearer token as the REST API (Campaign v8 accepts it). This client reuses the REST
client's session, IMS authenticator and retry policy.

Write semantics are Campaign's: `<enum _operation="insertOrUpdate">` reconciles on `@name`; its
`<value>` elements replace the stored collection, unless each carries an `_operation`, in
which case they are merged one by one. So "Replace = Yes" (the CRM wizard's choice) sends the
full list without `_operation`, and "add the missing values" sends only the new values, each
with `_operation="insertOrUpdate"`.

XML is parsed with the standard library; a document with a DTD is refused (no entity
expansion), and nothing is read from the network but the response.
"""

from __future__ import annotations

import typing as t
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from http import HTTPStatus
from urllib.parse import urlsplit

from campaign_client.client import (
    DEFAULT_API_BASE_URL,
    RETRIED_STATUSES,
    AccessDeniedError,
    CampaignAPIError,
    RetriableCampaignError,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    import requests

    from campaign_client.client import CampaignClient

SOAP_PATH = "/nl/jsp/soaprouter.jsp"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENCODING = "http://schemas.xmlsoap.org/soap/encoding/"
LITERAL_XML = "http://xml.apache.org/xml-soap/literalxml"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSD = "http://www.w3.org/2001/XMLSchema"
ENUM_SCHEMA = "xtk:enum"
NUMERIC_BASETYPES = frozenset({"byte", "short", "long"})


class SoapFaultError(CampaignAPIError):
    """Campaign answered with a SOAP fault (e.g. an invalid value name or operation)."""


@dataclass(frozen=True)
class EnumValue:
    """One value of an enumeration: `name` (what REST reads and writes), `label`, stored value.

    `value` is kept as text (XML attributes are text); numeric enumerations store integers.
    """

    name: str
    label: str
    value: str
    enabled: bool = True


@dataclass(frozen=True)
class Enumeration:
    """An `xtk:enum`: its name (e.g. `nms:recipient:gender`), label, basetype and values."""

    name: str
    label: str = ""
    basetype: str = "string"
    values: tuple[EnumValue, ...] = ()

    @property
    def numeric(self) -> bool:
        """Whether stored values are integers (basetype byte, short or long)."""
        return self.basetype in NUMERIC_BASETYPES

    def by_name(self, name: str) -> EnumValue | None:
        """Return the value named `name`, if any."""
        return next((v for v in self.values if v.name == name), None)

    def by_stored(self, stored: str) -> EnumValue | None:
        """Return the value whose stored value is `stored` (compared as text), if any."""
        return next((v for v in self.values if v.value == stored), None)


@dataclass(frozen=True)
class EnumWrite:
    """What one Write of an enumeration sends: the values, and whether they replace the rest."""

    name: str
    label: str
    basetype: str
    values: tuple[EnumValue, ...]
    replace: bool

    def result(self, current: Enumeration | None) -> Enumeration:
        """Return the enumeration as Campaign stores it after this write."""
        if self.replace or current is None:
            return Enumeration(self.name, self.label, self.basetype, self.values)
        merged = {v.name: v for v in current.values}
        merged.update({v.name: v for v in self.values})
        return Enumeration(current.name, current.label, current.basetype, tuple(merged.values()))


def match(enumeration: Enumeration, stored: str, name: str) -> EnumValue | None:
    """Return the value matching a source value: same stored value first, else same name."""
    return enumeration.by_stored(stored) or enumeration.by_name(name)


def plan_write(
    current: Enumeration | None,
    wanted: Enumeration,
    *,
    replace: bool,
) -> EnumWrite | None:
    """Return the write making `current` agree with `wanted`, or None when nothing changes.

    - `replace`: the values become exactly `wanted`'s (names, labels, stored values, order).
    - otherwise ("add missing"): each wanted value that matches no current value (by stored
      value, then by name, see `match`) is added; existing values are left as they are.
    A missing enumeration is created with `wanted`'s values either way.
    """
    if current is None:
        return EnumWrite(wanted.name, wanted.label, wanted.basetype, wanted.values, replace=True)
    if replace:
        if _comparable(current.values) == _comparable(wanted.values):
            return None
        return EnumWrite(current.name, current.label, current.basetype, wanted.values, True)
    missing = tuple(v for v in wanted.values if match(current, v.value, v.name) is None)
    if not missing:
        return None
    return EnumWrite(current.name, current.label, current.basetype, missing, replace=False)


def _comparable(values: Iterable[EnumValue]) -> list[tuple[str, str, str, bool]]:
    return [(v.name, v.label, v.value, v.enabled) for v in values]


# --- XML ----------------------------------------------------------------------------------


def _q(namespace: str, tag: str) -> str:
    return f"{{{namespace}}}{tag}"


def envelope(method: str, urn: str, param: str, element: ET.Element) -> bytes:
    """Return a SOAP envelope calling `method` of `urn` with one XML element parameter."""
    ET.register_namespace("SOAP-ENV", SOAP_ENV)
    ET.register_namespace("xsi", XSI)
    ET.register_namespace("xsd", XSD)
    root = ET.Element(_q(SOAP_ENV, "Envelope"))
    body = ET.SubElement(root, _q(SOAP_ENV, "Body"))
    call = ET.SubElement(body, _q(urn, method), {_q(SOAP_ENV, "encodingStyle"): SOAP_ENCODING})
    # empty session token: the IMS bearer token in the Authorization header authenticates
    ET.SubElement(call, _q(urn, "__sessiontoken"), {_q(XSI, "type"): "xsd:string"})
    holder = ET.SubElement(
        call,
        _q(urn, param),
        {_q(XSI, "type"): "ns:Element", _q(SOAP_ENV, "encodingStyle"): LITERAL_XML},
    )
    holder.append(element)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)


def parse_xml(content: bytes) -> ET.Element:
    """Parse a response; refuse a DTD (no entity declarations are ever expanded)."""
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content:
        msg = "Refusing a SOAP response that declares a DTD or entities"
        raise ValueError(msg)
    return ET.fromstring(content)  # DTDs refused above; expat fetches nothing


def enum_query(name: str) -> ET.Element:
    """Return the `queryDef` selecting one enumeration with its values."""
    query = ET.Element("queryDef", {"schema": ENUM_SCHEMA, "operation": "select"})
    select = ET.SubElement(query, "select")
    for expr in ("@name", "@label", "@basetype", "value"):
        ET.SubElement(select, "node", {"expr": expr})
    where = ET.SubElement(query, "where")
    quoted = name.replace("'", "''")
    ET.SubElement(where, "condition", {"expr": f"@name = '{quoted}'"})
    return query


def enum_element(write: EnumWrite) -> ET.Element:
    """Return the `<enum>` document of a Write (see the module docstring for `_operation`)."""
    element = ET.Element(
        "enum",
        {
            "xtkschema": ENUM_SCHEMA,
            "_operation": "insertOrUpdate",
            "_key": "@name",
            "name": write.name,
            "label": write.label,
            "basetype": write.basetype,
        },
    )
    for value in write.values:
        attributes = {
            "name": value.name,
            "label": value.label,
            "value": value.value,
            "enabled": "true" if value.enabled else "false",
        }
        if not write.replace:
            attributes["_operation"] = "insertOrUpdate"
        ET.SubElement(element, "value", attributes)
    return element


def parse_enumerations(root: ET.Element) -> dict[str, Enumeration]:
    """Read every `<enum>` of an ExecuteQuery response (namespace-agnostic)."""
    found = {}
    for element in root.iter():
        if _local(element.tag) != "enum":
            continue
        name = element.get("name", "")
        values = tuple(
            EnumValue(
                name=child.get("name", ""),
                label=child.get("label", ""),
                value=child.get("value", ""),
                enabled=child.get("enabled", "true").lower() not in {"false", "0"},
            )
            for child in element
            if _local(child.tag) == "value"
        )
        found[name] = Enumeration(
            name, element.get("label", ""), element.get("basetype", "string"), values
        )
    return found


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def fault_of(root: ET.Element) -> tuple[str, str] | None:
    """Return (faultcode, faultstring + detail) of a SOAP fault, or None."""
    fault = next((e for e in root.iter() if _local(e.tag) == "Fault"), None)
    if fault is None:
        return None
    parts = {_local(child.tag): (child.text or "").strip() for child in fault}
    message = parts.get("faultstring", "")
    if parts.get("detail"):
        message = f"{message} {parts['detail']}".strip()
    return parts.get("faultcode", ""), message


# --- client -------------------------------------------------------------------------------


class ClassicClient:
    """SOAP calls on `xtk:enum`, through the REST client's session, token and retries."""

    def __init__(self, rest: CampaignClient, soap_url: str) -> None:
        """Call `soap_url` (`<instance>/nl/jsp/soaprouter.jsp`) with `rest`'s session."""
        self.rest = rest
        self.soap_url = soap_url
        self._send = rest.retry.wrap(self._send_once, on_backoff=rest.log_backoff)

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any], rest: CampaignClient) -> ClassicClient:
        """`soap_url` if set, else the SOAP router on the API gateway (`api_base_url`)."""
        base = (config.get("api_base_url") or DEFAULT_API_BASE_URL).rstrip("/")
        return cls(rest, config.get("soap_url") or base + SOAP_PATH)

    def _call(self, action: str, body: bytes) -> ET.Element:
        """Send one SOAP call (with retries) and return the parsed response."""
        return parse_xml(self._send(action, body).content)

    def _send_once(self, action: str, body: bytes) -> requests.Response:
        response = self.rest.session.post(
            self.soap_url,
            data=body,
            headers={
                "Content-Type": "text/xml; charset=utf-8",
                "Accept": "text/xml",
                "SOAPAction": action,
            },
            timeout=self.rest.timeout,
            verify=self.rest.session.verify,
        )
        self._validate(action, response)
        return response

    @staticmethod
    def _validate(action: str, response: requests.Response) -> None:
        """Raise the matching error: retriable, access denied, SOAP fault or other."""
        status = response.status_code
        request = f"POST {urlsplit(response.url).path} ({action})"
        if status in RETRIED_STATUSES:
            raise RetriableCampaignError(f"{status}: {response.reason} ({request})", response)
        if status in {HTTPStatus.UNAUTHORIZED, HTTPStatus.FORBIDDEN}:
            code, message = _gateway_error(response)
            raise AccessDeniedError(status, code, message, request)
        try:
            root = parse_xml(response.content)
        except (ET.ParseError, ValueError) as exc:
            text = response.text[:300]
            raise CampaignAPIError(
                status, "", f"not a SOAP response: {exc}: {text}", request
            ) from exc
        fault = fault_of(root)
        if fault is not None:
            raise SoapFaultError(status, fault[0], fault[1], request)
        if status >= HTTPStatus.BAD_REQUEST:
            raise CampaignAPIError(status, "", response.reason or "", request)

    def read_enumeration(self, name: str) -> Enumeration | None:
        """Return the enumeration `name` as Campaign stores it (one ExecuteQuery), or None."""
        body = envelope("ExecuteQuery", "urn:xtk:queryDef", "entity", enum_query(name))
        return parse_enumerations(self._call("xtk:queryDef#ExecuteQuery", body)).get(name)

    def write(self, write: EnumWrite) -> None:
        """Send one `xtk:session#Write` of an enumeration (idempotent, so retried safely)."""
        body = envelope("Write", "urn:xtk:session", "domDoc", enum_element(write))
        self._call("xtk:session#Write", body)


def _gateway_error(response: requests.Response) -> tuple[str, str]:
    try:
        body = response.json()
    except ValueError:
        return "", response.reason or ""
    code = body.get("error_code", body.get("code", ""))
    return str(code), str(body.get("message", response.reason or ""))
