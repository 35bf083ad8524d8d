"""Serve ASGI apps with uvicorn over TLS in the current asyncio loop (shared by both vendors)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .requestlog import DROP_EXTENSION
from .tls import TlsFiles


class StopOnExit:
    """Base of running-sandbox handles: `with handle:` calls `stop()` on exit."""

    def stop(self) -> None:
        """Stop serving."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        """Use as a context manager (the sandbox is already running)."""
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop on exit."""
        self.stop()


def bind(host: str, port: int) -> socket.socket:
    """Return a listening socket (port 0 = any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def local_url(sock: socket.socket) -> str:
    """`https://localhost:<port>` of a bound socket (the certificate names `localhost`)."""
    return f"https://localhost:{sock.getsockname()[1]}"


class SandboxHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, offering apps a way to drop the connection.

    Each request's scope gets `extensions[DROP_EXTENSION]`: a coroutine function that aborts
    the connection (no answer, no TLS close_notify) and returns once the server saw it close.
    """

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Also start watching for the connection's end."""
        self.lost = asyncio.Event()
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        """Also wake a pending drop."""
        super().connection_lost(exc)
        self.lost.set()

    def on_message_begin(self) -> None:
        """Also offer the drop extension to the request."""
        super().on_message_begin()
        self.scope["extensions"] = {DROP_EXTENSION: self.drop}  # type: ignore[dict-item]

    async def drop(self) -> None:
        """Abort the connection; return once the request cycle knows it is gone."""
        self.transport.abort()
        await self.lost.wait()


class SandboxServer(uvicorn.Server):
    """A uvicorn server whose shutdown does not wait for idle keep-alive connections.

    uvicorn closes idle connections with `transport.close()`, which over TLS waits for the
    peer's close_notify; pooled client connections never send it, so shutdown sat out
    `timeout_graceful_shutdown` and then logged "ERROR: Cancel 0 running task(s), timeout
    graceful shutdown exceeded". Idle connections are aborted instead (nothing is lost: no
    request is in flight on them); busy ones finish their response as before.
    """

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        """Abort idle connections, then shut down as uvicorn does."""
        for connection in list(self.server_state.connections):
            cycle = getattr(connection, "cycle", None)
            transport = getattr(connection, "transport", None)
            if transport is not None and (cycle is None or cycle.response_complete):
                transport.abort()
        await super().shutdown(sockets)


def uvicorn_server(app: Starlette, tls: TlsFiles) -> uvicorn.Server:
    """Return a TLS uvicorn server for `app` that leaves signal handling to the caller."""
    config = uvicorn.Config(
        app,
        ssl_certfile=str(tls.cert_file),
        ssl_keyfile=str(tls.key_file),
        log_level="warning",
        access_log=False,
        lifespan="off",
        http=SandboxHttpProtocol,
        loop="none",
        timeout_keep_alive=75,
        timeout_graceful_shutdown=1,  # in-flight requests only: idle connections are aborted
    )
    srv = SandboxServer(config)
    srv.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    return srv


def stop_on_signals() -> asyncio.Event:
    """Return an event set by SIGINT/SIGTERM (the loop handles them, not uvicorn)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return stop


async def serve_apps(
    apps: Sequence[tuple[Starlette, socket.socket]],
    tls: TlsFiles,
    stop: asyncio.Event,
    on_ready: Callable[[], None],
) -> None:
    """Serve each app on its socket; call `on_ready` once all listen; return when `stop` is set.

    Also returns (or raises) as soon as one server ends on its own.
    """
    servers = [uvicorn_server(app, tls) for app, _ in apps]
    tasks = [
        asyncio.create_task(srv.serve(sockets=[sock]))
        for srv, (_, sock) in zip(servers, apps, strict=True)
    ]
    try:
        while not all(s.started for s in servers):
            for task in tasks:
                if task.done():
                    task.result()
                    raise RuntimeError("a sandbox server stopped while starting")
            await asyncio.sleep(0.02)
        on_ready()
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    finally:
        for srv in servers:
            srv.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)


def publish(path: Path, info: dict[str, Any]) -> None:
    """Write `info` as JSON atomically (readers polling for the file never see half of it)."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(info, indent=2))
    tmp.replace(path)


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine on uvloop when available."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency, but stay usable without it
        asyncio.run(main)
    else:
        uvloop.run(main)
