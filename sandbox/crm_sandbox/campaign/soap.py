"""Campaign Classic/v8 SOAP subset: enumerations (`xtk:enum`) at `/nl/jsp/soaprouter.jsp`.

Campaign Standard's REST API cannot write enumerations; the v8 SOAP router can. Served on the
gateway port (a v8 instance has its own host in reality), authenticated like v8 with an IMS
technical account: `Authorization: Bearer <IMS access token>` on every call, the body's
`sessiontoken` ignored ("Usage of session token should be ignored").

- `SOAPAction: xtk:session#Write` (also `xtk:persist#Write`, `…#WriteCollection`): an `<enum
  xtkschema="xtk:enum" name=… label=… basetype=…>` document with `<value name label value
  enabled/>` children, reconciled on `@name` (see `enumerations` for `_operation`).
- `SOAPAction: xtk:queryDef#ExecuteQuery`: `queryDef` on `xtk:enum` (nodes `@name`, `@label`,
  `@basetype`, `value` = the values) or `xtk:enumValue` (`@name`, `@label`, `@value`,
  `@enabled`, `[enum/@name]`), conditions `<expr> = '<text>'` (or `<>`) joined by AND,
  operations get / getIfExists / select / count, `lineCount` / `startLine`.

Faults are SOAP 1.1 `SOAP-ENV:Fault`s with HTTP 500; an invalid, expired or foreign token gets
Campaign's session error `XSV-350008`. Request XML goes through `expat` with DTDs and entity
declarations refused (what defusedxml guards against), then `xml.etree`.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import TYPE_CHECKING
from xml.parsers import expat
from xml.sax.saxutils import escape

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .config import GATEWAY_SCOPES, SERVED_ORGANIZATIONS
from .enumerations import EnumChange, EnumError, ValueChange
from .errors import CampaignError
from .schema import Enumeration

if TYPE_CHECKING:
    from .runtime import Runtime

PATH = "/nl/jsp/soaprouter.jsp"
SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12_ENV = "http://www.w3.org/2003/05/soap-envelope"
MAX_BODY = 10 * 1024 * 1024
SESSION_INVALID = "XSV-350008 Session has expired or is invalid. Please reconnect."
WRITES = {"xtk:session#Write", "xtk:persist#Write"}
COLLECTION_WRITES = {"xtk:session#WriteCollection", "xtk:persist#WriteCollection"}
QUERY = "xtk:queryDef#ExecuteQuery"
_CONDITION = re.compile(r"^\s*(@\w+|\[enum/@name\])\s*(=|<>|!=)\s*'((?:[^']|'')*)'\s*$")
_ENUM_NODES = ("@name", "@label", "@basetype", "value")
_VALUE_NODES = ("@name", "@label", "@value", "@enabled", "[enum/@name]")


class SoapFault(Exception):
    """A SOAP fault: code (`SOAP-ENV:Client` / `SOAP-ENV:Server`), string and detail."""

    def __init__(self, faultstring: str, detail: str = "", code: str = "SOAP-ENV:Server") -> None:
        """Keep the fault's parts."""
        super().__init__(faultstring)
        self.code = code
        self.faultstring = faultstring
        self.detail = detail


def _method_error(method: str, service: str, detail: str) -> SoapFault:
    return SoapFault(f"Error while executing the method '{method}' of service '{service}'.", detail)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _refuse(*_: object) -> int:
    raise SoapFault(
        "Invalid XML: DTDs and entity declarations are refused.", code="SOAP-ENV:Client"
    )


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
        raise SoapFault(f"Invalid XML: {exc}", code="SOAP-ENV:Client") from None


def _envelope(content: str, service: str) -> str:
    return (
        "<?xml version='1.0'?>\n"
        "<SOAP-ENV:Envelope xmlns:xsd='http://www.w3.org/2001/XMLSchema' "
        "xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' "
        f"xmlns:ns='urn:{service}' xmlns:SOAP-ENV='{SOAP_ENV}'>"
        f"<SOAP-ENV:Body>{content}</SOAP-ENV:Body></SOAP-ENV:Envelope>"
    )


def _xml_response(content: str, service: str = "xtk:session", status: int = 200) -> Response:
    body = _envelope(content, service)
    return Response(body, status, media_type="text/xml; charset=utf-8")


def fault_response(fault: SoapFault) -> Response:
    """HTTP 500 with a SOAP 1.1 fault."""
    content = (
        f"<SOAP-ENV:Fault><faultcode>{fault.code}</faultcode>"
        f"<faultstring xsi:type='xsd:string'>{escape(fault.faultstring)}</faultstring>"
        f"<detail xsi:type='xsd:string'>{escape(fault.detail)}</detail></SOAP-ENV:Fault>"
    )
    return _xml_response(content, status=500)


def _action(request: Request) -> str:
    """`<schema>#<Method>` from SOAPAction (SOAP 1.1) or the content type's `action` (1.2)."""
    action = request.headers.get("soapaction", "")
    if not action:
        found = re.search(r'action="?([^";]+)', request.headers.get("content-type", ""))
        action = found.group(1) if found else ""
    action = action.strip().strip('"')
    if "#" not in action:
        raise SoapFault("The SOAPAction header is missing or invalid.", code="SOAP-ENV:Client")
    return action


def _authorize(rt: Runtime, request: Request) -> None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    grant = rt.tokens.validate(token.strip()) if scheme.lower() == "bearer" else None
    if grant is None:
        raise SoapFault(SESSION_INVALID)
    request.scope["state"]["client_id"] = grant.credential.client_id
    if grant.credential.organization not in SERVED_ORGANIZATIONS or not (
        grant.scopes >= GATEWAY_SCOPES
    ):
        raise SoapFault(SESSION_INVALID)


def _method_element(root: ET.Element, action: str) -> ET.Element:
    if _local(root.tag) != "Envelope" or root.tag.split("}")[0][1:] not in (SOAP_ENV, SOAP12_ENV):
        raise SoapFault("The request is not a SOAP envelope.", code="SOAP-ENV:Client")
    body = next((c for c in root if _local(c.tag) == "Body"), None)
    method = body[0] if body is not None and len(body) else None
    service, _, name = action.partition("#")
    if method is None or _local(method.tag) != name or method.tag != f"{{urn:{service}}}{name}":
        raise SoapFault(
            f"The SOAP body does not call '{action}' (element {{urn:{service}}}{name}).",
            code="SOAP-ENV:Client",
        )
    return method


def _param(method: ET.Element, *names: str) -> ET.Element:
    """Return the child element of parameter `names[0]` (or of the first non-session one)."""
    params = [c for c in method if _local(c.tag) != "sessiontoken"]
    found = next((c for c in params if _local(c.tag) in names), params[0] if params else None)
    if found is None or not len(found):
        raise SoapFault(f"Parameter '{names[0]}' is missing.", code="SOAP-ENV:Client")
    return found[0]


# --- Write --------------------------------------------------------------------------------


def _flag(raw: str | None, what: str) -> bool | None:
    if raw is None:
        return None
    if raw.lower() in ("1", "true"):
        return True
    if raw.lower() in ("0", "false"):
        return False
    raise EnumError(f"Invalid {what} '{raw}' (0, 1, true or false).")


def _enum_change(doc: ET.Element, schema: str | None) -> EnumChange:
    schema = doc.get("xtkschema") or schema
    if schema != "xtk:enum" or _local(doc.tag) != "enum":
        raise EnumError(
            f"The sandbox writes 'xtk:enum' documents only (got '{_local(doc.tag)}', "
            f"schema '{schema}')."
        )
    if doc.get("_key", "@name").replace(" ", "") != "@name":
        raise EnumError("Enumerations are reconciled on '@name' only (_key).")
    values = tuple(
        ValueChange(
            name=v.get("name", ""),
            label=v.get("label"),
            value=v.get("value"),
            enabled=_flag(v.get("enabled"), "enabled flag"),
            operation=v.get("_operation"),
        )
        for v in doc
        if _local(v.tag) == "value"
    )
    return EnumChange(
        name=doc.get("name", ""),
        label=doc.get("label"),
        basetype=doc.get("basetype"),
        operation=doc.get("_operation", "insertOrUpdate"),
        values=values,
    )


def _write(rt: Runtime, method: ET.Element, action: str) -> str:
    service, _, name = action.partition("#")
    doc = _param(method, "domDoc", "doc")
    try:
        if action in COLLECTION_WRITES:
            schema = doc.get("xtkschema")
            changes = [_enum_change(d, schema) for d in doc]
        else:
            changes = [_enum_change(doc, None)]
        rt.store.model.write_enumerations(changes)
    except EnumError as exc:
        raise _method_error(name, service, str(exc)) from None
    return (
        f"<{name}Response xmlns='urn:{service}' "
        f"SOAP-ENV:encodingStyle='http://schemas.xmlsoap.org/soap/encoding/'/>"
    )


# --- ExecuteQuery -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Query:
    schema: str
    operation: str
    nodes: tuple[str, ...]
    conditions: tuple[tuple[str, str, str], ...]  # (expr, operator, text)
    line_count: int | None
    start_line: int


def _query(query_def: ET.Element) -> _Query:
    if _local(query_def.tag) != "queryDef":
        raise EnumError("The 'entity' parameter must hold a queryDef element.")
    schema = query_def.get("schema", "")
    allowed = {"xtk:enum": _ENUM_NODES, "xtk:enumValue": _VALUE_NODES}.get(schema)
    if allowed is None:
        raise EnumError(f"The sandbox queries 'xtk:enum' and 'xtk:enumValue' only, not '{schema}'.")
    operation = query_def.get("operation", "select")
    if operation not in ("get", "getIfExists", "select", "count"):
        raise EnumError(f"Invalid operation '{operation}'.")
    nodes = []
    for part in query_def:
        if _local(part.tag) == "select":
            for node in part:
                expr = node.get("expr", "").strip()
                if expr not in allowed:
                    raise EnumError(f"XTK-170036 Unable to parse expression '{expr}'.")
                nodes.append(expr)
    conditions = []
    for part in query_def:
        if _local(part.tag) != "where":
            continue
        for cond in part:
            expr = cond.get("expr", "")
            match = _CONDITION.match(expr)
            if (
                match is None
                or match.group(1) not in allowed
                or cond.get("boolOperator", "AND").upper() != "AND"
            ):
                raise EnumError(f"XTK-170036 Unable to parse expression '{expr}'.")
            op = "=" if match.group(2) == "=" else "<>"
            conditions.append((match.group(1), op, match.group(3).replace("''", "'")))
    try:
        line_count = int(query_def.get("lineCount", "0")) or None
        start_line = int(query_def.get("startLine", "0"))
    except ValueError:
        raise EnumError("lineCount and startLine must be integers.") from None
    if operation != "count" and not nodes:
        raise EnumError("The query selects no node.")
    return _Query(schema, operation, tuple(nodes), tuple(conditions), line_count, start_line)


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    return str(value)


def _rows(enums: list[Enumeration], q: _Query) -> list[dict[str, object]]:
    """Candidate rows as {expr: value} (enum rows carry their values under 'value')."""
    if q.schema == "xtk:enum":
        return [
            {
                "@name": e.id,
                "@label": e.label,
                "@basetype": e.basetype,
                "value": e.values,
            }
            for e in enums
        ]
    return [
        {
            "@name": v.name,
            "@label": v.label,
            "@value": v.value,
            "@enabled": v.enabled,
            "[enum/@name]": e.id,
        }
        for e in enums
        for v in e.values
    ]


def _matches(row: dict[str, object], conditions: tuple[tuple[str, str, str], ...]) -> bool:
    return all((_text(row[expr]) == text) == (op == "=") for expr, op, text in conditions)


def _element(tag: str, row: dict[str, object], nodes: tuple[str, ...]) -> ET.Element:
    out = ET.Element(tag)
    for expr in nodes:
        if expr == "value":
            for v in row["value"]:  # type: ignore[attr-defined]
                ET.SubElement(
                    out,
                    "value",
                    {
                        "name": v.name,
                        "label": v.label,
                        "value": _text(v.value),
                        "enabled": _text(v.enabled),
                    },
                )
        elif expr == "[enum/@name]":
            ET.SubElement(out, "enum", {"name": _text(row[expr])})
        else:
            out.set(expr[1:], _text(row[expr]))
    return out


def _execute(rt: Runtime, method: ET.Element) -> str:
    try:
        q = _query(_param(method, "entity"))
    except EnumError as exc:
        raise _method_error("ExecuteQuery", "xtk:queryDef", str(exc)) from None
    enums = sorted(rt.store.model.enumerations.values(), key=lambda e: e.id)
    rows = [r for r in _rows(enums, q) if _matches(r, q.conditions)]
    tag = "enum" if q.schema == "xtk:enum" else "enumValue"
    if q.operation == "count":
        output = ET.Element(tag, {"count": str(len(rows))})
    elif q.operation == "select":
        rows = rows[q.start_line :]
        if q.line_count is not None:
            rows = rows[: q.line_count]
        output = ET.Element(f"{tag}-collection")
        output.extend(_element(tag, r, q.nodes) for r in rows)
    elif rows:
        output = _element(tag, rows[0], q.nodes)
    elif q.operation == "getIfExists":
        output = ET.Element(tag)
    else:
        raise _method_error(
            "ExecuteQuery", "xtk:queryDef", f"No document of type '{q.schema}' matches the query."
        )
    output.set("xmlns", "")  # the document is in no namespace (not the response's)
    return (
        "<ExecuteQueryResponse xmlns='urn:xtk:queryDef' "
        "SOAP-ENV:encodingStyle='http://schemas.xmlsoap.org/soap/encoding/'>"
        "<pdomOutput xsi:type='ns:Element' "
        "SOAP-ENV:encodingStyle='http://xml.apache.org/xml-soap/literalxml'>"
        f"{ET.tostring(output, encoding='unicode')}</pdomOutput></ExecuteQueryResponse>"
    )


def _json_error(error: CampaignError) -> Response:
    """Return an injected fault rule's answer (as the gateway gives it)."""
    return Response(
        msgspec.json.encode(error.body),
        error.status,
        headers=error.headers,
        media_type="application/json;charset=utf-8",
    )


def routes(rt: Runtime) -> list[Route]:
    """Return the SOAP router route (gateway fault rules apply, path `/nl/jsp/soaprouter.jsp`)."""

    async def soaprouter(request: Request) -> Response:
        body = await request.body()
        fault = await rt.faults.apply("before", "gateway", request, PATH)
        if fault is not None:
            return _json_error(fault)
        try:
            _authorize(rt, request)
            if len(body) > MAX_BODY:
                raise SoapFault("The request is too large.", code="SOAP-ENV:Client")
            action = _action(request)
            method = _method_element(parse_xml(body), action)
            if action in WRITES or action in COLLECTION_WRITES:
                response = _xml_response(_write(rt, method, action), action.split("#")[0])
            elif action == QUERY:
                response = _xml_response(_execute(rt, method), "xtk:queryDef")
            else:
                raise SoapFault(
                    f"The sandbox's SOAP router does not implement '{action}'.",
                    "Implemented: xtk:session#Write, xtk:session#WriteCollection, "
                    "xtk:queryDef#ExecuteQuery (xtk:enum).",
                )
        except SoapFault as exc:
            response = fault_response(exc)
        fault = await rt.faults.apply("after", "gateway", request, PATH)
        return response if fault is None else _json_error(fault)

    return [Route(PATH, soaprouter, methods=["POST"])]
