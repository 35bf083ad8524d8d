"""Admin API pieces shared by both vendors (`/_sandbox/...`): JSON helpers and common routes.

Common routes: `/requests` (GET, DELETE), `/faults` (GET, POST a rule, DELETE all), `/clock`
(GET, POST `{"seconds": n}` to shift it) and `/tokens/revoke` (POST). Each vendor adds its own
data, settings and limits routes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .clock import Clock
from .faults import Faults
from .requestlog import ADMIN_PREFIX, RequestLog

PREFIX = ADMIN_PREFIX
_encoder = msgspec.json.Encoder()


class _Rotating(Protocol):
    def rotate(self) -> None: ...


class AdminRuntime(Protocol):
    """What the common routes need of a vendor runtime."""

    @property
    def clock(self) -> Clock:
        """The (shared) sandbox clock."""
        ...

    @property
    def requests(self) -> RequestLog:
        """The request log."""
        ...

    @property
    def faults(self) -> Faults[Any]:
        """The fault rules."""
        ...

    @property
    def tokens(self) -> _Rotating:
        """The token service (its key rotation revokes every token)."""
        ...


def json_response(body: Any, status: int = 200) -> Response:
    """Encode `body` as a JSON response."""
    return Response(_encoder.encode(body), status_code=status, media_type="application/json")


def problem(status: int, message: str) -> Response:
    """Admin error: `{"error": message}`."""
    return json_response({"error": message}, status)


async def json_body(request: Request) -> dict[str, Any]:
    """Return the request's JSON object (an empty body is `{}`; anything else: ValueError)."""
    raw = await request.body()
    body = msgspec.json.decode(raw) if raw.strip() else {}
    if not isinstance(body, dict):
        raise ValueError("a JSON object is expected")
    return body


def common_routes(
    rt: AdminRuntime, *, on_clear_faults: Callable[[], None] | None = None
) -> list[Route]:
    """Request log, faults, clock and token revocation routes for one vendor's runtime."""

    async def requests_(request: Request) -> Response:
        if request.method == "DELETE":
            rt.requests.clear()
            return Response(status_code=204)
        return json_response(rt.requests.as_json())

    async def faults(request: Request) -> Response:
        if request.method == "DELETE":
            rt.faults.clear()
            if on_clear_faults is not None:
                on_clear_faults()
            return Response(status_code=204)
        if request.method == "POST":
            try:
                rt.faults.add(await json_body(request))
            except (TypeError, ValueError) as exc:
                return problem(400, str(exc))
        return json_response(rt.faults.describe())

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            rt.clock.shift(float((await json_body(request)).get("seconds", 0)))
        return json_response({"time": rt.clock.time(), "offset": rt.clock.offset})

    async def revoke(request: Request) -> Response:
        rt.tokens.rotate()
        return Response(status_code=204)

    return [
        Route(f"{PREFIX}/requests", requests_, methods=["GET", "DELETE"]),
        Route(f"{PREFIX}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{PREFIX}/clock", clock, methods=["GET", "POST"]),
        Route(f"{PREFIX}/tokens/revoke", revoke, methods=["POST"]),
    ]
