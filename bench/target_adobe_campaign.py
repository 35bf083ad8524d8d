"""Benchmark the d365-to-campaign pipeline: `meltano run` from the Dataverse sandbox to Campaign.

    python -m bench.target_adobe_campaign [--contacts 20000] [--changed 0.05] [--latency-ms 100]
        [--bulk] [--no-rerun] [--max-concurrency N]                          (or: make bench)

The sandbox is seeded with N D365 contacts (and N / 4 projects, linked to contacts) and an empty
Campaign; the job reads `--tables` (contacts and projects; add `account,salesorder,...` for the
other tables of `meltano.yml`). The job runs as users run it (`meltano run d365-to-campaign`,
environment `test`, plugins installed once into a temporary Meltano directory, install time not
measured), three times:

  1. initial load: every contact and project is created in Campaign;
  2. no-change rerun, `--full-refresh`: every record goes through the target again and is
     compared with Campaign; nothing should be written;
  3. ~5 % changed: that share of contacts is updated in D365 (last name, an opt-out), then an
     incremental run (change tracking) brings just those.

With `--bulk` the target's creates go through the import workflows (`WKF_IMPORT_PROFILE`,
`WKF_IMPORT_CUSPROJECT`, ...: files on the sandbox's SFTP storage); `--no-rerun` skips run 2 (at a
million contacts it costs as much as the initial load). The key index is kept between runs
(`key_index_dir`, as `meltano.yml` does), so run 3 reads only what changed.

Reported per run, from the target's summary JSON, the Campaign sandbox's engine-call counter and
its request log: wall time of `meltano run`, records through the target per second, Campaign
write calls (POST/PATCH/DELETE) per changed record, all calls per changed record, engine
calls, read calls (GET) per 1000 records, the concurrency reached at the gateway, and the peak
RSS of the tap and the target (`bench.rss`).
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

import yaml
from crm_sandbox.testing import Sandbox, launch

from bench.latency import Concurrency, add_latency_option, concurrency, inject_latency
from bench.rss import PeakMemory
from tests.harness import (
    CAMPAIGN_JOB,
    CAMPAIGN_LOADER,
    CAMPAIGN_TAP,
    REPO_ROOT,
    WIZARD_GOLDEN,
    WIZARD_TABLES,
    MeltanoProject,
    Pipeline,
    RunResult,
)

WRITES = frozenset({"POST", "PATCH", "PUT", "DELETE"})
#: The D365 tables read (`--tables`): contacts and their projects, as the issue's volume runs.
DEFAULT_TABLES = "contact,new_project"
PROCESSES = ("tap-dynamics365", "target-adobe-campaign", "meltano")


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
    reached: Concurrency
    peak_rss_mb: dict[str, float]

    @property
    def records_per_second(self) -> float:
        """Records through the target per second of wall time."""
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def writes_per_change(self) -> float | None:
        """Write calls per changed record (None when nothing changed)."""
        return self.writes / self.changed if self.changed else None

    @property
    def calls_per_change(self) -> float | None:
        """Campaign calls of any kind (reads included) per changed record."""
        return (self.writes + self.reads) / self.changed if self.changed else None

    @property
    def reads_per_1000(self) -> float:
        """GET calls per 1000 records handled."""
        return 1000 * self.reads / self.records if self.records else 0.0


def measure(
    name: str, sb: Sandbox, run: RunResult, calls_before: int, peaks: PeakMemory
) -> RunFigures:
    """Collect one run's figures and clear the sandbox's request log for the next."""
    run.check()
    totals = run.summary["totals"]
    methods: Counter[str] = Counter()
    tokens = 0
    log = sb.campaign.admin.requests()
    for request in log:
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
        reached=concurrency(log, app="gateway", path="/campaign/"),
        peak_rss_mb={name: round(peaks.mb[name], 1) for name in PROCESSES if name in peaks.mb},
    )


def change_contacts(sb: Sandbox, count: int) -> int:
    """Update `count` D365 contacts (last name and an opt-out); return how many."""
    for contact_id in sb.admin.touch_rows("contacts", count):
        sb.admin.update_row("contacts", contact_id, {"lastname": "Benchmark", "donotemail": True})
    return count


def ratio(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "-"


def print_table(contacts: int, latency_ms: int, figures: list[RunFigures]) -> None:
    """The README table."""
    print(
        f"\nd365-to-campaign, {contacts:,} contacts + {contacts // 4:,} projects, "
        f"{latency_ms} ms per call"
    )
    print(
        "| run | wall s | records | records/s | changed | write calls | writes/changed "
        "| calls/changed | engine calls | GETs | GETs/1000 records | in flight max / mean "
        "| peak RSS MB tap / target |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for f in figures:
        rss = " / ".join(f"{f.peak_rss_mb.get(n, 0):.0f}" for n in PROCESSES[:2])
        print(
            f"| {f.name} | {f.seconds:.1f} | {f.records:,} | {f.records_per_second:,.0f} "
            f"| {f.changed:,} | {f.writes:,} | {ratio(f.writes_per_change)} "
            f"| {ratio(f.calls_per_change)} | {f.engine_calls:,} | {f.reads:,} "
            f"| {f.reads_per_1000:.2f} | {f.reached.max} / {f.reached.mean:.1f} | {rss} |"
        )
    if len(figures) > 1:
        print(f"last run / initial load, wall time: {figures[-1].seconds / figures[0].seconds:.3f}")


def bulk_env(sb: Sandbox) -> dict[str, str]:
    """The target's settings for `--bulk`: meltano.yml's resources with import workflows, SFTP."""
    project = yaml.safe_load((REPO_ROOT / "meltano.yml").read_text())
    (loader,) = (p for p in project["plugins"]["loaders"] if p["name"] == CAMPAIGN_LOADER)
    resources = loader["config"]["resources"]
    for stream, route in resources.items():
        if not stream.endswith("_deletes"):  # the tenant's workflow of each resource
            route["import_workflow"] = "WKF_IMPORT_" + route["resource"].upper()
    c = sb.campaign
    return {
        "TARGET_ADOBE_CAMPAIGN_RESOURCES": json.dumps(resources),
        "TARGET_ADOBE_CAMPAIGN_BULK": "auto",
        "TARGET_ADOBE_CAMPAIGN_SFTP_HOST": c.sftp_host,
        "TARGET_ADOBE_CAMPAIGN_SFTP_PORT": str(c.sftp_port),
        "TARGET_ADOBE_CAMPAIGN_SFTP_USERNAME": c.sftp_username,
        "TARGET_ADOBE_CAMPAIGN_SFTP_PASSWORD": c.sftp_password,
        "TARGET_ADOBE_CAMPAIGN_SFTP_HOST_KEY": c.sftp_host_key,
    }


def index_size_mb(pipeline: Pipeline) -> float:
    """Disk taken by the kept key indexes."""
    folder = pipeline.work_dir / "key-index"
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000, help="D365 contacts")
    parser.add_argument("--changed", type=float, default=0.05, help="share changed in run 3")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--bulk", action="store_true", help="creates through import workflows")
    parser.add_argument("--no-rerun", action="store_true", help="skip the no-change rerun")
    parser.add_argument("--max-concurrency", type=int, help="the target's max_concurrency")
    parser.add_argument(
        "--tables", default=DEFAULT_TABLES, help=f"D365 tables read (default {DEFAULT_TABLES})"
    )
    add_latency_option(parser)
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
            for table in WIZARD_TABLES:  # cusAccount, cusSalesorder: as the administrator does
                definition = json.loads((WIZARD_GOLDEN / table / "resource.json").read_text())
                sb.campaign.admin.publish_resource(definition)
            inject_latency(sb.admin, args.latency_ms)
            inject_latency(sb.campaign.admin, args.latency_ms)
            env = {**sb.tap_env(), **sb.target_campaign_env()}
            env["TAP_DYNAMICS365__CAMPAIGN_TABLES"] = json.dumps(args.tables.split(","))
            if args.bulk:
                env |= bulk_env(sb)
            if args.max_concurrency:
                env["TARGET_ADOBE_CAMPAIGN_MAX_CONCURRENCY"] = str(args.max_concurrency)
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
            with PeakMemory() as peaks:
                run = pipeline.run("1-initial", timeout=7200)
            figures.append(measure("initial load", sb, run, calls, peaks))

            if not args.no_rerun:
                calls = int(sb.campaign.admin.engine_calls()["total"])
                with PeakMemory() as peaks:
                    run = pipeline.run("2-no-change", extra_args=["--full-refresh"], timeout=7200)
                figures.append(measure("no-change rerun (--full-refresh)", sb, run, calls, peaks))

            changed = change_contacts(sb, int(args.contacts * args.changed))
            sb.campaign.admin.clear_requests()
            calls = int(sb.campaign.admin.engine_calls()["total"])
            with PeakMemory() as peaks:
                run = pipeline.run("3-changed", timeout=7200)
            name = f"{changed:,} contacts changed, incremental"
            figures.append(measure(name, sb, run, calls, peaks))
            index_mb = index_size_mb(pipeline)
            sb.admin.session.close()
            sb.campaign.admin.session.close()

    print_table(args.contacts, args.latency_ms, figures)
    print(f"key indexes on disk: {index_mb:.1f} MB")
    print(
        f"\n{platform.node()}: {platform.processor() or platform.machine()}, Python "
        f"{platform.python_version()}, {datetime.now(UTC):%Y-%m-%d}"
    )
    if args.json:
        document: dict[str, Any] = {
            "contacts": args.contacts,
            "latency_ms": args.latency_ms,
            "bulk": args.bulk,
            "max_concurrency": args.max_concurrency,
            "key_index_mb": index_mb,
            "runs": [
                {
                    **asdict(f),
                    "records_per_second": f.records_per_second,
                    "writes_per_change": f.writes_per_change,
                    "calls_per_change": f.calls_per_change,
                    "reads_per_1000": f.reads_per_1000,
                }
                for f in figures
            ],
        }
        args.json.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
