"""The Adobe I/O gateway in front of Campaign: faults, API key, IMS token, organization.

Checks in order: injected faults ("before" rules); `X-Api-Key` present (403 `403000`) and
known (403 `403003`); TPS limit (429 `429050`); bearer token valid and unexpired (401 `401013`)
and issued to that API key (403 `403003`); organization known (500 "Oops…"); token's
organization and Campaign product context (403 `403023`); then the Campaign resources (or the
workflow API, `/workflow/execution/...`); then
"after" fault rules, which may delay, replace or drop the answer of a handled request (a POST
stays committed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from . import workflows
from .config import GATEWAY_SCOPES, KNOWN_ORGANIZATIONS, SERVED_ORGANIZATIONS, credential
from .errors import (
    API_KEY_INVALID,
    API_KEY_REQUIRED,
    PROFILE_INVALID,
    TOKEN_INVALID,
    CampaignError,
    gateway_error,
    not_found_uri,
)
from .resources import Call, handle
from .v8 import router as v8_router

if TYPE_CHECKING:
    from .runtime import Runtime

JSON = "application/json;charset=utf-8"
_encoder = msgspec.json.Encoder()


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    """Return a JSON answer (no body when `body` is None)."""
    content = b"" if body is None else _encoder.encode(body)
    return Response(content, status_code=status, headers=headers, media_type=JSON)


def error_response(error: CampaignError) -> Response:
    """Return the answer for a CampaignError."""
    return json_response(error.status, error.body, error.headers)


def _segments(request: Request) -> tuple[str, list[str]]:
    """(organization, percent-decoded segments after `/campaign/`) from the raw path."""
    raw = request.scope.get("raw_path", request.url.path.encode()).decode("latin-1")
    parts = raw.split("?", 1)[0].split("/")
    return unquote(parts[1]), [unquote(p) for p in parts[3:]]


def authorize(rt: Runtime, request: Request, organization: str) -> str:
    """Return the caller's API key once every gateway check passed; CampaignError otherwise."""
    key = request.headers.get("x-api-key")
    if not key:
        raise gateway_error(403, *API_KEY_REQUIRED)
    if credential(key) is None:
        raise gateway_error(403, *API_KEY_INVALID)
    request.scope["state"]["client_id"] = key
    rt.tps.admit(key, rt.settings.tps_limit)
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    grant = rt.tokens.validate(token.strip()) if scheme.lower() == "bearer" else None
    if grant is None:
        raise gateway_error(401, *TOKEN_INVALID)
    if grant.credential.client_id != key:
        raise gateway_error(403, *API_KEY_INVALID)
    if organization not in KNOWN_ORGANIZATIONS:
        raise not_found_uri()
    if grant.credential.organization != organization or not grant.scopes >= GATEWAY_SCOPES:
        raise gateway_error(403, *PROFILE_INVALID)
    if organization not in SERVED_ORGANIZATIONS:
        raise not_found_uri()
    return key


def build_gateway_app(rt: Runtime, admin_routes: Sequence[BaseRoute]) -> Starlette:
    """Return the gateway ASGI app (own port), with the test-only admin API under /_sandbox."""

    async def api(request: Request) -> Response:
        organization, segments = _segments(request)
        body = await request.body()  # before any injected delay: the client may give up
        path = request.url.path
        try:
            fault = await rt.faults.apply("before", "gateway", request, path)
            if fault is not None:
                return error_response(fault)
            authorize(rt, request, organization)
            call = Call(
                method=request.method,
                segments=segments,
                params=parse_qsl(request.url.query, keep_blank_values=True),
                body=body,
            )
            served = workflows.handle if segments[:1] == ["workflow"] else handle
            reply = served(rt, call)
            if reply.media_type is None:
                response = json_response(reply.status, reply.body)
            else:
                response = Response(reply.body, reply.status, media_type=reply.media_type)
        except CampaignError as error:
            response = error_response(error)
        fault = await rt.faults.apply("after", "gateway", request, path)
        return response if fault is None else error_response(fault)

    async def outside(request: Request) -> Response:
        return error_response(not_found_uri())

    methods = ["GET", "POST", "PATCH", "PUT", "DELETE"]
    routes: list[BaseRoute] = [
        *admin_routes,
        *v8_router.routes(rt),
        Route("/{organization}/campaign", api, methods=methods),
        Route("/{organization}/campaign/{path:path}", api, methods=methods),
        Route("/{path:path}", outside, methods=methods),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(rt.requests.middleware("gateway"))
    return app
