"""`crm-sandbox`: run or (re)seed the local Dataverse + Entra emulator."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

from .clock import Clock
from .dataverse.seed import SeedSizes, seed
from .dataverse.store import Store


def _sizes(args: argparse.Namespace) -> SeedSizes:
    return SeedSizes(
        contacts=args.contacts,
        accounts=args.accounts,
        projects=args.projects,
        tasks=args.tasks,
        categories=args.categories,
    )


def _add_seed_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", type=Path, default=Path(".sandbox"))
    parser.add_argument("--contacts", type=int, default=2000)
    parser.add_argument("--accounts", type=int, default=None, help="default: contacts / 10")
    parser.add_argument("--projects", type=int, default=None, help="default: contacts / 4")
    parser.add_argument("--tasks", type=int, default=None, help="default: 2 per project")
    parser.add_argument("--categories", type=int, default=12)
    parser.add_argument("--seed", type=int, default=42)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the console script."""
    parser = argparse.ArgumentParser(prog="crm-sandbox", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_cmd = commands.add_parser("serve", help="serve Entra + Dataverse over HTTPS")
    _add_seed_options(serve_cmd)
    serve_cmd.add_argument("--host", default="127.0.0.1")
    serve_cmd.add_argument("--entra-port", type=int, default=8443, help="0 = any free port")
    serve_cmd.add_argument("--dataverse-port", type=int, default=8444, help="0 = any free port")
    serve_cmd.add_argument("--reseed", action="store_true", help="reseed even if data matches")
    seed_cmd = commands.add_parser("seed", help="(re)create the sample data without serving")
    _add_seed_options(seed_cmd)
    args = parser.parse_args(argv)
    args.state_dir.mkdir(parents=True, exist_ok=True)
    if args.command == "seed":
        started = time.perf_counter()
        store = Store(args.state_dir.resolve() / "dataverse.sqlite3", Clock())
        counts = seed(store, _sizes(args), args.seed)
        store.close()
        print(json.dumps({"counts": counts, "seconds": round(time.perf_counter() - started, 2)}))
        return 0
    from .dataverse.server import ServeOptions, serve

    options = ServeOptions(
        state_dir=args.state_dir,
        host=args.host,
        entra_port=args.entra_port,
        dataverse_port=args.dataverse_port,
        sizes=_sizes(args),
        seed=args.seed,
        reseed=args.reseed,
    )
    try:
        import uvloop

        uvloop.run(serve(options))
    except ImportError:  # pragma: no cover - uvloop is a dependency, but stay usable without it
        asyncio.run(serve(options))
    return 0


if __name__ == "__main__":
    sys.exit(main())
