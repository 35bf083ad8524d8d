"""Adobe IMS: the OAuth Server-to-Server token endpoint and the profile endpoint.

`POST /ims/token/v3` takes `grant_type=client_credentials`, `client_id`, `client_secret` and a
comma-separated `scope`, in the form body or the query string, and answers
`{"access_token", "token_type": "bearer", "expires_in"}`. Failures use OAuth's
`{"error", "error_description"}`; the client texts are those IMS returns
("invalid client_id parameter", "invalid client_secret parameter").
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import CREDENTIAL_SCOPES, credential
from .errors import CampaignError

if TYPE_CHECKING:
    from .runtime import Runtime

_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _oauth_error(status: int, error: str, description: str) -> JSONResponse:
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=_NO_STORE
    )


def build_ims_app(rt: Runtime) -> Starlette:
    """Return the IMS ASGI app (own port)."""

    async def token(request: Request) -> Response:
        params = dict(parse_qsl(request.url.query))
        params.update(parse_qsl((await request.body()).decode("utf-8", "replace")))
        cred = credential(params.get("client_id"))
        if cred is None:
            return _oauth_error(400, "invalid_client", "invalid client_id parameter")
        request.scope["state"]["client_id"] = cred.client_id
        if params.get("client_secret") != cred.secret:
            return _oauth_error(400, "invalid_client", "invalid client_secret parameter")
        grant = params.get("grant_type")
        if grant != "client_credentials":
            if not grant:
                return _oauth_error(400, "invalid_request", "missing grant_type parameter")
            return _oauth_error(400, "unsupported_grant_type", f"unsupported grant_type {grant}")
        scopes = [s for s in re.split(r"[,\s]+", params.get("scope", "")) if s]
        if not scopes:
            return _oauth_error(400, "invalid_scope", "missing scope parameter")
        unknown = [s for s in scopes if s not in CREDENTIAL_SCOPES]
        if unknown:
            return _oauth_error(400, "invalid_scope", f"invalid scope ({','.join(unknown)})")
        lifetime = rt.settings.token_lifetime
        return JSONResponse(
            {
                "access_token": rt.tokens.issue(cred, scopes, lifetime),
                "token_type": "bearer",
                "expires_in": lifetime,
            },
            headers=_NO_STORE,
        )

    async def profile(request: Request) -> Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        grant = rt.tokens.validate(value.strip()) if scheme.lower() == "bearer" else None
        if grant is None:
            return _oauth_error(401, "invalid_token", "invalid token")
        cred = grant.credential
        request.scope["state"]["client_id"] = cred.client_id
        body: dict[str, object] = {
            "account_type": "technical_account",
            "userId": cred.technical_account,
            "authId": cred.technical_account,
            "email": cred.technical_account,
        }
        if "additional_info.projectedProductContext" in grant.scopes:
            body["projectedProductContext"] = [
                {
                    "prodCtx": {
                        "serviceCode": "dma_tartan",
                        "organization_id": cred.organization,
                        "owningEntity": cred.ims_org,
                        "tenant_id": cred.organization,
                    }
                }
            ]
        return JSONResponse(body)

    app = Starlette(
        routes=[
            Route("/ims/token/v3", _with_faults(rt, token), methods=["POST"]),
            Route("/ims/profile/v1", _with_faults(rt, profile), methods=["GET"]),
        ]
    )
    app.add_middleware(rt.requests.middleware("ims"))
    return app


def _with_faults(
    rt: Runtime, handler: Callable[[Request], Awaitable[Response]]
) -> Callable[[Request], Awaitable[Response]]:
    """Wrap an IMS endpoint in the "before" and "after" fault rules of app "ims"."""

    async def endpoint(request: Request) -> Response:
        await request.body()  # read (and cached) before any injected delay
        fault = await rt.faults.apply("before", "ims", request, request.url.path)
        if fault is not None:
            return _error_response(fault)
        response = await handler(request)
        fault = await rt.faults.apply("after", "ims", request, request.url.path)
        return response if fault is None else _error_response(fault)

    return endpoint


def _error_response(error: CampaignError) -> Response:
    return JSONResponse(error.body, status_code=error.status, headers=error.headers)
