"""Adobe I/O Events (events.adobe.io) on its own port: the journaling API of one registration.

`GET <journal path>[?since=<position>][&limit=<n>][&latest=true]`, as Adobe documents it:
200 `{"events": [{"position", "event"}], "_page": {"last", "count"}}` with
`Link: <path?since=<last>[&limit=n]>; rel="next"`; at the end of the journal 204 with
`retry-after: 10` and the `next` (same position) and `validate` links; an expired position 410
with the text `Events at position <p> have expired.`. Links are host-relative like Adobe's
(setting `journal_absolute_links` makes them absolute). A malformed `since` or `limit` is a 400
and `GET <journal path>/validate?since=<p>` answers 204 / 410 / 400 ([inference]: Adobe only
shows the link).

Auth: `Authorization: Bearer <IMS token>` (401 `401013` when missing, invalid or expired),
`x-api-key` (403 `403000` missing, `403003` unknown or not the token's client), `x-ims-org-id`
equal to the token's IMS org and a credential that owns the registration (403 `403023`
otherwise; [inference]: Adobe does not document these bodies).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .config import CLIENT_ID, JOURNAL_PATH, credential
from .errors import (
    API_KEY_INVALID,
    API_KEY_REQUIRED,
    PROFILE_INVALID,
    TOKEN_INVALID,
    CampaignError,
    gateway_error,
)
from .journal import BadPosition, ExpiredPosition

if TYPE_CHECKING:
    from .runtime import Runtime

RETRY_AFTER = "10"


def _error(error: CampaignError) -> Response:
    return JSONResponse(error.body, status_code=error.status, headers=error.headers)


def authorize(rt: Runtime, request: Request) -> None:
    """Check API key, token and IMS org; raise the gateway's CampaignError when refused."""
    key = request.headers.get("x-api-key")
    if not key:
        raise gateway_error(403, *API_KEY_REQUIRED)
    if credential(key) is None:
        raise gateway_error(403, *API_KEY_INVALID)
    request.scope["state"]["client_id"] = key
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    grant = rt.tokens.validate(token.strip()) if scheme.lower() == "bearer" else None
    if grant is None:
        raise gateway_error(401, *TOKEN_INVALID)
    if grant.credential.client_id != key:
        raise gateway_error(403, *API_KEY_INVALID)
    org = request.headers.get("x-ims-org-id", "")
    if org != grant.credential.ims_org or grant.credential.client_id != CLIENT_ID:
        raise gateway_error(403, *PROFILE_INVALID)


def _link(rt: Runtime, path: str, seq: int, limit: str | None, rel: str) -> str:
    base = rt.events_url if rt.settings.journal_absolute_links else ""
    query = f"since={quote(rt.journal.position(seq), safe='')}"
    if limit is not None:
        query += f"&limit={limit}"
    return f'<{base}{path}?{query}>; rel="{rel}"'


def _no_content(rt: Runtime, seq: int, limit: str | None) -> Response:
    response = Response(status_code=204, headers={"retry-after": RETRY_AFTER})
    for path, rel in ((JOURNAL_PATH, "next"), (f"{JOURNAL_PATH}/validate", "validate")):
        response.raw_headers.append((b"link", _link(rt, path, seq, limit, rel).encode()))
    return response


def _limit(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) < 1:
        raise ValueError(value)
    return int(value)


def _bad_request(message: str) -> Response:
    return PlainTextResponse(message, status_code=400)


def _gone(position: str) -> Response:
    return PlainTextResponse(f"Events at position {position} have expired.", status_code=410)


def read(rt: Runtime, request: Request) -> Response:
    """One journaling call (already authorized)."""
    params = request.query_params
    limit_text = params.get("limit")
    try:
        limit = _limit(limit_text)
    except ValueError:
        return _bad_request(f"Invalid limit {limit_text}: a positive integer is expected.")
    journal = rt.journal
    journal.purge()
    since = params.get("since")
    if since is not None:
        try:
            after = journal.parse(since)
        except BadPosition:
            return _bad_request(f"Invalid position {since}.")
        except ExpiredPosition:
            return _gone(since)
    elif params.get("latest", "").lower() == "true":
        after = journal.end()
    else:
        after = journal.purged_through()
    entries = journal.read(after, limit)
    if not entries:
        return _no_content(rt, after, limit_text)
    last = entries[-1].seq
    body = {
        "events": [{"position": journal.position(e.seq), "event": e.event} for e in entries],
        "_page": {"last": journal.position(last), "count": len(entries)},
    }
    return JSONResponse(body, headers={"link": _link(rt, JOURNAL_PATH, last, limit_text, "next")})


def validate(rt: Runtime, request: Request) -> Response:
    """Whether a `since` position can still be read from (204), expired (410) or bad (400)."""
    since = request.query_params.get("since", "")
    rt.journal.purge()
    try:
        rt.journal.parse(since)
    except BadPosition:
        return _bad_request(f"Invalid position {since}.")
    except ExpiredPosition:
        return _gone(since)
    return Response(status_code=204)


def build_events_app(rt: Runtime) -> Starlette:
    """Return the I/O Events ASGI app (own port)."""

    def endpoint(
        handler: Callable[[Runtime, Request], Response],
    ) -> Callable[[Request], Awaitable[Response]]:
        async def call(request: Request) -> Response:
            path = request.url.path
            fault = await rt.faults.apply("before", "events", request, path)
            if fault is not None:
                return _error(fault)
            try:
                authorize(rt, request)
                response = handler(rt, request)
            except CampaignError as error:
                response = _error(error)
            fault = await rt.faults.apply("after", "events", request, path)
            return response if fault is None else _error(fault)

        return call

    async def unknown(request: Request) -> Response:
        return JSONResponse({"error_code": "404", "message": "Not Found"}, status_code=404)

    app = Starlette(
        routes=[
            Route(JOURNAL_PATH, endpoint(read), methods=["GET"]),
            Route(f"{JOURNAL_PATH}/validate", endpoint(validate), methods=["GET"]),
            Route("/{path:path}", unknown, methods=["GET", "POST", "PUT", "PATCH", "DELETE"]),
        ]
    )
    app.add_middleware(rt.requests.middleware("events"))
    return app
