"""One sandbox process: Entra + Dataverse and Adobe IMS + Campaign, in one asyncio loop.

Both vendors share one `Clock`, so shifting it through either admin API moves both. While
listening, `endpoints.json` in the state dir holds the Dataverse endpoints at its top level and
the Campaign ones under `campaign`; it is removed on exit.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from .campaign import server as campaign_server
from .campaign.config import EVENTS_PORT, GATEWAY_PORT, IMS_PORT, SFTP_PORT
from .campaign.config import Settings as CampaignSettings
from .campaign.runtime import Runtime as CampaignRuntime
from .campaign.seed import SeedSizes as CampaignSizes
from .clock import Clock
from .dataverse import server as dataverse_server
from .dataverse.runtime import Runtime as DataverseRuntime
from .dataverse.seed import SeedSizes
from .serving import bind, local_url, publish, serve_apps, stop_on_signals
from .tls import ensure_certificates

ENDPOINTS_FILE = "endpoints.json"
ENTRA_PORT = 8443
DATAVERSE_PORT = 8444


@dataclass(frozen=True)
class ServeOptions:
    """Options of `crm-sandbox serve` (ports: 0 = any free port)."""

    state_dir: Path
    host: str = "127.0.0.1"
    entra_port: int = ENTRA_PORT
    dataverse_port: int = DATAVERSE_PORT
    ims_port: int = IMS_PORT
    gateway_port: int = GATEWAY_PORT
    events_port: int = EVENTS_PORT
    sftp_port: int = SFTP_PORT  # the Campaign SFTP storage area
    sizes: SeedSizes = field(default_factory=SeedSizes)
    campaign_sizes: CampaignSizes = field(default_factory=CampaignSizes)
    seed: int = 42
    reseed: bool = False
    no_activity_tables: bool = False  # Dataverse without the four acs_email* tables
    opt_out_export_interval: int = 0  # seconds between scheduled opt-out exports; 0 = none


async def serve(options: ServeOptions, *, stop: asyncio.Event | None = None) -> None:
    """Serve every app until `stop` is set (or SIGINT/SIGTERM when `stop` is None).

    Entra, Dataverse, IMS, the Campaign gateway, I/O Events and the Campaign SFTP storage
    area, each on its own port.
    """
    state_dir = options.state_dir.resolve()
    tls = ensure_certificates(state_dir)
    endpoints_file = state_dir / ENDPOINTS_FILE
    endpoints_file.unlink(missing_ok=True)
    socks = [
        bind(options.host, port)
        for port in (
            options.entra_port,
            options.dataverse_port,
            options.ims_port,
            options.gateway_port,
            options.events_port,
            options.sftp_port,
        )
    ]
    clock = Clock()
    dv = DataverseRuntime(
        state_dir,
        entra_url=local_url(socks[0]),
        resource_url=local_url(socks[1]),
        clock=clock,
        no_activity_tables=options.no_activity_tables,
    )
    cp = CampaignRuntime(
        state_dir,
        ims_url=local_url(socks[2]),
        gateway_url=local_url(socks[3]),
        events_url=local_url(socks[4]),
        sftp_address=campaign_server.sftp_address(socks[5]),
        settings=CampaignSettings(opt_out_export_interval=options.opt_out_export_interval),
        clock=clock,
    )

    def ready() -> None:
        info = {
            **dataverse_server.endpoints(dv, tls),
            "campaign": campaign_server.endpoints(cp, tls),
            "pid": os.getpid(),
        }
        publish(endpoints_file, info)
        print(json.dumps(info), flush=True)

    try:
        dataverse_server.ensure_seeded(dv, options.sizes, options.seed, force=options.reseed)
        campaign_server.ensure_seeded(
            cp, options.campaign_sizes, options.seed, force=options.reseed
        )
        apps = [*dataverse_server.build_apps(dv), *campaign_server.build_apps(cp)]
        served = list(zip(apps, socks[:5], strict=True))
        async with campaign_server.background(cp, socks[5]):
            await serve_apps(served, tls, stop or stop_on_signals(), ready)
    finally:
        endpoints_file.unlink(missing_ok=True)
        dv.store.close()
        cp.close()
