"""Serve IMS and the Campaign gateway with uvicorn over TLS (the sandbox CA of `tls.py`).

Standalone: `asyncio.run(serve(CampaignServeOptions(state_dir)))` serves until SIGINT/SIGTERM
and writes `campaign-endpoints.json` while listening. Alongside other sandbox servers in one
loop, pass `stop=` (no signal handlers are installed then); or build the apps with
`build_apps(runtime)` and serve them yourself.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette

from crm_sandbox.tls import TlsFiles, ensure_certificates

from .admin import PREFIX, build_admin_routes
from .config import (
    CLIENT_ID,
    CLIENT_SECRET,
    GATEWAY_PORT,
    IMS_PORT,
    ORGANIZATION,
    SCOPE,
    Settings,
)
from .gateway import build_gateway_app
from .ims import build_ims_app
from .runtime import Runtime
from .seed import SeedSizes, seed, seed_signature

ENDPOINTS_FILE = "campaign-endpoints.json"


@dataclass(frozen=True)
class CampaignServeOptions:
    """How to run the Campaign sandbox."""

    state_dir: Path
    host: str = "127.0.0.1"
    ims_port: int = IMS_PORT  # 0 = any free port
    gateway_port: int = GATEWAY_PORT
    sizes: SeedSizes = field(default_factory=SeedSizes)
    seed: int = 42
    reseed: bool = False
    settings: Settings = field(default_factory=Settings)


def build_apps(rt: Runtime) -> tuple[Starlette, Starlette]:
    """(IMS app, gateway app with the admin API) for a runtime."""
    return build_ims_app(rt), build_gateway_app(rt, build_admin_routes(rt))


def ensure_seeded(rt: Runtime, sizes: SeedSizes, seed_value: int, *, force: bool = False) -> None:
    """Seed unless the database already holds exactly this seed and these sizes."""
    if force or rt.store.meta("seed") != seed_signature(sizes, seed_value):
        seed(rt.store, sizes, seed_value)


def endpoints(rt: Runtime, tls: TlsFiles) -> dict[str, Any]:
    """Return URLs, credentials and CA file for clients (campaign-endpoints.json)."""
    return {
        "ca_file": str(tls.ca_file),
        "ims_url": rt.ims_url,
        "token_url": f"{rt.ims_url}/ims/token/v3",
        "gateway_url": rt.gateway_url,
        "api_url": rt.api_url,
        "organization": ORGANIZATION,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scope": SCOPE,
        "admin_url": f"{rt.gateway_url}{PREFIX}",
        "pid": os.getpid(),
    }


def bind(host: str, port: int) -> socket.socket:
    """Return a listening socket (port 0 = any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


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


async def serve(
    options: CampaignServeOptions,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM when `stop` is None).

    Once both ports listen, writes campaign-endpoints.json in the state dir and calls
    `on_ready(endpoints)`; the file is removed on exit.
    """
    state_dir = options.state_dir.resolve()
    tls = ensure_certificates(state_dir)
    ims_sock = bind(options.host, options.ims_port)
    gateway_sock = bind(options.host, options.gateway_port)
    rt = Runtime(
        state_dir,
        ims_url=f"https://localhost:{ims_sock.getsockname()[1]}",
        gateway_url=f"https://localhost:{gateway_sock.getsockname()[1]}",
        settings=options.settings,
    )
    ensure_seeded(rt, options.sizes, options.seed, force=options.reseed)
    ims_app, gateway_app = build_apps(rt)
    servers = [uvicorn_server(ims_app, tls), uvicorn_server(gateway_app, tls)]
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(servers[0].serve(sockets=[ims_sock])),
        asyncio.create_task(servers[1].serve(sockets=[gateway_sock])),
    ]
    endpoints_file = state_dir / ENDPOINTS_FILE
    try:
        while not all(s.started for s in servers):
            for task in tasks:
                if task.done():
                    task.result()
                    raise RuntimeError("a Campaign sandbox server stopped while starting")
            await asyncio.sleep(0.02)
        info = endpoints(rt, tls)
        tmp = endpoints_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(endpoints_file)
        if on_ready is not None:
            on_ready(info)
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
    finally:
        endpoints_file.unlink(missing_ok=True)
        for srv in servers:
            srv.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        rt.close()
