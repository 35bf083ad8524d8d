"""The Dataverse Web API app: authentication, service protection, faults, then routing."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import batch, bulkdelete, metadata, metadata_writes, query, systemjobs, writes
from .config import BUSINESS_UNIT_ID, ORGANIZATION_ID, TENANT_ID, app_by_client_id
from .csdl import csdl
from .errors import RESOURCE_NOT_FOUND, DataverseError
from .keys import parse_key
from .paging import Preferences
from .protocol import ApiRequest, ApiResponse, Principal, error_response, json_response
from .schema import table_by_entity_set
from .tokens import TokenProblem

if TYPE_CHECKING:
    from .runtime import Runtime

API_PREFIX = "/api/data/v9.2"
_SEGMENT = re.compile(r"^([^()]*)(?:\((.*)\))?$", re.S)


def not_found(segment: str) -> DataverseError:
    """404 for an unknown (or wrongly cased) resource segment."""
    return DataverseError(
        404, RESOURCE_NOT_FOUND, f"Resource not found for the segment '{segment}'."
    )


def split_path(raw_path: str) -> list[str]:
    """Segments after the service root, each percent-decoded (keys may contain `%2F`)."""
    rest = raw_path[len(API_PREFIX) :].lstrip("/")
    return [unquote(s) for s in rest.split("/")] if rest else []


def unauthorized(rt: Runtime, problem: str | None) -> Response:
    """401 with the challenge clients use to discover the authority."""
    challenge = (
        f"Bearer authorization_uri={rt.entra_url}/{TENANT_ID}/oauth2/authorize, "
        f"resource_id={rt.resource_url}/"
    )
    if problem:
        challenge += f', error="invalid_token", error_description="{problem}"'
    return Response(status_code=401, headers={"WWW-Authenticate": challenge})


def authenticate(rt: Runtime, header: str | None) -> Principal | str | None:
    """Principal for a valid bearer token; otherwise the problem text (None = no token)."""
    if not header or not header.lower().startswith("bearer "):
        return None
    try:
        claims = rt.tokens.validate(header[7:].strip(), rt.resource_url, TENANT_ID)
    except TokenProblem as problem:
        return problem.description
    app = app_by_client_id(str(claims.get("appid")))
    if app is None:
        return "The access token was issued to an unknown application."
    return Principal(app.client_id, str(claims["tid"]), app.user_id)


def to_starlette(resp: ApiResponse) -> Response:
    """Wrap an ApiResponse."""
    return Response(resp.body, status_code=resp.status, headers=resp.headers)


async def dispatch(rt: Runtime, req: ApiRequest, segments: list[str]) -> ApiResponse:
    """Route one authenticated request (also used for `$batch` parts)."""
    try:
        return await _route(rt, req, segments)
    except DataverseError as error:
        return error_response(error)


async def _route(rt: Runtime, req: ApiRequest, segments: list[str]) -> ApiResponse:
    if not segments or segments == [""]:
        return service_document(rt, req)
    head = segments[0]
    match = _SEGMENT.match(head)
    name, key_text = (match.group(1), match.group(2)) if match else (head, None)
    rest = segments[1:]
    if name == "WhoAmI" and req.method == "GET":
        return who_am_i(req)
    if name == "$batch" and req.method == "POST" and not rest:
        return await run_batch(rt, req)
    if name == "$metadata" and req.method == "GET":
        body = csdl(rt.store.tables, annotations=req.param("annotations") == "true")
        return ApiResponse(200, {"Content-Type": "application/xml", "OData-Version": "4.0"}, body)
    if name == "EntityDefinitions" and req.method == "GET":
        return metadata.entity_definitions(req, rt.store.tables, key_text, rest)
    if name == "EntityDefinitions" and req.method == "POST":
        return metadata_write(rt, req, key_text, rest)
    if name == "GlobalOptionSetDefinitions" and req.method == "GET":
        return metadata.global_option_set_definitions(req, rt.store.tables, key_text, rest)
    if name == "BulkDelete" and req.method == "POST" and key_text is None and not rest:
        return bulkdelete.submit(rt, req)
    if name in systemjobs.ENTITY_SETS and req.method == "GET" and not rest:
        return systemjobs.read(rt.store.reader, req, name, key_text)
    if name == "sdkmessagefilters" and req.method == "GET" and key_text is None and not rest:
        return metadata.sdk_message_filters(
            req, rt.store.tables, rt.settings.bulk_messages_disabled
        )
    table = table_by_entity_set(name, rt.store.tables)
    if table is None:
        raise not_found(name)
    if key_text is None and not rest and req.method == "GET":
        return query.read_collection(rt, req, table)
    if key_text is None and rest == ["$count"] and req.method == "GET":
        return query.read_collection(rt, req, table, count_only=True)
    if key_text is not None and not rest and req.method == "GET":
        return query.read_entity(rt, req, table, parse_key(table, key_text))
    if key_text is None and not rest and req.method == "POST":
        return writes.create(rt, req, table)
    if key_text is not None and not rest and req.method == "PATCH":
        return writes.upsert(rt, req, table, key_text)
    if key_text is not None and not rest and req.method == "DELETE":
        return writes.delete(rt, req, table, key_text)
    if key_text is None and len(rest) == 1 and req.method == "POST":
        action = rest[0].removeprefix("Microsoft.Dynamics.CRM.")
        if rest[0].startswith("Microsoft.Dynamics.CRM.") and action in writes.MULTIPLE:
            return writes.multiple(rt, req, table, action)
    raise not_found(rest[0] if rest else name)


def metadata_write(
    rt: Runtime, req: ApiRequest, key_text: str | None, rest: list[str]
) -> ApiResponse:
    """POST EntityDefinitions, EntityDefinitions(<key>)/Attributes or .../Keys."""
    if key_text is None and not rest:
        return metadata_writes.create_entity(rt, req)
    if key_text is not None and rest == ["Attributes"]:
        return metadata_writes.create_attribute(rt, req, key_text)
    if key_text is not None and rest == ["Keys"]:
        return metadata_writes.create_key(rt, req, key_text)
    raise not_found(rest[-1] if rest else "EntityDefinitions")


async def run_batch(rt: Runtime, req: ApiRequest) -> ApiResponse:
    """POST `$batch`: parts go through the same routing; change sets share one transaction."""
    parts = batch.parse_batch(req.headers.get("content-type", ""), req.body)

    async def run(sub: batch.SubRequest) -> batch.SubResponse:
        path, _, query_string = sub.relative_url.partition("?")
        segments = [unquote(s) for s in path.split("/")] if path else []
        headers = {k.lower(): v for k, v in sub.headers.items()}
        sub_req = ApiRequest(
            method=sub.method,
            path=path,
            query=parse_qsl(query_string, keep_blank_values=True),
            headers=headers,
            prefer=Preferences.parse([v for k, v in headers.items() if k == "prefer"]),
            body=sub.body,
            principal=req.principal,
            service_root=req.service_root,
        )
        resp = await dispatch(rt, sub_req, segments)
        return batch.SubResponse(resp.status, resp.headers, resp.body)

    status, content_type, body = await batch.execute_batch(
        parts,
        run,
        continue_on_error=req.prefer.continue_on_error,
        transaction=rt.store.transaction,
    )
    headers = {"Content-Type": content_type, "OData-Version": "4.0"}
    if req.prefer.continue_on_error:
        headers["Preference-Applied"] = "odata.continue-on-error"
    operations = sum(len(p.requests) if isinstance(p, batch.ChangeSet) else 1 for p in parts)
    return ApiResponse(status, headers, body, operations)


def service_document(rt: Runtime, req: ApiRequest) -> ApiResponse:
    """GET the service root: entity sets (and a few singletons/functions)."""
    sets = [
        {"name": t.entity_set_name, "kind": "EntitySet", "url": t.entity_set_name}
        for t in rt.store.tables
    ]
    sets += [
        {"name": "EntityDefinitions", "kind": "EntitySet", "url": "EntityDefinitions"},
        {
            "name": "GlobalOptionSetDefinitions",
            "kind": "EntitySet",
            "url": "GlobalOptionSetDefinitions",
        },
        {"name": "sdkmessagefilters", "kind": "EntitySet", "url": "sdkmessagefilters"},
        *({"name": n, "kind": "EntitySet", "url": n} for n in sorted(systemjobs.ENTITY_SETS)),
    ]
    return json_response({"@odata.context": f"{req.service_root}$metadata", "value": sets})


def who_am_i(req: ApiRequest) -> ApiResponse:
    """WhoAmI: the application user behind the token."""
    return json_response(
        {
            "@odata.context": f"{req.service_root}$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
            "BusinessUnitId": BUSINESS_UNIT_ID,
            "UserId": req.principal.user_id,
            "OrganizationId": ORGANIZATION_ID,
        }
    )


class ExecutionClock:
    """A request's execution time: its wall time less the time it spent idle.

    Idle: injected latency (the network's, not the server's) and waiting for the sandbox's one
    writer (an artefact of the emulator: Dataverse runs requests side by side).
    """

    def __init__(self) -> None:
        """Start counting now."""
        self.start = time.perf_counter()
        self.idle_seconds = 0.0

    @asynccontextmanager
    async def idle(self, lock: asyncio.Lock | None = None) -> AsyncIterator[None]:
        """Count the time until `lock` is acquired (or the whole block without one) as idle."""
        began = time.perf_counter()
        if lock is None:
            try:
                yield
            finally:
                self.idle_seconds += time.perf_counter() - began
            return
        async with lock:
            self.idle_seconds += time.perf_counter() - began
            yield

    def execution_ms(self) -> float:
        """Return the milliseconds charged to the caller's execution time budget."""
        return max(0.0, time.perf_counter() - self.start - self.idle_seconds) * 1000


async def server_work(rt: Runtime, operations: int) -> None:
    """Take `row_cost_ms` per operation (none by default), after the writer lock is released."""
    cost = rt.settings.limits.row_cost_ms * operations
    if cost > 0:
        await asyncio.sleep(cost / 1000)


def background_due(rt: Runtime) -> bool:
    """Is a background job (key index, bulk delete) due? Cheap, checked before every request."""
    return rt.store.keys_due() or bulkdelete.jobs_due(rt)


def run_background(rt: Runtime) -> None:
    """Finish due background jobs (the caller holds the write lock)."""
    if rt.store.keys_due():
        rt.store.activate_due_keys()
    if bulkdelete.jobs_due(rt):
        bulkdelete.run_due_jobs(rt)


def build_dataverse_app(rt: Runtime, admin_routes: Sequence[BaseRoute]) -> Starlette:
    """Build the Dataverse ASGI app (own port), with the test-only admin API under /_sandbox."""

    async def api(request: Request) -> Response:
        principal = authenticate(rt, request.headers.get("authorization"))
        if not isinstance(principal, Principal):
            return unauthorized(rt, principal)
        request.scope["state"]["app_id"] = principal.app_id
        raw_path = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
        raw_path = raw_path.split("?", 1)[0]
        segments = split_path(raw_path)
        rel = "/".join(segments)
        try:
            rt.limits.enter(principal.app_id)
        except DataverseError as error:
            return to_starlette(error_response(error))
        clock = ExecutionClock()
        try:
            body = await request.body()  # before any injected delay: the client may give up
            async with clock.idle():  # injected latency is not the server's execution time
                fault = await rt.faults.apply("before", "dataverse", request, rel)
            if fault is not None:
                raise fault
            try:
                req = ApiRequest(
                    method=request.method,
                    path=rel,
                    query=parse_qsl(request.url.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in request.headers.items()},
                    prefer=Preferences.parse(request.headers.getlist("prefer")),
                    body=body,
                    principal=principal,
                    service_root=rt.service_root,
                )
                if request.method == "GET":
                    if background_due(rt):
                        async with clock.idle(rt.write_lock):
                            run_background(rt)
                    resp = await dispatch(rt, req, segments)
                else:
                    # one writer; a `$batch` holds it for all its parts
                    async with clock.idle(rt.write_lock):
                        run_background(rt)
                        resp = await dispatch(rt, req, segments)
                await server_work(rt, resp.operations)
            except DataverseError as error:
                resp = error_response(error)
            # "after" rules: the request was handled (writes committed); delay/replace/drop
            async with clock.idle():
                fault = await rt.faults.apply("after", "dataverse", request, rel)
            if fault is not None:
                raise fault
        except DataverseError as error:
            resp = error_response(error)
        finally:
            rt.limits.leave(principal.app_id, clock.execution_ms())
        resp.headers.update(rt.limits.headers(principal.app_id))
        return to_starlette(resp)

    async def outside(request: Request) -> Response:
        return to_starlette(error_response(not_found(request.url.path.strip("/") or "/")))

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    routes: list[BaseRoute] = [
        *admin_routes,
        Route(API_PREFIX, api, methods=methods),
        Route(API_PREFIX + "/{path:path}", api, methods=methods),
        Route("/{path:path}", outside, methods=methods),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(rt.requests.middleware("dataverse"))
    return app
