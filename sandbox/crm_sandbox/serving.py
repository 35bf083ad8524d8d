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


def uvicorn_server(app: Starlette, tls: TlsFiles) -> uvicorn.Server:
    """Return a TLS uvicorn server for `app` that leaves signal handling to the caller."""
    config = uvicorn.Config(
        app,
        ssl_certfile=str(tls.cert_file),
        ssl_keyfile=str(tls.key_file),
        log_level="warning",
        access_log=False,
        lifespan="off",
        http="httptools",
        loop="none",
        timeout_keep_alive=75,
        timeout_graceful_shutdown=1,  # idle keep-alive TLS peers would hold shutdown for 30 s
    )
    srv = uvicorn.Server(config)
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
