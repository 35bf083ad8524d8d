"""Microsoft Entra ID (v2.0 endpoints) for the client credentials flow, as MSAL uses it."""

from __future__ import annotations

import base64
import binascii
import time
import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, unquote_plus

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .config import TENANTS, app_by_client_id

if TYPE_CHECKING:
    from .runtime import Runtime


def _error(status: int, error: str, code: int, description: str) -> JSONResponse:
    trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
    stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime())
    return JSONResponse(
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description}\r\nTrace ID: {trace}\r\n"
            f"Correlation ID: {correlation}\r\nTimestamp: {stamp}",
            "error_codes": [code],
            "timestamp": stamp,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
        status_code=status,
        headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
    )


def _unknown_tenant(tenant: str) -> JSONResponse:
    return _error(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
        "signing into the correct cloud.",
    )


def build_entra_app(rt: Runtime) -> Starlette:
    """Return the Entra ASGI app (its own port)."""

    async def openid_configuration(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if tenant not in TENANTS:
            return _unknown_tenant(tenant)
        base = f"{rt.entra_url}/{tenant}"
        return JSONResponse(
            {
                "token_endpoint": f"{base}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{base}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": f"{base}/v2.0",
                "request_uri_parameter_supported": False,
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
                "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
                "tenant_region_scope": "WW",
                "cloud_instance_name": "microsoftonline.com",
            }
        )

    async def keys(request: Request) -> Response:
        return JSONResponse(rt.tokens.jwks())

    async def token(request: Request) -> Response:
        tenant = request.path_params["tenant"]
        if tenant not in TENANTS:
            return _unknown_tenant(tenant)
        form = dict(parse_qsl((await request.body()).decode("utf-8", "replace")))
        client_id, secret = form.get("client_id"), form.get("client_secret")
        basic = request.headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            try:
                user, _, password = base64.b64decode(basic[6:]).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                user, password = "", ""
            client_id, secret = client_id or unquote_plus(user), unquote_plus(password)
        grant = form.get("grant_type")
        if not grant:
            return _error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'grant_type'.",
            )
        if grant != "client_credentials":
            return _error(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant}'.",
            )
        if not client_id:
            return _error(
                400,
                "invalid_request",
                900144,
                "The request body must contain the following parameter: 'client_id'.",
            )
        app = app_by_client_id(client_id)
        if app is None or app.tenant_id != tenant:
            return _error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory "
                f"'{tenant}'. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You may "
                "have sent your authentication request to the wrong tenant.",
            )
        if not secret:
            return _error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or "
                "'client_secret'.",
            )
        if secret != app.secret:
            return _error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is "
                "the client secret value, not the client secret ID, for a secret added to app "
                f"'{client_id}'.",
            )
        scopes = (form.get("scope") or "").split()
        if not scopes:
            return _error(
                400,
                "invalid_request",
                90014,
                "The required field 'scope' is missing from the credential. Ensure that you have "
                "all the necessary parameters for the login request.",
            )
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return _error(
                400,
                "invalid_scope",
                70011,
                "The provided request must include a 'scope' input parameter. The provided value "
                f"for the input parameter 'scope' is not valid. The scope {' '.join(scopes)} is "
                "not valid.",
            )
        resource = scopes[0][: -len("/.default")].rstrip("/")
        if resource != rt.resource_url:
            return _error(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant named "
                f"{tenant}. This can happen if the application has not been installed by the "
                "administrator of the tenant or consented to by any user in the tenant. You might "
                "have sent your authentication request to the wrong tenant.",
            )
        lifetime = rt.settings.token_lifetime
        access_token = rt.tokens.issue(app, resource, f"{rt.entra_url}/{tenant}/", lifetime)
        return JSONResponse(
            {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "access_token": access_token,
            },
            headers={"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"},
        )

    async def instance_discovery(request: Request) -> Response:
        tenant = next(iter(sorted(TENANTS)))
        host = rt.entra_url.split("://", 1)[1]
        return JSONResponse(
            {
                "tenant_discovery_endpoint": (
                    f"{rt.entra_url}/{tenant}/v2.0/.well-known/openid-configuration"
                ),
                "api-version": "1.1",
                "metadata": [
                    {"preferred_network": host, "preferred_cache": host, "aliases": [host]}
                ],
            }
        )

    routes = [
        Route("/common/discovery/instance", instance_discovery),
        Route("/{tenant}/v2.0/.well-known/openid-configuration", openid_configuration),
        Route("/{tenant}/discovery/v2.0/keys", keys),
        Route("/{tenant}/oauth2/v2.0/token", token, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.add_middleware(rt.requests.middleware("entra"))
    return app
