"""Benchmark target-dynamics365: Campaign email events into the Dataverse sandbox.

    python -m bench.target_dynamics365 [--events 100000] [--contacts 5000]
        [--unknown-share 0.0005] [--unknown CONTACTS] [--latency-ms 100]
        [--app-users 1,2,4] [--budget [--row-cost-ms 5] [--window-seconds 10]]
        [--max-parallel 8] [--dop-hint 4] [--no-rerun] [--profile DIR]

N generated `email_events` records (sends ~45 %, opens ~30 %, clicks ~15 %, bounces ~10 %,
spread over the sandbox's contacts; a share `--unknown-share` of them belongs to contacts that
do not exist in Dynamics 365, by default two such events per unknown contact, e.g. a send to
20,000 deleted contacts with `--events 20000 --unknown-share 0.9`) are piped into
`target-dynamics365 --config …` against the sandbox, for each number of application users in
`--app-users` (the sandbox's main app registration plus its other ones as
`additional_app_users`):

  1. first load: every event becomes an activity row (each user count gets its own event ids,
     so every first load creates its rows); the unknown contacts' events are rejected (so the
     target exits non-zero, as designed);
  2. rerun of the same events (unless `--no-rerun`): every row is rewritten in place
     (idempotence: the number of activity rows does not change).

`--budget` turns on the sandbox's per-user execution time budget: each row of a bulk request
costs `--row-cost-ms` of server time, charged to the user's budget of Microsoft's ratio (1200 s
per 300 s window) over a `--window-seconds` window, so one user saturates at about
4000 / row cost rows per second and a user that asks for more is throttled (429, Retry-After).
`--latency-ms` delays every API request (default 100 ms, the realistic tables).

Reported per run: wall time, events/s, Dataverse API requests and requests per 1000 events (the
sandbox request log; the token requests to Entra are counted apart), throttled responses (429),
the most and the mean requests in flight (request log), peak RSS of the target process (its
`VmHWM`, read while it runs: `wait4`'s `ru_maxrss` also counts the benchmark's own memory, which
the child had for a moment between fork and exec, 1.2 GB with 1,000,000 events generated), and
the summary the target logs; with several user counts, events/s against the first.

`--profile DIR` runs each target process under cProfile (its main thread: reading records,
preparing batches, waiting for the pool) into `DIR/users<N>-<run>.prof`, and writes the
sandbox's request log of each run next to it (`.requests.json`: when each request started and
ended, to see where the pool ran dry); the profiler slows the target, so its figures are not
comparable with a run without it.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from crm_sandbox.testing import Sandbox, launch
from dataverse_client.client import DataverseClient

from bench.latency import add_latency_option, concurrency, inject_latency

BIN = Path(sys.executable).parent
RESULTS = Path(__file__).parent / "results"
MIX = (("send", 0.45), ("open", 0.30), ("click", 0.15), ("bounce", 0.10))
TABLES = {
    "send": "acs_emailsends",
    "open": "acs_emailopens",
    "click": "acs_emailclicks",
    "bounce": "acs_emailbounces",
}
SCHEMA = {
    "type": "object",
    "properties": {
        "event_id": {"type": "string"},
        "event_type": {"type": "string"},
        "event_time": {"type": "string", "format": "date-time"},
        **{
            name: {"type": ["string", "null"]}
            for name in (
                "profile_external_id",
                "email",
                "delivery_name",
                "delivery_label",
                "campaign_name",
                "url",
                "mirror_page_url",
                "bounce_type",
                "bounce_reason",
                "broadlog_id",
                "trackinglog_id",
            )
        },
        "journal_position": {"type": "string"},
    },
}
_SUMMARY = re.compile(r"Summary email_events: upserted (\d+), rejected (\d+)")
#: Microsoft's execution time budget per window: 1200 s per 300 s, i.e. 4 s per second.
EXECUTION_MS_PER_WINDOW_SECOND = 1_200_000 // 300


@dataclass
class RunFigures:
    """One measured target process."""

    name: str
    users: int  # application users the target spread its writes over
    events: int
    seconds: float
    requests: int  # Dataverse Web API requests
    throttled: int  # of which answered 429
    max_in_flight: int  # the most Dataverse requests in flight at one moment
    mean_in_flight: float  # time-weighted over the run's requests
    token_requests: int  # Entra
    peak_rss_mb: float  # the target's VmHWM (0: not readable)
    upserted: int
    rejected: int
    rows_after: int  # activity rows in the four tables after the run

    @property
    def events_per_second(self) -> float:
        """Events through the target per second of wall time."""
        return self.events / self.seconds if self.seconds else 0.0

    @property
    def requests_per_1000(self) -> float:
        """Dataverse requests per 1000 events."""
        return 1000 * self.requests / self.events if self.events else 0.0


def generate(
    count: int,
    contact_ids: list[str],
    unknown_share: float,
    unknown: int,
    seed: int = 7,
    prefix: str = "",
) -> list[dict[str, Any]]:
    """`count` email events; about `unknown_share` of them go to `unknown` missing contacts.

    `prefix` starts every event id (a set of events of its own).
    """
    rng = random.Random(seed)
    missing = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(unknown)]
    kinds = [kind for kind, _ in MIX]
    weights = [share for _, share in MIX]
    start = datetime(2025, 3, 1, 8, tzinfo=UTC)
    events = []
    for number in range(count):
        kind = rng.choices(kinds, weights)[0]
        if missing and rng.random() < unknown_share:
            contact = rng.choice(missing)
        else:
            contact = rng.choice(contact_ids)
        delivery = f"DM{number // 5000:03d}"
        log_id = f"{number:08d}"
        record: dict[str, Any] = {
            "event_id": f"{prefix}{kind}:{log_id}",
            "event_type": kind,
            "event_time": (start + timedelta(seconds=number)).isoformat(),
            "profile_external_id": contact,
            "email": f"recipient{number}@example.com",
            "delivery_name": delivery,
            "delivery_label": f"Newsletter {delivery}",
            "campaign_name": f"CMP{number // 20000:02d}",
            "url": f"https://example.com/offer/{number % 97}?utm=bench"
            if kind == "click"
            else None,
            "mirror_page_url": f"https://mirror.example.com/m/{delivery}/{log_id}",
            "bounce_type": rng.choice(("hard", "soft")) if kind == "bounce" else None,
            "bounce_reason": "User unknown (1)" if kind == "bounce" else None,
            "broadlog_id": log_id if kind in {"send", "bounce"} else None,
            "trackinglog_id": log_id if kind in {"open", "click"} else None,
            "journal_position": f"pos-{number}",
        }
        events.append(record)
    return events


def write_singer(events: list[dict[str, Any]], path: Path) -> None:
    """SCHEMA, RECORDs and a final STATE, as tap-adobe-campaign would emit them."""
    with path.open("w", encoding="utf-8") as out:
        schema = {"type": "SCHEMA", "stream": "email_events", "schema": SCHEMA}
        out.write(json.dumps({**schema, "key_properties": ["event_id"]}) + "\n")
        for record in events:
            out.write(json.dumps({"type": "RECORD", "stream": "email_events", "record": record}))
            out.write("\n")
        state = {"bookmarks": {"email_events": {"replication_key_value": f"pos-{len(events)}"}}}
        out.write(json.dumps({"type": "STATE", "value": state}) + "\n")


def connection(sb: Sandbox) -> dict[str, Any]:
    """The sandbox's connection settings (its main application user)."""
    env = sb.tap_env()
    return {key.removeprefix("TAP_DYNAMICS365_").lower(): value for key, value in env.items()}


def target_config(sb: Sandbox, work: Path, users: int, max_parallel: int) -> Path:
    """The target's settings for the sandbox with `users` application users (else defaults)."""
    config = connection(sb)
    config["rejects_file"] = str(work / "rejects.jsonl")
    config["max_parallel_requests"] = max_parallel
    others: list[dict[str, str]] = sb.info["app_users"]
    if users > 1 + len(others):
        raise SystemExit(f"the sandbox has {1 + len(others)} application users, not {users}")
    if users > 1:
        config["additional_app_users"] = others[: users - 1]
    path = work / f"config-{users}.json"
    path.write_text(json.dumps(config))
    return path


def activity_rows(sb: Sandbox) -> int:
    """Rows in the four activity tables (the sandbox's counts)."""
    counts = sb.admin.state()["counts"]
    return sum(int(counts.get(entity_set, 0)) for entity_set in TABLES.values())


class PeakRss(threading.Thread):
    """Reads a process's peak resident set size (`VmHWM`, kB) until it ends."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        super().__init__(daemon=True)
        self.path = Path(f"/proc/{pid}/status")
        self.every = every
        self.peak_kb = 0
        self._done = threading.Event()
        self.start()

    def run(self) -> None:
        while not self._done.is_set():
            try:
                text = self.path.read_text()
            except OSError:  # reaped
                return
            match = re.search(r"^VmHWM:\s+(\d+) kB", text, re.MULTILINE)
            if match:  # none once the process has exited (a zombie)
                self.peak_kb = max(self.peak_kb, int(match.group(1)))
            self._done.wait(self.every)

    def stop(self) -> None:
        self._done.set()
        self.join()


def run_target(
    name: str,
    users: int,
    sb: Sandbox,
    config: Path,
    singer: Path,
    events: int,
    work: Path,
    profile: Path | None = None,
) -> RunFigures:
    """Pipe the events into the target; measure it and count the sandbox's requests."""
    sb.admin.clear_requests()
    sb.admin.reset_limit_usage()  # every run starts with its users' budgets unused
    log_path = work / f"{name}.log"
    command = [str(BIN / "target-dynamics365"), "--config", str(config)]
    stem = f"users{users}-{name.split()[0]}"
    if profile is not None:
        profile.mkdir(parents=True, exist_ok=True)
        output = profile / f"{stem}.prof"
        command = [sys.executable, "-m", "cProfile", "-o", str(output), "-m"]
        command += ["target_dynamics365.target", "--config", str(config)]
    started = time.perf_counter()
    with singer.open("rb") as stdin, log_path.open("wb") as log:
        proc = subprocess.Popen(
            command,
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        watcher = PeakRss(proc.pid)
        _, status, _ = os.wait4(proc.pid, 0)
        watcher.stop()
    seconds = time.perf_counter() - started
    text = log_path.read_text(errors="replace")
    match = _SUMMARY.search(text)
    if match is None:
        code = os.waitstatus_to_exitcode(status)
        raise SystemExit(f"target-dynamics365 failed ({code}):\n{text[-3000:]}")
    entries = sb.admin.requests()
    if profile is not None:
        (profile / f"{stem}.requests.json").write_text(json.dumps(entries))
    apps = Counter(r["app"] for r in entries)
    reached = concurrency(entries, app="dataverse")
    return RunFigures(
        name=name,
        users=users,
        events=events,
        seconds=seconds,
        requests=apps["dataverse"],
        throttled=sum(r["app"] == "dataverse" and r["status"] == 429 for r in entries),
        max_in_flight=reached.max,
        mean_in_flight=reached.mean,
        token_requests=apps["entra"],
        peak_rss_mb=watcher.peak_kb / 1024,
        upserted=int(match.group(1)),
        rejected=int(match.group(2)),
        rows_after=activity_rows(sb),
    )


def unknown_contacts(events: int, share: float) -> int:
    """The default number of missing contacts: one per two of their events."""
    return max(1, round(events * share / 2)) if share > 0 else 0


def print_table(
    events: int, mix: Counter[str], unknown_share: float, figures: list[RunFigures]
) -> None:
    """The README table."""
    shares = ", ".join(f"{kind} {mix[kind]:,}" for kind, _ in MIX)
    print(f"\ntarget-dynamics365, {events:,} email events ({shares})")
    print(f"share of events whose contact does not exist: {unknown_share:.4g}")
    print(
        "| run | users | wall s | events/s | vs first | Dataverse requests | requests/1000 events "
        "| throttled (429) | in flight max / mean | token requests | peak RSS MB | upserted "
        "| rejected | activity rows after |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = figures[0].events_per_second
    for f in figures:
        print(
            f"| {f.name} | {f.users} | {f.seconds:.1f} | {f.events_per_second:,.0f} "
            f"| {f.events_per_second / base:.2f} | {f.requests:,} | {f.requests_per_1000:.2f} "
            f"| {f.throttled:,} | {f.max_in_flight} / {f.mean_in_flight:.1f} "
            f"| {f.token_requests} | {f.peak_rss_mb:.0f} | {f.upserted:,} | {f.rejected:,} "
            f"| {f.rows_after:,} |"
        )


def user_counts(text: str) -> list[int]:
    """`1,2,4` → [1, 2, 4]."""
    return [int(part) for part in text.split(",") if part.strip()]


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="email events to write")
    parser.add_argument("--contacts", type=int, default=5000, help="sandbox contacts")
    parser.add_argument(
        "--unknown-share",
        type=float,
        default=0.0005,
        help="share of events whose contact is missing from D365 (0 to 1)",
    )
    parser.add_argument(
        "--unknown", type=int, help="contacts missing from D365 (default: 1 per 2 of their events)"
    )
    add_latency_option(parser)
    parser.add_argument(
        "--app-users",
        type=user_counts,
        default=[1],
        help="application users to spread the writes over, one run each (e.g. 1,2,4; max 4)",
    )
    parser.add_argument(
        "--budget", action="store_true", help="turn on the sandbox's per-user execution budget"
    )
    parser.add_argument(
        "--row-cost-ms", type=float, default=5.0, help="with --budget: server ms per bulk row"
    )
    parser.add_argument(
        "--window-seconds",
        type=int,
        default=10,
        help="with --budget: the service protection window (Microsoft: 300 s)",
    )
    parser.add_argument(
        "--max-parallel", type=int, default=8, help="the target's max_parallel_requests"
    )
    parser.add_argument("--dop-hint", type=int, default=4, help="the sandbox's x-ms-dop-hint")
    parser.add_argument("--no-rerun", action="store_true", help="first loads only")
    parser.add_argument(
        "--profile",
        type=Path,
        metavar="DIR",
        help="run the target under cProfile into DIR (with the request log); slows it down",
    )
    parser.add_argument("--json", type=Path, help="results file (default: bench/results/…)")
    args = parser.parse_args()

    figures: list[RunFigures] = []
    with tempfile.TemporaryDirectory(prefix="bench-target-d365-") as tmp:
        work = Path(tmp)
        started = time.monotonic()
        sb = launch(state_dir=work / "sandbox", contacts=args.contacts, projects=0, profiles=0)
        print(f"sandbox up with {args.contacts:,} contacts in {time.monotonic() - started:.1f} s")
        try:
            inject_latency(sb.admin, args.latency_ms)
            limits: dict[str, float] = {"dop_hint": args.dop_hint}
            if args.budget:
                limits |= {
                    "row_cost_ms": args.row_cost_ms,
                    "window_seconds": args.window_seconds,
                    "execution_ms": args.window_seconds * EXECUTION_MS_PER_WINDOW_SECOND,
                }
            print(f"sandbox limits per user: {sb.admin.set_limits(**limits)}")
            client = DataverseClient.from_config(connection(sb))
            contact_ids = [r["contactid"] for r in client.iter_values("contacts?$select=contactid")]
            unknown = args.unknown
            if unknown is None:
                unknown = unknown_contacts(args.events, args.unknown_share)
            for users in args.app_users:
                events = generate(
                    args.events, contact_ids, args.unknown_share, unknown, prefix=f"u{users}-"
                )
                singer = work / "events.singer.jsonl"
                write_singer(events, singer)
                mix = Counter(e["event_type"] for e in events)
                del events
                config = target_config(sb, work, users, args.max_parallel)
                for name in ("first load", "rerun (same events)")[: 1 if args.no_rerun else 2]:
                    figures.append(
                        run_target(name, users, sb, config, singer, args.events, work, args.profile)
                    )
        finally:
            sb.admin.session.close()
            sb.stop()

    print_table(args.events, mix, args.unknown_share, figures)
    print(
        f"\nlatency {args.latency_ms} ms per request; budget "
        + (
            f"on: {args.row_cost_ms:g} ms per row, {args.window_seconds} s window"
            if args.budget
            else "off"
        )
        + f"; x-ms-dop-hint {args.dop_hint}, max_parallel_requests {args.max_parallel}"
    )
    print(
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    )
    users = "-".join(map(str, args.app_users))
    name = f"target_dynamics365-{args.events}-unknown{args.unknown_share:g}-users{users}"
    path = args.json or RESULTS / f"{name}{'-budget' if args.budget else ''}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    document = {
        "events": args.events,
        "unknown_share": args.unknown_share,
        "unknown_contacts": unknown,
        "latency_ms": args.latency_ms,
        "limits": limits,
        "max_parallel_requests": args.max_parallel,
        "mix": dict(mix),
        "runs": [
            {
                **asdict(f),
                "events_per_second": f.events_per_second,
                "requests_per_1000": f.requests_per_1000,
            }
            for f in figures
        ],
    }
    path.write_text(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
