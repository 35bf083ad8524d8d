"""Campaign Classic / v8 SOAP: read and write enumerations (`xtk:enum`).

Campaign Standard's REST API reads enumerations but cannot write them; Campaign Classic/v8's
SOAP router can: `POST <instance>/nl/jsp/soaprouter.jsp` with the SOAPAction
`xtk:queryDef#ExecuteQuery` (read) or `xtk:session#Write` (write), authenticated with the
same IMS bearer token as the REST API (Campaign v8 accepts it). Calls go through the shared
SOAP transport (`soap.SoapTransport`: retries, faults, typed errors) on the REST client's
session, IMS authenticator and retry policy. The envelope keeps this module's own format
(`text/xml`, the action in the `SOAPAction` header only, namespace-qualified parameters), which
Campaign accepts as well as the JS SDK's; `soap_session` speaks the SDK's.

Write semantics are Campaign's: `<enum _operation="insertOrUpdate">` reconciles on `@name`; its
`<value>` elements replace the stored collection, unless each carries an `_operation`, in
which case they are merged one by one. So "Replace = Yes" (the CRM wizard's choice) sends the
full list without `_operation`, and "add the missing values" sends only the new values, each
with `_operation="insertOrUpdate"`.

XML is parsed by `soap.parse_xml`: a document with a DTD is refused (no entity expansion).
"""

from __future__ import annotations

import typing as t
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from campaign_client.querydef import QueryDef, compare
from campaign_client.settings import soap_url
from campaign_client.soap import (
    LITERAL_XML,
    SOAP_ENCODING,
    SOAP_ENV,
    SOAP_PATH,
    XSD,
    XSI,
    SoapFaultError,
    SoapTransport,
    local_name,
    parse_xml,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from campaign_client.client import CampaignClient

__all__ = [
    "SOAP_PATH",
    "ClassicClient",
    "EnumValue",
    "EnumWrite",
    "Enumeration",
    "SoapFaultError",
    "enum_element",
    "enum_query",
    "envelope",
    "match",
    "parse_enumerations",
    "parse_xml",
    "plan_write",
]

ENUM_SCHEMA = "xtk:enum"
NUMERIC_BASETYPES = frozenset({"byte", "short", "long"})
#: What this module's envelopes are sent with (see the module docstring).
CLASSIC_HEADERS = {"Content-Type": "text/xml; charset=utf-8", "Accept": "text/xml"}


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


def enum_query(name: str) -> ET.Element:
    """Return the `queryDef` selecting one enumeration with its values."""
    nodes = ("@name", "@label", "@basetype", "value")
    return QueryDef(ENUM_SCHEMA, nodes, (compare("@name", "=", name),)).to_element()


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
        if local_name(element.tag) != "enum":
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
            if local_name(child.tag) == "value"
        )
        found[name] = Enumeration(
            name, element.get("label", ""), element.get("basetype", "string"), values
        )
    return found


# --- client -------------------------------------------------------------------------------


class ClassicClient:
    """SOAP calls on `xtk:enum`, through the REST client's session, token and retries."""

    def __init__(self, rest: CampaignClient, soap_url: str) -> None:
        """Call `soap_url` (`<instance>/nl/jsp/soaprouter.jsp`) with `rest`'s session."""
        self.rest = rest
        self.soap_url = soap_url
        self.transport = SoapTransport(
            rest.session,
            soap_url,
            retry=rest.retry,
            timeout=rest.timeout,
            on_backoff=rest.log_backoff,
            headers=CLASSIC_HEADERS,
            method_in_url=False,
        )

    @classmethod
    def from_config(cls, config: Mapping[str, t.Any], rest: CampaignClient) -> ClassicClient:
        """`soap_url` if set, else the SOAP router on the API gateway (`api_base_url`)."""
        return cls(rest, soap_url(config))

    def read_enumeration(self, name: str) -> Enumeration | None:
        """Return the enumeration `name` as Campaign stores it (one ExecuteQuery), or None."""
        body = envelope("ExecuteQuery", "urn:xtk:queryDef", "entity", enum_query(name))
        output = self.transport.post("xtk:queryDef#ExecuteQuery", body).element(0)
        return None if output is None else parse_enumerations(output).get(name)

    def write(self, write: EnumWrite) -> None:
        """Send one `xtk:session#Write` of an enumeration (idempotent, so retried safely)."""
        body = envelope("Write", "urn:xtk:session", "domDoc", enum_element(write))
        self.transport.post("xtk:session#Write", body)
