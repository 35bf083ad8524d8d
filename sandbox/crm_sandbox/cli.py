"""`crm-sandbox`: run or (re)seed the local Dataverse + Entra and Adobe Campaign + IMS emulators."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from .campaign import optout_export
from .campaign.config import EVENTS_PORT, GATEWAY_PORT, IMS_PORT, SFTP_PORT
from .campaign.runtime import Runtime as CampaignRuntime
from .campaign.seed import SeedSizes as CampaignSizes
from .campaign.seed import seed as seed_campaign
from .clock import Clock
from .dataverse.runtime import DB_FILE
from .dataverse.seed import SeedSizes
from .dataverse.seed import seed as seed_dataverse
from .dataverse.store import Store
from .server import DATAVERSE_PORT, ENTRA_PORT, ServeOptions, serve
from .serving import run


def _sizes(args: argparse.Namespace) -> SeedSizes:
    return SeedSizes(
        contacts=args.contacts,
        accounts=args.accounts,
        projects=args.projects,
        tasks=args.tasks,
        categories=args.categories,
        salesorders=args.salesorders,
    )


def _campaign_sizes(args: argparse.Namespace) -> CampaignSizes:
    profiles = args.contacts if args.profiles is None else args.profiles
    return CampaignSizes(profiles=profiles, projects=args.campaign_projects)


def _add_seed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=Path(".sandbox"))
    parser.add_argument("--contacts", type=int, default=2000, help="Dataverse contacts")
    parser.add_argument("--accounts", type=int, default=None, help="default: contacts / 10")
    parser.add_argument("--projects", type=int, default=None, help="default: contacts / 4")
    parser.add_argument("--tasks", type=int, default=None, help="default: 2 per project")
    parser.add_argument("--categories", type=int, default=12)
    parser.add_argument(
        "--salesorders", type=int, default=None, help="Dataverse salesorder; default: contacts / 2"
    )
    parser.add_argument(
        "--profiles", type=int, default=None, help="Campaign profiles; default: --contacts"
    )
    parser.add_argument(
        "--campaign-projects", type=int, default=None, help="Campaign cusProject; profiles / 4"
    )
    parser.add_argument("--seed", type=int, default=42)


def _port(parser: argparse.ArgumentParser, name: str, default: int) -> None:
    parser.add_argument(f"--{name}-port", type=int, default=default, help="0 = any free port")


def _seed(args: argparse.Namespace) -> dict[str, dict[str, int]]:
    state_dir = args.state_dir.resolve()
    clock = Clock()
    dv_store = Store(state_dir / DB_FILE, clock)
    cp = CampaignRuntime(state_dir, clock=clock)
    try:
        return {
            "dataverse": seed_dataverse(dv_store, _sizes(args), args.seed),
            "campaign": _seed_campaign(cp, args),
        }
    finally:
        dv_store.close()
        cp.close()


def _seed_campaign(cp: CampaignRuntime, args: argparse.Namespace) -> dict[str, int]:
    counts = seed_campaign(cp.store, _campaign_sizes(args), args.seed)
    optout_export.clear(cp.state_dir)  # a new instance: no exports, no watermark
    return counts


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="crm-sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser(
        "serve", help="serve the five HTTPS apps and the Campaign SFTP storage area"
    )
    _add_seed_options(serve_cmd)
    serve_cmd.add_argument("--host", default="127.0.0.1")
    _port(serve_cmd, "entra", ENTRA_PORT)
    _port(serve_cmd, "dataverse", DATAVERSE_PORT)
    _port(serve_cmd, "ims", IMS_PORT)
    _port(serve_cmd, "gateway", GATEWAY_PORT)
    _port(serve_cmd, "events", EVENTS_PORT)
    _port(serve_cmd, "sftp", SFTP_PORT)
    serve_cmd.add_argument(
        "--opt-out-export-interval",
        type=int,
        default=0,
        metavar="SECONDS",
        help="run Campaign's opt-out export workflow every SECONDS (sandbox clock); Adobe runs"
        " it daily (86400); 0 = only when triggered (default)",
    )
    serve_cmd.add_argument("--reseed", action="store_true", help="reseed even if data matches")
    serve_cmd.add_argument(
        "--no-activity-tables",
        action="store_true",
        help="Dataverse org without Adobe's solution: no acs_email* activity tables",
    )
    seed_cmd = commands.add_parser("seed", help="(re)create the sample data without serving")
    _add_seed_options(seed_cmd)
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    if args.command == "seed":
        started = time.perf_counter()
        counts = _seed(args)
        print(json.dumps({"counts": counts, "seconds": round(time.perf_counter() - started, 2)}))
        return 0
    options = ServeOptions(
        state_dir=args.state_dir,
        host=args.host,
        entra_port=args.entra_port,
        dataverse_port=args.dataverse_port,
        ims_port=args.ims_port,
        gateway_port=args.gateway_port,
        events_port=args.events_port,
        sftp_port=args.sftp_port,
        opt_out_export_interval=args.opt_out_export_interval,
        sizes=_sizes(args),
        campaign_sizes=_campaign_sizes(args),
        seed=args.seed,
        reseed=args.reseed,
        no_activity_tables=args.no_activity_tables,
    )
    run(serve(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
