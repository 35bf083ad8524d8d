"""Benchmark target-adobe-campaign with `backend: v8`: D365 contacts, accounts and orders.

    python -m bench.target_adobe_campaign_v8 [--contacts 20000] [--accounts N] [--salesorders N]
        [--changed 0.05] [--latency-ms 100] [--no-baseline] [--json FILE]    (or: make bench)

For each latency (0 ms, then `--latency-ms`, default 100, the "realistic" table; `--no-baseline`
runs only the latter), a fresh sandbox is seeded with N D365 contacts, N / 10 accounts and N / 2
sales orders (`salesorder`, each on a contact or an account) and an empty Campaign, then:

  0. set-up (not measured): `target-adobe-campaign-wizard --tables account,salesorder --apply`
     generates the `cus:account` / `cus:salesorder` source schemas and config entries from
     the Dataverse metadata and builds the schemas on the sandbox's v8 SOAP router;
     tap-dynamics365 reads contact, account, salesorder and option_sets into a Singer file
     (its `tables` setting lists contact, account, salesorder: the tap reads them in that
     order, so parents come before the records that link to them);
  1. initial load: that file piped into `target-adobe-campaign --config …` with `backend: v8`;
  2. `--changed` (5 %) of each table changed in D365 (contacts: last name and an opt-out;
     accounts: name; orders: description), read incrementally by the tap from the target's
     last STATE, and piped into the target;
  3. no-change rerun: the tap reads every row again (as `--full-refresh` would) and the target
     compares every record with Campaign: nothing should be written.

The target's config is what a v8 job of meltano.yml would give it: the contact route, stream
map and enumeration of target-adobe-campaign in meltano.yml (read from the file at run time),
the account and salesorder entries the wizard wrote (`meltano.v8.yml`), `backend: v8`, the
sandbox's SOAP router, the IMS bearer on every call. The tap's records are the raw D365 rows;
the target applies the stream maps, as in `meltano run`, and gets them in the tap's order.

Reported per run, for the target process alone: wall time, records handled (the target's
summary) per second, SOAP calls by `soap_action` from the sandbox request log (writes:
`WriteCollection`/`Write`; reads: `ExecuteQuery`; others: schema loads and the like), SOAP
calls per 1000 records, peak RSS and CPU time (`wait4`), the machine's load average, the
outcomes and the reasons of rejected records, and the SOAP requests in flight at once (max and
time-weighted mean, bench/latency.py). The latency is injected on the Campaign gateway only
(the Dataverse reads of the tap are set-up).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from crm_sandbox.testing import Sandbox, launch

from bench.latency import add_latency_option, concurrency, inject_latency

BIN = Path(sys.executable).parent
ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).parent / "results"
TABLES = ("contact", "account", "salesorder")
WIZARD_TABLES = ("account", "salesorder")
SOAP_PATH = "soaprouter"
WRITE_ACTIONS = ("WriteCollection", "#Write")
READ_ACTIONS = ("ExecuteQuery",)
OUTCOMES = (
    "created",
    "adopted",
    "updated",
    "unchanged",
    "deleted",
    "skipped_deletes",
    "filtered_out",
    "deleted_filtered_out",
    "rejected",
    "skipped_no_parent",
)
#: D365 change per table in run 2: entity set and the values written (mapped columns).
CHANGES: dict[str, tuple[str, dict[str, Any]]] = {
    "contact": ("contacts", {"lastname": "Benchmark", "donotemail": True}),
    "account": ("accounts", {"name": "Benchmark account"}),
    "salesorder": ("salesorders", {"description": "Changed by the benchmark"}),
}


@dataclass
class RunFigures:
    """One measured target process."""

    name: str
    latency_ms: int
    seconds: float
    records: int  # records the target handled (sum of the summary's outcomes)
    outcomes: dict[str, int]  # summary totals, non-zero ones
    soap_actions: dict[str, int]  # SOAP calls by soap_action
    other_requests: int  # gateway requests that are not SOAP calls (REST), should be 0
    token_requests: int  # IMS
    peak_rss_mb: float
    cpu_seconds: float  # user + system CPU of the target process
    load_average: float  # the machine's 1-minute load average when the run ended
    max_in_flight: int
    mean_in_flight: float
    errors: int  # SOAP answers with status >= 400 (faults, 429)
    per_stream: dict[str, dict[str, int]] = field(default_factory=dict)
    reject_reasons: dict[str, int] = field(default_factory=dict)  # "stream: reason" → count

    @property
    def soap_calls(self) -> int:
        """Every SOAP call."""
        return sum(self.soap_actions.values())

    @property
    def writes(self) -> int:
        """`Write` / `WriteCollection` calls."""
        return sum(n for a, n in self.soap_actions.items() if a.endswith(WRITE_ACTIONS))

    @property
    def reads(self) -> int:
        """`ExecuteQuery` calls."""
        return sum(n for a, n in self.soap_actions.items() if a.endswith(READ_ACTIONS))

    @property
    def records_per_second(self) -> float:
        """Records through the target per second of wall time."""
        return self.records / self.seconds if self.seconds else 0.0

    def per_1000(self, calls: int) -> float:
        """`calls` per 1000 records handled."""
        return 1000 * calls / self.records if self.records else 0.0


def soap_counts(log: list[dict[str, Any]]) -> tuple[Counter[str], int, int, int]:
    """(SOAP calls by action, other gateway requests, IMS token requests, SOAP errors)."""
    actions: Counter[str] = Counter()
    other = tokens = errors = 0
    for entry in log:
        if SOAP_PATH in entry["path"]:
            actions[entry.get("soap_action") or "?"] += 1
            errors += int(entry["status"]) >= 400
        elif entry["path"].endswith("/token/v3"):
            tokens += 1
        else:
            other += 1
    return actions, other, tokens, errors


def reject_reasons(path: Path) -> dict[str, int]:
    """Rejected records by stream and reason (digits and ids folded), from the rejects file."""
    reasons: Counter[str] = Counter()
    if path.exists():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                reason = re.sub(r"[0-9a-f]{8}-[0-9a-f-]{27}|\d+", "#", str(entry.get("reason")))
                reasons[f"{entry.get('stream')}: {reason[:200]}"] += 1
    return dict(reasons.most_common())


# --- configuration -------------------------------------------------------------------------


def connection(sb: Sandbox) -> dict[str, Any]:
    """tap-dynamics365's (and the wizard's) Dataverse settings for the sandbox."""
    env = sb.tap_env()
    return {key.removeprefix("TAP_DYNAMICS365_").lower(): value for key, value in env.items()}


def campaign_connection(sb: Sandbox) -> dict[str, Any]:
    """target-adobe-campaign's connection settings for the sandbox's v8 instance."""
    env = sb.target_campaign_env()
    config: dict[str, Any] = {
        key.removeprefix("TARGET_ADOBE_CAMPAIGN_").lower(): value for key, value in env.items()
    }
    config.update(backend="v8", soap_url=sb.info["campaign"]["soap_url"])
    return config


def meltano_target_config() -> tuple[dict[str, Any], str]:
    """target-adobe-campaign's `config` in meltano.yml, and the default OPT_OUT_SYNC."""
    project = yaml.safe_load((ROOT / "meltano.yml").read_text())
    for loader in project["plugins"]["loaders"]:
        if loader["name"] == "target-adobe-campaign":
            return loader["config"], str(project["env"]["OPT_OUT_SYNC"])
    raise SystemExit("meltano.yml has no target-adobe-campaign loader")


def target_config(sb: Sandbox, wizard_out: Path, work: Path) -> dict[str, Any]:
    """The v8 job's target settings: meltano.yml's contact entries + the wizard's entries."""
    base, opt_out_sync = meltano_target_config()
    resources = {s: base["resources"][s] for s in ("contact", "contact_deletes")}
    stream_maps = {s: base["stream_maps"][s] for s in ("contact", "contact_deletes")}
    enumerations = {"contact": base["enumerations"]["contact"]}
    for table in WIZARD_TABLES:
        generated = yaml.safe_load((wizard_out / table / "meltano.v8.yml").read_text())
        resources |= generated["resources"]
        stream_maps |= generated["stream_maps"]
        enumerations |= generated.get("enumerations") or {}
    return {
        **campaign_connection(sb),
        "opt_out_sync": opt_out_sync,
        "apply_deletes": base.get("apply_deletes", False),
        "resources": resources,
        "enumerations": enumerations,
        "stream_maps": stream_maps,
        "rejects_file": str(work / "rejects.jsonl"),
        "summary_file": str(work / "summary.json"),
    }


def run_wizard(sb: Sandbox, work: Path) -> Path:
    """Generate and build cus:account and cus:salesorder (set-up, not measured)."""
    d365 = work / "d365.json"
    d365.write_text(json.dumps(connection(sb)))
    campaign = work / "campaign.json"
    campaign.write_text(json.dumps(campaign_connection(sb)))
    out = work / "campaign-schemas"
    done = subprocess.run(
        [
            str(BIN / "target-adobe-campaign-wizard"),
            "--tables",
            ",".join(WIZARD_TABLES),
            "--out",
            str(out),
            "--d365-config",
            str(d365),
            "--config",
            str(campaign),
            "--apply",
        ],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise SystemExit(f"wizard failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return out


# --- the tap (set-up) ----------------------------------------------------------------------


def tap_files(sb: Sandbox, work: Path) -> tuple[Path, Path]:
    """tap-dynamics365's config and a catalog with contact, account, salesorder, option_sets."""
    config = connection(sb) | {
        "tables": list(TABLES),
        "include_custom_tables": False,
        "emit_activate_version_messages": False,
        "page_size": 5000,
    }
    config_path = work / "tap.json"
    config_path.write_text(json.dumps(config))
    out = subprocess.run(
        [str(BIN / "tap-dynamics365"), "--config", str(config_path), "--discover"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    catalog = json.loads(out)
    wanted = {*TABLES, "option_sets"}
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] in wanted
    catalog_path = work / "catalog.json"
    catalog_path.write_text(json.dumps(catalog))
    return config_path, catalog_path


def run_tap(config: Path, catalog: Path, out: Path, state: Path | None) -> Counter[str]:
    """Read D365 into the Singer file `out` (from `state` when given); records per stream."""
    cmd = [str(BIN / "tap-dynamics365"), "--config", str(config), "--catalog", str(catalog)]
    if state is not None:
        cmd += ["--state", str(state)]
    with out.open("wb") as stdout:
        done = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise SystemExit(f"tap-dynamics365 failed:\n{done.stderr.decode(errors='replace')[-3000:]}")
    counts: Counter[str] = Counter()
    with out.open(encoding="utf-8") as lines:
        for line in lines:
            if line.startswith('{"type":"RECORD"') or '"type": "RECORD"' in line[:40]:
                counts[json.loads(line)["stream"]] += 1
    return counts


def last_state(target_stdout: Path, state: Path) -> None:
    """Write the target's last STATE (what Meltano would store) to `state`.

    A Singer target writes each STATE value it confirms as one JSON line on stdout.
    """
    lines = target_stdout.read_text(encoding="utf-8").splitlines()
    lines = [line for line in lines if line.strip()]
    if not lines:
        raise SystemExit("the target emitted no STATE")
    state.write_text(lines[-1])


def change_rows(sb: Sandbox, share: float, sizes: dict[str, int]) -> dict[str, int]:
    """Change `share` of each table in D365; return how many rows per table."""
    changed: dict[str, int] = {}
    for table, (entity_set, values) in CHANGES.items():
        count = int(sizes[table] * share)
        for key in sb.admin.touch_rows(entity_set, count):
            sb.admin.update_row(entity_set, key, values)
        changed[table] = count
    return changed


# --- the measured target -------------------------------------------------------------------


def run_target(
    name: str, latency_ms: int, sb: Sandbox, config: Path, singer: Path, work: Path
) -> tuple[RunFigures, Path]:
    """Pipe `singer` into the target; its figures and its stdout (STATE) file."""
    sb.campaign.admin.clear_requests()
    slug = name.split(" ")[0]
    stdout_path = work / f"{slug}.out"
    log_path = work / f"{slug}.log"
    summary_path = work / "summary.json"
    summary_path.unlink(missing_ok=True)
    started = time.perf_counter()
    with singer.open("rb") as stdin, stdout_path.open("wb") as out, log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(BIN / "target-adobe-campaign"), "--config", str(config)],
            stdin=stdin,
            stdout=out,
            stderr=log,
        )
        _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    # Rejected records make the target exit 1 after its summary (as designed): measured too.
    if not summary_path.exists():
        text = log_path.read_text(errors="replace")
        raise SystemExit(f"target-adobe-campaign failed ({code}):\n{text[-4000:]}")
    summary = json.loads(summary_path.read_text())
    rejects = reject_reasons(work / "rejects.jsonl")
    if code != 0 and not rejects:
        text = log_path.read_text(errors="replace")
        raise SystemExit(f"target-adobe-campaign failed ({code}):\n{text[-4000:]}")
    # Records of the tables; option_sets records (enumerations) are counted apart.
    totals = {
        o: sum(int(c.get(o, 0)) for s, c in summary["streams"].items() if s != "option_sets")
        for o in OUTCOMES
    }
    entries = sb.campaign.admin.requests()
    actions, other, tokens, errors = soap_counts(entries)
    reached = concurrency(entries, path=SOAP_PATH)
    figures = RunFigures(
        name=name,
        latency_ms=latency_ms,
        seconds=seconds,
        records=sum(totals.values()),
        outcomes={o: n for o, n in totals.items() if n},
        soap_actions=dict(sorted(actions.items())),
        other_requests=other,
        token_requests=tokens,
        peak_rss_mb=usage.ru_maxrss / 1024,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        load_average=os.getloadavg()[0],
        max_in_flight=reached.max,
        mean_in_flight=reached.mean,
        errors=errors,
        per_stream={
            stream: {o: n for o, n in counts.items() if n and o in OUTCOMES}
            for stream, counts in summary["streams"].items()
        },
        reject_reasons=rejects,
    )
    return figures, stdout_path


def read(config: Path, catalog: Path, out: Path, state: Path | None) -> str:
    """Run the tap into `out`; its counts by stream in the order it emitted them, for the log."""
    counts = run_tap(config, catalog, out, state)
    return ", ".join(f"{stream} {n:,}" for stream, n in counts.items())


def bench_pass(args: argparse.Namespace, latency_ms: int, work: Path) -> list[RunFigures]:
    """The three runs on a fresh sandbox at `latency_ms`."""
    sizes = {"contact": args.contacts, "account": args.accounts, "salesorder": args.salesorders}
    started = time.monotonic()
    sb = launch(
        state_dir=work / "sandbox",
        contacts=args.contacts,
        accounts=args.accounts,
        projects=0,
        tasks=0,
        profiles=0,
        campaign_projects=0,
    )
    figures: list[RunFigures] = []
    try:
        if sb.admin.state()["counts"]["salesorders"] != args.salesorders:  # seeded: contacts / 2
            sb.admin.reset(
                contacts=args.contacts,
                accounts=args.accounts,
                projects=0,
                tasks=0,
                salesorders=args.salesorders,
            )
        counts = sb.admin.state()["counts"]
        print(
            f"\n== latency {latency_ms} ms: sandbox up in "
            f"{time.monotonic() - started:.1f} s (D365: {counts['contacts']} contacts, "
            f"{counts['accounts']} accounts, {counts['salesorders']} orders)"
        )
        wizard_out = run_wizard(sb, work)
        config_path = work / "target.json"
        config_path.write_text(json.dumps(target_config(sb, wizard_out, work)))
        tap_config, catalog = tap_files(sb, work)
        inject_latency(sb.campaign.admin, latency_ms)

        full = work / "full.singer.jsonl"
        print(f"tap, full read: {read(tap_config, catalog, full, None)}")
        initial, stdout_path = run_target("initial load", latency_ms, sb, config_path, full, work)
        figures.append(initial)
        report_run(initial)

        state = work / "state.json"
        last_state(stdout_path, state)
        changed = change_rows(sb, args.changed, sizes)
        delta = work / "changed.singer.jsonl"
        print(f"tap, incremental: {read(tap_config, catalog, delta, state)}")
        label = ", ".join(f"{n:,} {t}" for t, n in changed.items())
        run, _ = run_target(
            f"{args.changed:.0%} changed ({label})", latency_ms, sb, config_path, delta, work
        )
        figures.append(run)
        report_run(run)

        print(f"tap, full read again: {read(tap_config, catalog, full, None)}")
        run, _ = run_target("no-change rerun (full read)", latency_ms, sb, config_path, full, work)
        figures.append(run)
        report_run(run)
    finally:
        sb.admin.session.close()
        sb.campaign.admin.session.close()
        sb.stop()
    return figures


# --- output --------------------------------------------------------------------------------


def report_run(f: RunFigures) -> None:
    """One run, as it ends."""
    print(
        f"  {f.name}: {f.seconds:.1f} s, {f.records:,} records ({f.outcomes}), "
        f"SOAP {f.soap_actions}, other {f.other_requests}, errors {f.errors}, "
        f"{f.peak_rss_mb:.0f} MB, CPU {f.cpu_seconds:.1f} s, in flight {f.max_in_flight} / "
        f"{f.mean_in_flight:.2f}, load {f.load_average:.1f}"
    )
    for reason, count in f.reject_reasons.items():
        print(f"    rejected {count:,} x {reason}")


def print_table(title: str, figures: list[RunFigures]) -> None:
    """The docs table: one row per latency and run."""
    print(f"\n{title}")
    print(
        "| latency | run | wall s | records | records/s "
        "| created / updated / unchanged / rejected | SOAP calls | per 1000 records "
        "| writes (WriteCollection) | reads (ExecuteQuery) | other SOAP | SOAP in flight "
        "max / mean | peak RSS MB | target CPU s | load |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for f in figures:
        other = f.soap_calls - f.writes - f.reads
        outcomes = " / ".join(
            f"{f.outcomes.get(o, 0):,}" for o in ("created", "updated", "unchanged", "rejected")
        )
        print(
            f"| {f.latency_ms} ms | {f.name} | {f.seconds:.1f} | {f.records:,} "
            f"| {f.records_per_second:,.0f} | {outcomes} | {f.soap_calls:,} "
            f"| {f.per_1000(f.soap_calls):.2f} | {f.writes:,} | {f.reads:,} | {other} "
            f"| {f.max_in_flight} / {f.mean_in_flight:.2f} | {f.peak_rss_mb:.0f} "
            f"| {f.cpu_seconds:.1f} | {f.load_average:.1f} |"
        )


def run_kind(f: RunFigures) -> str:
    """The run's name without its details: the same run at another latency."""
    return f.name.split(" (")[0]


def print_ratios(figures: list[RunFigures]) -> None:
    """Wall time at the latency against 0 ms, run by run (same invocation)."""
    latencies = sorted({f.latency_ms for f in figures})
    if len(latencies) < 2:
        return
    low, high = latencies[0], latencies[-1]
    print(f"\nwall-time ratio {high} ms / {low} ms, per run:")
    base = {run_kind(f): f for f in figures if f.latency_ms == low}
    for f in figures:
        if f.latency_ms == high and run_kind(f) in base:
            print(f"  {f.name}: {f.seconds / base[run_kind(f)].seconds:.2f}")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--contacts", type=int, default=20_000, help="D365 contacts")
    parser.add_argument("--accounts", type=int, help="D365 accounts (default: contacts / 10)")
    parser.add_argument("--salesorders", type=int, help="D365 orders (default: contacts / 2)")
    parser.add_argument("--changed", type=float, default=0.05, help="share changed in run 2")
    add_latency_option(parser)
    parser.add_argument(
        "--no-baseline", action="store_true", help="skip the 0 ms pass (only --latency-ms)"
    )
    parser.add_argument("--json", type=Path, help="results file (default: bench/results/…)")
    args = parser.parse_args()
    if args.accounts is None:
        args.accounts = max(args.contacts // 10, 1)
    if args.salesorders is None:
        args.salesorders = args.contacts // 2

    print(
        f"target-adobe-campaign v8 benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    latencies = [args.latency_ms] if args.no_baseline else sorted({0, args.latency_ms})
    figures: list[RunFigures] = []
    for latency_ms in latencies:
        with tempfile.TemporaryDirectory(prefix="bench-campaign-v8-") as tmp:
            figures += bench_pass(args, latency_ms, Path(tmp))

    title = (
        f"target-adobe-campaign, backend v8: {args.contacts:,} contacts + {args.accounts:,} "
        f"accounts + {args.salesorders:,} orders"
    )
    print_table(title, figures)
    print_ratios(figures)
    path = args.json or RESULTS / (
        f"target_adobe_campaign_v8-{args.contacts}-latency{'-'.join(map(str, latencies))}.json"
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "contacts": args.contacts,
        "accounts": args.accounts,
        "salesorders": args.salesorders,
        "changed_share": args.changed,
        "latencies_ms": latencies,
        "runs": [
            {
                **asdict(f),
                "soap_calls": f.soap_calls,
                "writes": f.writes,
                "reads": f.reads,
                "records_per_second": f.records_per_second,
                "soap_calls_per_1000": f.per_1000(f.soap_calls),
            }
            for f in figures
        ],
    }
    path.write_text(json.dumps(document, indent=2))
    print(f"\nresults: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")


if __name__ == "__main__":
    main()
