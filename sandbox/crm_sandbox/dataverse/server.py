"""Run the Entra and Dataverse apps with uvicorn (TLS) in one asyncio loop."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn

from crm_sandbox.tls import ensure_certificates

from .admin import PREFIX, build_admin_routes
from .api import build_dataverse_app
from .config import CLIENT_ID, CLIENT_SECRET, TENANT_ID
from .entra import build_entra_app
from .runtime import Runtime
from .seed import SeedSizes, seed, seed_signature

ENDPOINTS_FILE = "endpoints.json"


@dataclass(frozen=True)
class ServeOptions:
    """Command-line options of `crm-sandbox serve`."""

    state_dir: Path
    host: str = "127.0.0.1"
    entra_port: int = 8443
    dataverse_port: int = 8444
    sizes: SeedSizes = field(default_factory=SeedSizes)
    seed: int = 42
    reseed: bool = False


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def ensure_seeded(rt: Runtime, sizes: SeedSizes, seed_value: int, *, force: bool = False) -> None:
    """Seed unless the database already holds exactly this seed and these sizes."""
    if force or rt.store.meta("seed") != seed_signature(sizes, seed_value):
        seed(rt.store, sizes, seed_value)


async def serve(options: ServeOptions) -> None:
    """Serve until SIGINT/SIGTERM; write endpoints.json while listening."""
    state_dir = options.state_dir.resolve()
    tls = ensure_certificates(state_dir)
    endpoints = state_dir / ENDPOINTS_FILE
    endpoints.unlink(missing_ok=True)
    entra_sock = _bind(options.host, options.entra_port)
    dataverse_sock = _bind(options.host, options.dataverse_port)
    entra_url = f"https://localhost:{entra_sock.getsockname()[1]}"
    resource_url = f"https://localhost:{dataverse_sock.getsockname()[1]}"
    rt = Runtime(state_dir, entra_url=entra_url, resource_url=resource_url)
    ensure_seeded(rt, options.sizes, options.seed, force=options.reseed)

    def server(app: object) -> uvicorn.Server:
        config = uvicorn.Config(
            app,  # type: ignore[arg-type]
            ssl_certfile=str(tls.cert_file),
            ssl_keyfile=str(tls.key_file),
            log_level="warning",
            access_log=False,
            lifespan="off",
            http="httptools",
            loop="none",
            timeout_keep_alive=75,
            timeout_graceful_shutdown=1,
        )
        return uvicorn.Server(config)

    servers = [
        server(build_entra_app(rt)),
        server(build_dataverse_app(rt, build_admin_routes(rt))),
    ]
    for srv in servers:  # this loop handles signals (uvicorn would re-raise them on exit)
        srv.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    tasks = [
        asyncio.create_task(servers[0].serve(sockets=[entra_sock])),
        asyncio.create_task(servers[1].serve(sockets=[dataverse_sock])),
    ]
    try:
        while not all(s.started for s in servers):
            if any(t.done() for t in tasks):
                for t in tasks:
                    if t.done():
                        t.result()
                raise RuntimeError("a sandbox server stopped while starting")
            await asyncio.sleep(0.02)
        info = {
            "ca_file": str(tls.ca_file),
            "authority_host": entra_url,
            "tenant_id": TENANT_ID,
            "authority": f"{entra_url}/{TENANT_ID}",
            "resource_url": resource_url,
            "api_url": f"{resource_url}/api/data/v9.2/",
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "admin_url": f"{resource_url}{PREFIX}",
            "pid": os.getpid(),
        }
        tmp = endpoints.with_suffix(".tmp")
        tmp.write_text(json.dumps(info, indent=2))
        tmp.replace(endpoints)
        print(json.dumps(info), flush=True)
        waiter = asyncio.create_task(stop.wait())
        await asyncio.wait([waiter, *tasks], return_when=asyncio.FIRST_COMPLETED)
    finally:
        endpoints.unlink(missing_ok=True)
        for srv in servers:
            srv.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.gather(*tasks, return_exceptions=True)
        rt.store.close()
