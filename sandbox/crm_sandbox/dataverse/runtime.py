"""The running organisation: store, clock, settings, tokens, limits, faults and request log."""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from crm_sandbox.clock import Clock

from .config import Settings
from .faults import Faults
from .limits import Limiter
from .store import Store
from .tokens import TokenService

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
DB_FILE = "dataverse.sqlite3"


@dataclass
class LoggedRequest:
    """One request as the admin API reports it."""

    app: str
    method: str
    path: str
    query: str
    status: int
    app_id: str | None
    time: float  # sandbox clock, epoch seconds
    duration_ms: float


class Runtime:
    """Everything both emulated services share inside one process."""

    def __init__(
        self,
        state_dir: Path,
        *,
        entra_url: str = "https://localhost:8443",
        resource_url: str = "https://localhost:8444",
        settings: Settings | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Open the store and token key in `state_dir` (`clock` may be shared with Campaign)."""
        self.state_dir = state_dir
        self.entra_url = entra_url
        self.resource_url = resource_url
        self.clock = clock or Clock()
        self.settings = settings or Settings()
        self.store = Store(state_dir / DB_FILE, self.clock)
        self.tokens = TokenService(state_dir / "token-signing-key.pem", self.clock)
        self.limits = Limiter(self.settings.limits, self.clock)
        self.faults = Faults()
        self.requests: deque[LoggedRequest] = deque(maxlen=200_000)
        self._write_lock: asyncio.Lock | None = None

    @property
    def write_lock(self) -> asyncio.Lock:
        """Serialises writes (and whole `$batch` requests) on the event loop."""
        if self._write_lock is None:
            self._write_lock = asyncio.Lock()
        return self._write_lock

    @property
    def service_root(self) -> str:
        """Base URL of the Web API."""
        return f"{self.resource_url}/api/data/v9.2/"

    def logged(self) -> list[dict[str, Any]]:
        """Return the request log as JSON objects."""
        return [asdict(r) for r in self.requests]

    def log_middleware(self, app_name: str) -> Callable[[ASGIApp], ASGIApp]:
        """ASGI middleware factory recording each HTTP request (admin endpoints excluded)."""
        runtime = self

        def factory(app: ASGIApp) -> ASGIApp:
            async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
                if scope["type"] != "http" or scope["path"].startswith("/_sandbox"):
                    await app(scope, receive, send)
                    return
                start = time.perf_counter()
                status = [500]

                async def send_wrapper(message: MutableMapping[str, Any]) -> None:
                    if message["type"] == "http.response.start":
                        status[0] = message["status"]
                    await send(message)

                scope.setdefault("state", {})
                try:
                    await app(scope, receive, send_wrapper)
                finally:
                    runtime.requests.append(
                        LoggedRequest(
                            app=app_name,
                            method=scope["method"],
                            path=scope["path"],
                            query=scope.get("query_string", b"").decode("latin-1"),
                            status=status[0],
                            app_id=scope["state"].get("app_id"),
                            time=runtime.clock.time(),
                            duration_ms=round((time.perf_counter() - start) * 1000, 3),
                        )
                    )

            return middleware

        return factory
