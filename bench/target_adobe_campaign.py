"""Benchmark the d365-to-campaign pipeline: `meltano run` from the Dataverse sandbox to Campaign.

    python -m bench.target_adobe_campaign [--contacts 20000] [--changed 0.05]   (or: make bench)

The sandbox is seeded with N D365 contacts (and N / 4 projects, linked to contacts) and an empty
Campaign. The job runs as users run it (`meltano run d365-to-campaign`, environment `test`,
plugins installed once into a temporary Meltano directory, install time not measured), three
times:

  1. initial load: every contact and project is created in Campaign;
  2. no-change rerun, `--full-refresh`: every record goes through the target again and is
     compared with Campaign; nothing should be written;
  3. ~5 % changed: that share of contacts is updated in D365 (last name, an opt-out), then an
     incremental run (change tracking) brings just those.

Reported per run, from the target's summary JSON, the Campaign sandbox's engine-call counter and
its request log: wall time of `meltano run`, records through the target per second, Campaign
write calls (POST/PATCH/DELETE) per changed record, engine calls, and read calls (GET) per
1000 records.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crm_sandbox.testing import Sandbox, launch

from tests.harness import (
    CAMPAIGN_JOB,
    CAMPAIGN_LOADER,
    CAMPAIGN_TAP,
    MeltanoProject,
    Pipeline,
    RunResult,
)

WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})


@dataclass
class RunFigures:
    """One measured `meltano run`."""

    name: str
    seconds: float
    records: int  # records the target handled (created + updated + unchanged + ...)
    changed: int  # created + updated + deleted
    writes: int  # Campaign POST/PATCH/DELETE requests
    reads: int  # Campaign GET requests
    engine_calls: int
    token_requests: int

    @property
    def records_per_second(self) -> float:
        """Records through the target per second of wall time."""
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def writes_per_change(self) -> float | None:
        """Write calls per changed record (None when nothing changed)."""
        return self.writes / self.changed if self.changed else None

    @property
    def reads_per_1000(self) -> float:
        """GET calls per 1000 records handled."""
        return 1000 * self.reads / self.records if self.records else 0.0


def measure(name: str, sb: Sandbox, run: RunResult, calls_before: int) -> RunFigures:
    """Collect one run's figures and clear the sandbox's request log for the next."""
    run.check()
    totals = run.summary["totals"]
    methods: Counter[str] = Counter()
    tokens = 0
    for request in sb.campaign.admin.requests():
        if "/campaign/" in request["path"]:
            methods[request["method"]] += 1
        elif request["path"].endswith("/token/v3"):
            tokens += 1
    sb.campaign.admin.clear_requests()
    outcomes = ("created", "updated", "unchanged", "deleted", "skipped_deletes", "rejected")
    return RunFigures(
        name=name,
        seconds=run.seconds,
        records=sum(int(totals[o]) for o in outcomes),
        changed=sum(int(totals[o]) for o in ("created", "updated", "deleted")),
        writes=sum(n for method, n in methods.items() if method in WRITES),
        reads=methods["GET"],
        engine_calls=int(sb.campaign.admin.engine_calls()["total"]) - calls_before,
        token_requests=tokens,
    )


def change_contacts(sb: Sandbox, count: int) -> int:
    """Update `count` D365 contacts (last name and an opt-out); return how many."""
    for contact_id in sb.admin.touch_rows("contacts", count):
        sb.admin.update_row("contacts", contact_id, {"lastname": "Benchmark", "donotemail": True})
    return count


def print_table(contacts: int, figures: list[RunFigures]) -> None:
    """The README table."""
    print(f"\nd365-to-campaign, {contacts:,} contacts + {contacts // 4:,} projects")
    print(
        "| run | wall s | records | records/s | changed | write calls | writes/changed "
        "| engine calls | GETs | GETs/1000 records |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for f in figures:
        per_change = f"{f.writes_per_change:.2f}" if f.writes_per_change is not None else "-"
        print(
            f"| {f.name} | {f.seconds:.1f} | {f.records:,} | {f.records_per_second:,.0f} "
            f"| {f.changed:,} | {f.writes:,} | {per_change} | {f.engine_calls:,} | {f.reads:,} "
            f"| {f.reads_per_1000:.2f} |"
        )


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000, help="D365 contacts")
    parser.add_argument("--changed", type=float, default=0.05, help="share changed in run 3")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-campaign-") as tmp:
        work = Path(tmp)
        (work / "meltano").mkdir()
        project = MeltanoProject(work / "meltano")
        install = project.install(CAMPAIGN_TAP, CAMPAIGN_LOADER)
        print(f"meltano install: {install:.1f} s (not measured)")
        started = time.monotonic()
        with launch(state_dir=work / "sandbox", contacts=args.contacts, profiles=0) as sb:
            print(f"sandbox seeded and up in {time.monotonic() - started:.1f} s")
            env = {**sb.tap_env(), **sb.target_campaign_env()}
            pipeline = Pipeline(
                project,
                "bench",
                env,
                work / "runs",
                tap=CAMPAIGN_TAP,
                loader=CAMPAIGN_LOADER,
                job=CAMPAIGN_JOB,
            )
            figures: list[RunFigures] = []
            sb.campaign.admin.clear_requests()

            calls = int(sb.campaign.admin.engine_calls()["total"])
            run = pipeline.run("1-initial", timeout=3600)
            figures.append(measure("initial load", sb, run, calls))

            calls = int(sb.campaign.admin.engine_calls()["total"])
            run = pipeline.run("2-no-change", extra_args=["--full-refresh"], timeout=3600)
            figures.append(measure("no-change rerun (--full-refresh)", sb, run, calls))

            changed = change_contacts(sb, int(args.contacts * args.changed))
            sb.campaign.admin.clear_requests()
            calls = int(sb.campaign.admin.engine_calls()["total"])
            run = pipeline.run("3-changed", timeout=3600)
            figures.append(measure(f"{changed:,} contacts changed, incremental", sb, run, calls))
            sb.admin.session.close()
            sb.campaign.admin.session.close()

    print_table(args.contacts, figures)
    print(
        f"\n{platform.node()}: {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, {datetime.now(UTC):%Y-%m-%d}"
    )
    if args.json:
        document: dict[str, Any] = {
            "contacts": args.contacts,
            "runs": [
                {
                    **asdict(f),
                    "records_per_second": f.records_per_second,
                    "writes_per_change": f.writes_per_change,
                    "reads_per_1000": f.reads_per_1000,
                }
                for f in figures
            ],
        }
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
