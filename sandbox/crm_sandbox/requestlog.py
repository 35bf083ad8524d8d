"""Request log shared by both vendors: every HTTP request to an emulated app (admin calls excluded).

Handlers name the caller in `scope["state"][caller_key]` (Dataverse: `app_id`, Campaign:
`client_id`); the admin API reports it under that key.

The middleware also ends requests cut short: a client that went away (starlette's
`ClientDisconnect` while the body is read, `ClientClosed` after an injected delay) is logged with
status 499 (nginx's "client closed request") and no traceback; a "drop" fault
(`ConnectionDropped`) closes the connection through the server's `DROP_EXTENSION` and is logged
with status 444 (nginx's "connection closed without response").
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import ClientDisconnect

from .clock import Clock
from .faults import ClientClosed, ConnectionDropped

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ADMIN_PREFIX = "/_sandbox"
DROP_EXTENSION = "crm_sandbox.drop_connection"  # scope["extensions"]: async () -> None
CLIENT_CLOSED = 499
CONNECTION_DROPPED = 444


@dataclass
class LoggedRequest:
    """One request as the admin API reports it."""

    app: str
    method: str
    path: str
    query: str
    status: int
    caller: str | None  # app id / API key, when known
    time: float  # sandbox clock, epoch seconds, when the request ended
    duration_ms: float
    started: float  # sandbox clock, epoch seconds, when the request arrived
    extras: dict[str, Any] = field(default_factory=dict)  # the vendor's `extra_keys`


class RequestLog:
    """A bounded in-memory log plus the ASGI middleware that fills it."""

    def __init__(
        self, clock: Clock, caller_key: str, size: int = 200_000, extra_keys: tuple[str, ...] = ()
    ) -> None:
        """Keep the last `size` requests; `caller_key` names the caller in scope state and JSON.

        `extra_keys` are further scope-state values logged under their names (Campaign: the
        SOAP action of a v8 call).
        """
        self.clock = clock
        self.caller_key = caller_key
        self.extra_keys = extra_keys
        self.entries: deque[LoggedRequest] = deque(maxlen=size)

    def as_json(self) -> list[dict[str, Any]]:
        """Return the log as JSON objects."""
        return [
            {
                "app": r.app,
                "method": r.method,
                "path": r.path,
                "query": r.query,
                "status": r.status,
                self.caller_key: r.caller,
                "time": r.time,
                "duration_ms": r.duration_ms,
                "started": r.started,
                **r.extras,
            }
            for r in self.entries
        ]

    def clear(self) -> None:
        """Empty the log."""
        self.entries.clear()

    def middleware(self, app_name: str) -> Callable[[ASGIApp], ASGIApp]:
        """Return an ASGI middleware factory logging requests to the app `app_name`."""
        log = self

        def factory(app: ASGIApp) -> ASGIApp:
            async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
                if scope["type"] != "http" or scope["path"].startswith(ADMIN_PREFIX):
                    await app(scope, receive, send)
                    return
                start = time.perf_counter()
                started = log.clock.time()
                status = [500]

                async def send_wrapper(message: MutableMapping[str, Any]) -> None:
                    if message["type"] == "http.response.start":
                        status[0] = message["status"]
                    await send(message)

                scope.setdefault("state", {})
                try:
                    await app(scope, receive, send_wrapper)
                except (ClientDisconnect, ClientClosed):
                    status[0] = CLIENT_CLOSED
                except ConnectionDropped:
                    drop = scope.get("extensions", {}).get(DROP_EXTENSION)
                    if drop is None:  # a server without the sandbox's protocol
                        raise
                    await drop()
                    status[0] = CONNECTION_DROPPED
                finally:
                    log.entries.append(
                        LoggedRequest(
                            app=app_name,
                            method=scope["method"],
                            path=scope["path"],
                            query=scope.get("query_string", b"").decode("latin-1"),
                            status=status[0],
                            caller=scope["state"].get(log.caller_key),
                            time=log.clock.time(),
                            duration_ms=round((time.perf_counter() - start) * 1000, 3),
                            started=started,
                            extras={k: scope["state"].get(k) for k in log.extra_keys},
                        )
                    )

            return middleware

        return factory
