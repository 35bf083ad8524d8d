"""The v8 SOAP router (`POST /nl/jsp/soaprouter.jsp`) on the gateway port, over the Campaign store.

Order of a call: gateway fault rules ("before"); the action (`SoapAction` header or
`soapAction` query parameter, recorded in the request log as `soap_action`); the TPS limit
(`Settings.soap_tps_limit`, 0 = off; above it HTTP 429 with `Retry-After: 1` and a plain text
body [inference: Adobe documents only "standard HTTP error (429)"]); the envelope;
authentication (not for the logons); the method; "after" fault rules. A method the router does
not serve answers `SOP-330006 The method '…' is not defined in SOAP service '…'.` (the text
Adobe's SDK fixtures show).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING

import msgspec
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from crm_sandbox.campaign.errors import CampaignError

from . import enums, querydef, schemas, sessions, srcschema, writes
from .envelope import (
    Call,
    Out,
    SoapFault,
    client_fault,
    fault_response,
    local,
    method_error,
    parse_call,
    request_action,
    response,
)
from .model import XtkSchema
from .model import schemas as data_schemas

if TYPE_CHECKING:
    from crm_sandbox.campaign.runtime import Runtime

PATH = "/nl/jsp/soaprouter.jsp"
Handler = Callable[["Runtime", Request, Call], list[Out]]
LOGONS = frozenset({"Logon", "BearerTokenLogon"})


def _schemas(rt: Runtime) -> dict[str, XtkSchema]:
    return data_schemas(rt.store.model)


def _write(rt: Runtime, request: Request, call: Call) -> list[Out]:
    items = writes.records(call.element(0, "doc"), call.method == "WriteCollection")
    kinds = {schema for schema, _ in items}
    if kinds == {"xtk:enum"}:
        enums.write(rt, items, call.method, call.service)
    elif kinds == {"xtk:srcSchema"}:
        for _, doc in items:
            srcschema.write(rt, doc, call.method, call.service)
    elif kinds & {"xtk:enum", "xtk:srcSchema"}:
        raise method_error(
            call.method,
            call.service,
            "The sandbox does not mix xtk:enum or xtk:srcSchema "
            "documents with other schemas in one call.",
        )
    elif items:
        writes.write(rt, _schemas(rt), items, call.method, call.service)
    return []


def _execute_query(rt: Runtime, request: Request, call: Call) -> list[Out]:
    query_def = call.element(0, "entity")
    if local(query_def.tag) != "queryDef":
        raise querydef.query_error("The 'entity' parameter must hold a queryDef element.")
    schema_id = query_def.get("schema", "")
    if schema_id in enums.SCHEMAS:
        output = enums.execute(rt, query_def)
    else:
        known = _schemas(rt)
        if schema_id not in known:
            raise querydef.query_error(f"XTK-170006 Unknown schema '{schema_id}'.")
        output = querydef.execute(rt.store.conn, known, query_def)
    return [Out("pdomOutput", "ns:Element", element=output)]


def _entity(rt: Runtime, pk: str) -> ET.Element | None:
    kind, _, name = pk.partition("|")
    if kind == "xtk:srcSchema":
        return srcschema.stored(rt, name)
    if kind != "xtk:schema":
        return None
    if name in schemas.METHOD_SCHEMAS:
        return schemas.method_schema(name)
    found = _schemas(rt).get(name)
    return None if found is None else schemas.data_schema(found)


def _get_entity(rt: Runtime, request: Request, call: Call) -> list[Out]:
    pk = call.text(0, "pk")
    md5 = call.text(1, "md5") if len(call.params) > 1 else ""
    must_exist = len(call.params) > 2 and call.text(2, "mustExist").lower() in ("1", "true")
    entity = _entity(rt, pk)
    if entity is None and must_exist:
        raise method_error(call.method, call.service, f"XTK-170006 Unknown entity '{pk}'.")
    if entity is not None:
        entity, digest = schemas.with_md5(entity)
        if md5 and md5.upper() == digest:
            entity = None
    return [Out("pdomDoc", "ns:Element", element=entity)]


def _build(rt: Runtime, request: Request, call: Call) -> list[Out]:
    srcschema.build(rt, call.text(0, "schemaId"))
    return []


HANDLERS: dict[tuple[str, str], Handler] = {
    ("xtk:session", "Logon"): sessions.logon,
    ("xtk:session", "BearerTokenLogon"): sessions.bearer_token_logon,
    ("xtk:session", "Logoff"): sessions.logoff,
    ("xtk:session", "GetUserInfo"): sessions.get_user_info,
    ("xtk:queryDef", "ExecuteQuery"): _execute_query,
    ("xtk:builder", "BuildSchemaFromId"): _build,
    **{
        (service, method): handler
        for service in ("xtk:session", "xtk:persist")
        for method, handler in (
            ("Write", _write),
            ("WriteCollection", _write),
            ("GetEntityIfMoreRecent", _get_entity),
        )
    },
}


def _json_error(error: CampaignError) -> Response:
    """Return an injected fault rule's answer (as the gateway gives it)."""
    return Response(
        msgspec.json.encode(error.body),
        error.status,
        headers=error.headers,
        media_type="application/json;charset=utf-8",
    )


def _serve(rt: Runtime, request: Request, body: bytes) -> Response:
    state = request.scope["state"]
    action = request_action(request)
    state["soap_action"] = action
    try:
        rt.soap_tps.admit("soaprouter", rt.settings.soap_tps_limit)
    except CampaignError:
        return PlainTextResponse("Too Many Requests", 429, headers={"Retry-After": "1"})
    call = parse_call(body, action)
    if call.method not in LOGONS or call.service != "xtk:session":
        state["client_id"] = sessions.authenticate(rt, request, call)
    handler = HANDLERS.get((call.service, call.method))
    if handler is None:
        raise client_fault(
            f"SOP-330006 The method '{call.method}' is not defined in SOAP service '{call.urn}'."
        )
    return response(call, handler(rt, request, call))


def routes(rt: Runtime) -> list[Route]:
    """Return the SOAP router route (gateway fault rules apply)."""

    async def soaprouter(request: Request) -> Response:
        body = await request.body()
        fault = await rt.faults.apply("before", "gateway", request, PATH)
        if fault is not None:
            return _json_error(fault)
        try:
            answer = _serve(rt, request, body)
        except SoapFault as exc:
            answer = fault_response(exc)
        fault = await rt.faults.apply("after", "gateway", request, PATH)
        return answer if fault is None else _json_error(fault)

    return [Route(PATH, soaprouter, methods=["POST"])]
