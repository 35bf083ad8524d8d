"""The Campaign half of the sandbox: its apps, seeding and client-facing endpoints.

`crm_sandbox.server.serve` runs these apps next to the Dataverse ones in one loop. Standalone
(tests, `inprocess.start_in_thread`): `serve(CampaignServeOptions(state_dir))` serves until
`stop` is set (or SIGINT/SIGTERM) and writes `campaign-endpoints.json` while listening. Next to
the HTTPS apps run the SFTP storage area and the opt-out export schedule (`background`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette

from crm_sandbox.serving import bind, local_url, publish, serve_apps, stop_on_signals
from crm_sandbox.tls import TlsFiles, ensure_certificates

from . import import_workflows, optout_export, sftp, workflows
from .admin import PREFIX, build_admin_routes
from .config import (
    CLIENT_ID,
    CLIENT_SECRET,
    CREDENTIALS,
    EVENTS_PORT,
    GATEWAY_PORT,
    IMPORTS_DIR,
    IMS_PORT,
    OPERATOR_LOGIN,
    OPERATOR_PASSWORD,
    OPT_OUT_EXPORTS_DIR,
    ORGANIZATION,
    REJECTS_DIR,
    SCOPE,
    SFTP_PASSWORD,
    SFTP_PORT,
    SFTP_USERNAME,
    Settings,
)
from .events import build_events_app
from .gateway import build_gateway_app
from .ims import build_ims_app
from .runtime import Runtime
from .seed import SeedSizes, seed, seed_signature
from .v8 import router as v8_router

ENDPOINTS_FILE = "campaign-endpoints.json"


@dataclass(frozen=True)
class CampaignServeOptions:
    """How to run the Campaign sandbox."""

    state_dir: Path
    host: str = "127.0.0.1"
    ims_port: int = IMS_PORT  # 0 = any free port
    gateway_port: int = GATEWAY_PORT
    events_port: int = EVENTS_PORT
    sftp_port: int = SFTP_PORT
    sizes: SeedSizes = field(default_factory=SeedSizes)
    seed: int = 42
    reseed: bool = False
    settings: Settings = field(default_factory=Settings)


def build_apps(rt: Runtime) -> tuple[Starlette, Starlette, Starlette]:
    """(IMS app, gateway app with the admin API, I/O Events app) for a runtime."""
    return build_ims_app(rt), build_gateway_app(rt, build_admin_routes(rt)), build_events_app(rt)


def ensure_seeded(rt: Runtime, sizes: SeedSizes, seed_value: int, *, force: bool = False) -> None:
    """Seed unless the database already holds exactly this seed and these sizes."""
    if force or rt.store.meta("seed") != seed_signature(sizes, seed_value):
        seed(rt.store, sizes, seed_value)
        optout_export.clear(rt.state_dir)  # a new instance: no exports, no watermark
    optout_export.ensure_dirs(rt.state_dir)


def sftp_address(sock: socket.socket) -> tuple[str, int]:
    """(host, port) clients connect to for a bound SFTP socket (a wildcard becomes loopback)."""
    host, port = sock.getsockname()[:2]
    return ("127.0.0.1" if host in ("0.0.0.0", "::") else host), port


@contextlib.asynccontextmanager
async def background(rt: Runtime, sftp_sock: socket.socket) -> AsyncIterator[None]:
    """Serve the SFTP storage area and run the opt-out export schedule while inside.

    Import runs left in progress by an earlier process are marked erroneous on entry; runs in
    progress on exit are cancelled (erroneous, their written batches kept).
    """
    acceptor = await sftp.start_server(sftp_sock, rt.state_dir, rt.drop_root, rt.sftp_host_key)
    import_workflows.recover(rt)
    done = asyncio.Event()
    schedule = asyncio.create_task(workflows.run_schedule(rt, done))
    try:
        yield
    finally:
        await rt.imports.cancel_all("The Campaign instance stopped during the run.")
        done.set()
        acceptor.close()
        with contextlib.suppress(Exception):
            await acceptor.wait_closed()
        await asyncio.gather(schedule, return_exceptions=True)


def endpoints(rt: Runtime, tls: TlsFiles) -> dict[str, Any]:
    """Return URLs, credentials and CA file for clients.

    This is campaign-endpoints.json and the `campaign` section of endpoints.json.
    `api_base_url` is the gateway root (the plugins' setting); the API base is `api_url`.
    `gateway_url` and `scope` repeat `api_base_url` and `scopes` under their first names.
    `journal_url` is the I/O Events journaling endpoint (its own port, `events_url`), called
    with `x-ims-org-id: <ims_org_id>`. `sftp_*` is the SFTP storage area (`sftp_host_key`: the
    OpenSSH public key line to pin) and `opt_out_exports_dir` the folder of the opt-out exports;
    `imports_dir` is where the login may write files for the import workflows, `rejects_dir`
    where those write their rejects.
    `soap_url` is the v8 SOAP router; `operator_*` its operator for `xtk:session#Logon`.
    """
    sftp_host, sftp_port = rt.sftp_address
    return {
        "ca_file": str(tls.ca_file),
        "ims_url": rt.ims_url,
        "token_url": f"{rt.ims_url}/ims/token/v3",
        "api_base_url": rt.gateway_url,
        "gateway_url": rt.gateway_url,
        "api_url": rt.api_url,
        "organization": ORGANIZATION,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "scopes": SCOPE,
        "scope": SCOPE,
        "admin_url": f"{rt.gateway_url}{PREFIX}",
        "events_url": rt.events_url,
        "journal_url": rt.journal_url,
        "ims_org_id": CREDENTIALS[0].ims_org,
        "sftp_host": sftp_host,
        "sftp_port": sftp_port,
        "sftp_username": SFTP_USERNAME,
        "sftp_password": SFTP_PASSWORD,
        "sftp_host_key": sftp.public_key_line(rt.sftp_host_key),
        "opt_out_exports_dir": OPT_OUT_EXPORTS_DIR,
        "imports_dir": IMPORTS_DIR,
        "rejects_dir": REJECTS_DIR,
        "soap_url": f"{rt.gateway_url}{v8_router.PATH}",
        "operator_login": OPERATOR_LOGIN,
        "operator_password": OPERATOR_PASSWORD,
    }


async def serve(
    options: CampaignServeOptions,
    *,
    stop: asyncio.Event | None = None,
    on_ready: Callable[[dict[str, Any]], None] | None = None,
) -> None:
    """Serve until `stop` is set (or SIGINT/SIGTERM when `stop` is None).

    Once all four ports listen (IMS, gateway, I/O Events, SFTP), writes campaign-endpoints.json
    in the state dir and calls `on_ready(endpoints)`; the file is removed on exit.
    """
    state_dir = options.state_dir.resolve()
    tls = ensure_certificates(state_dir)
    ims_sock = bind(options.host, options.ims_port)
    gateway_sock = bind(options.host, options.gateway_port)
    events_sock = bind(options.host, options.events_port)
    sftp_sock = bind(options.host, options.sftp_port)
    rt = Runtime(
        state_dir,
        ims_url=local_url(ims_sock),
        gateway_url=local_url(gateway_sock),
        events_url=local_url(events_sock),
        sftp_address=sftp_address(sftp_sock),
        settings=options.settings,
    )
    endpoints_file = state_dir / ENDPOINTS_FILE

    def ready() -> None:
        info = {**endpoints(rt, tls), "pid": os.getpid()}
        publish(endpoints_file, info)
        if on_ready is not None:
            on_ready(info)

    try:
        ensure_seeded(rt, options.sizes, options.seed, force=options.reseed)
        ims_app, gateway_app, events_app = build_apps(rt)
        apps = [(ims_app, ims_sock), (gateway_app, gateway_sock), (events_app, events_sock)]
        async with background(rt, sftp_sock):
            await serve_apps(apps, tls, stop or stop_on_signals(), ready)
    finally:
        endpoints_file.unlink(missing_ok=True)
        rt.close()
