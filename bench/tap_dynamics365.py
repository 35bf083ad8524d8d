"""Benchmark tap-dynamics365 against the floor: a plain `requests` loop over the same pages.

    python -m bench.tap_dynamics365 [--rows 100000] [--small-rows 20000] [--latency-ms 100]
                                                                          (or: make bench)

The sandbox delays every Dataverse request by `--latency-ms` (default 100, a real service's
round trip; 0 measures the tap's own cost, see bench/latency.py). For each size the sandbox is
seeded with that many contacts, then two measured processes run one after the other against it:

  (a) floor: a bare loop with `requests`: one client-credentials token from the sandbox's Entra
      endpoint, then the very URL the tap requested first (taken from the sandbox request log),
      the same `Prefer` header (change tracking, odata.maxpagesize=5000, lookup annotations),
      following `@odata.nextLink` and parsing every page with `response.json()`;
  (b) the tap: `tap-dynamics365 --config ... --catalog ...` with only the `contact` stream
      selected, page size 5000, Singer output to /dev/null.

Reported per process: wall time, records/s, HTTP requests (sandbox request log, token and
metadata calls included), the page requests in flight at once (max, and time-weighted mean: 1.0
means the next page was always on its way), peak RSS (`wait4` rusage of that process alone);
then the ratio b/a. Two sizes show whether memory stays flat as the table grows.
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
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import requests
from crm_sandbox.testing import Sandbox, launch

from bench.latency import add_latency_option, concurrency, inject_latency

BIN = Path(sys.executable).parent
PAGE_SIZE = 5000
PREFER = (
    f"odata.track-changes,odata.maxpagesize={PAGE_SIZE},"
    'odata.include-annotations="Microsoft.Dynamics.CRM.lookuplogicalname"'
)
_RECORD_COUNT = re.compile(
    r'"metric":\s*"record_count",\s*"value":\s*(\d+).*?"stream":\s*"contact"'
)


@dataclass
class Measurement:
    """One measured process."""

    name: str
    rows: int
    seconds: float
    requests: int
    peak_rss_mb: float
    max_in_flight: int  # page requests (…/contacts) in flight at once
    mean_in_flight: float

    @classmethod
    def from_log(cls, name: str, rows: int, seconds: float, rss: float, sb: Sandbox) -> Measurement:
        """Requests and their overlap from the sandbox log (cleared before the process ran)."""
        log = sb.admin.requests()
        pages = concurrency(log, app="dataverse", path="/contacts")
        return cls(name, rows, seconds, len(log), rss, pages.max, pages.mean)

    @property
    def rate(self) -> float:
        """Records per second."""
        return self.rows / self.seconds if self.seconds else 0.0


def run_measured(cmd: list[str], stdout: Any, stderr: Any) -> tuple[float, float, int]:
    """Run `cmd`; return (wall seconds, peak RSS in MB of that process, exit status)."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=stdout, stderr=stderr)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024, proc.returncode


# --- the floor (runs in its own process: `--floor spec.json`) ------------------------------


def floor(spec_path: Path) -> None:
    """Fetch every page like a minimal client would and print `{"rows": n, "pages": p}`."""
    spec = json.loads(spec_path.read_text())
    session = requests.Session()
    session.verify = spec["ca_file"]
    session.trust_env = False  # REQUESTS_CA_BUNDLE would override `verify`
    token = session.post(
        spec["token_url"],
        data={
            "grant_type": "client_credentials",
            "client_id": spec["client_id"],
            "client_secret": spec["client_secret"],
            "scope": f"{spec['resource_url']}/.default",
        },
        timeout=60,
    ).json()["access_token"]
    session.headers.update(
        {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "OData-Version": "4.0",
            "OData-MaxVersion": "4.0",
            "Prefer": PREFER,
        }
    )
    url: str | None = spec["url"]
    rows = pages = 0
    while url:
        response = session.get(url, timeout=300)
        response.raise_for_status()
        page = response.json()
        rows += len(page["value"])
        pages += 1
        url = page.get("@odata.nextLink")
    print(json.dumps({"rows": rows, "pages": pages}))


# --- orchestration -------------------------------------------------------------------------


def tap_config(sb: Sandbox) -> dict[str, Any]:
    """Tap settings for the sandbox, only the contact table, 5000-row pages."""
    env = sb.tap_env()
    config: dict[str, Any] = {
        key.removeprefix("TAP_DYNAMICS365_").lower(): value for key, value in env.items()
    }
    config.update(tables=["contact"], include_custom_tables=False, page_size=PAGE_SIZE)
    return config


def contact_catalog(config_path: Path, work: Path) -> Path:
    """Discover, then select the contact stream only."""
    out = subprocess.run(
        [str(BIN / "tap-dynamics365"), "--config", str(config_path), "--discover"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    catalog = json.loads(out)
    for stream in catalog["streams"]:
        for entry in stream["metadata"]:
            if entry["breadcrumb"] == []:
                entry["metadata"]["selected"] = stream["tap_stream_id"] == "contact"
    path = work / "catalog.json"
    path.write_text(json.dumps(catalog))
    return path


def measure_tap(sb: Sandbox, config_path: Path, catalog_path: Path, work: Path) -> Measurement:
    """(b): the tap, stdout to /dev/null."""
    sb.admin.clear_requests()
    log_path = work / "tap.log"
    with open(os.devnull, "wb") as devnull, log_path.open("wb") as log:
        seconds, rss, code = run_measured(
            [
                str(BIN / "tap-dynamics365"),
                "--config",
                str(config_path),
                "--catalog",
                str(catalog_path),
            ],
            stdout=devnull,
            stderr=log,
        )
    text = log_path.read_text(errors="replace")
    if code != 0:
        raise SystemExit(f"tap-dynamics365 failed ({code}):\n{text[-3000:]}")
    rows = sum(int(n) for n in _RECORD_COUNT.findall(text))
    return Measurement.from_log("tap", rows, seconds, rss, sb)


def first_contacts_url(sb: Sandbox) -> str:
    """The first data URL the tap requested (from the request log)."""
    for entry in sb.admin.requests():
        if entry["app"] == "dataverse" and entry["path"].endswith("/contacts"):
            return f"{sb.dataverse.url}{entry['path']}?{entry['query']}"
    raise SystemExit("the tap never requested /contacts")


def measure_floor(sb: Sandbox, url: str, work: Path) -> Measurement:
    """(a): the plain requests loop, in a child process of its own."""
    spec = {
        "ca_file": sb.ca_file,
        "token_url": f"{sb.dataverse.authority}/oauth2/v2.0/token",
        "client_id": sb.dataverse.client_id,
        "client_secret": sb.dataverse.client_secret,
        "resource_url": sb.dataverse.url,
        "url": url,
    }
    spec_path = work / "floor.json"
    spec_path.write_text(json.dumps(spec))
    sb.admin.clear_requests()
    out_path = work / "floor.out"
    with out_path.open("wb") as out:
        seconds, rss, code = run_measured(
            [sys.executable, "-m", "bench.tap_dynamics365", "--floor", str(spec_path)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    text = out_path.read_text(errors="replace")
    if code != 0:
        raise SystemExit(f"floor failed ({code}):\n{text[-3000:]}")
    rows = int(json.loads(text.strip().splitlines()[-1])["rows"])
    return Measurement.from_log("floor", rows, seconds, rss, sb)


def print_table(size: int, latency_ms: int, floor_m: Measurement, tap_m: Measurement) -> None:
    """One size's results."""
    print(f"\n{size:,} contacts (page size {PAGE_SIZE}, latency {latency_ms} ms)")
    print(
        f"  {'':<6}{'rows':>9}{'wall s':>9}{'rows/s':>10}{'requests':>10}"
        f"{'in flight max/mean':>20}{'peak RSS MB':>13}"
    )
    for m in (floor_m, tap_m):
        in_flight = f"{m.max_in_flight} / {m.mean_in_flight:.2f}"
        print(
            f"  {m.name:<6}{m.rows:>9,}{m.seconds:>9.2f}{m.rate:>10,.0f}"
            f"{m.requests:>10}{in_flight:>20}{m.peak_rss_mb:>13.0f}"
        )
    print(f"  tap/floor wall-time ratio: {tap_m.seconds / floor_m.seconds:.2f}")


def main() -> None:
    """Command line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000, help="contacts, large size")
    parser.add_argument("--small-rows", type=int, default=None, help="default: rows / 5")
    add_latency_option(parser)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    parser.add_argument("--floor", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.floor:
        floor(args.floor)
        return

    sizes = [args.rows, args.small_rows or max(args.rows // 5, 1)]
    print(
        f"tap-dynamics365 benchmark, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"latency {args.latency_ms} ms"
    )
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-tap-") as tmp:
        work = Path(tmp)
        started = time.perf_counter()
        # Other tables stay tiny: only contact is measured.
        sb = launch(state_dir=work / "sandbox", contacts=sizes[0], accounts=10, projects=1, tasks=1)
        print(f"sandbox up with {sizes[0]:,} contacts in {time.perf_counter() - started:.1f} s")
        try:
            inject_latency(sb.admin, args.latency_ms)
            config_path = work / "config.json"
            config_path.write_text(json.dumps(tap_config(sb)))
            catalog_path = contact_catalog(config_path, work)
            for index, size in enumerate(sizes):
                if index:
                    sb.admin.reset(contacts=size, accounts=10, projects=1, tasks=1)
                tap_m = measure_tap(sb, config_path, catalog_path, work)
                floor_m = measure_floor(sb, first_contacts_url(sb), work)
                # The floor needs the tap's URL, so the tap runs first; run it again so that
                # neither side is the only one to meet cold caches.
                tap_again = measure_tap(sb, config_path, catalog_path, work)
                tap_m = min(tap_m, tap_again, key=lambda m: m.seconds)
                for m in (floor_m, tap_m):
                    if m.rows != size:
                        raise SystemExit(f"{m.name} read {m.rows} rows, expected {size}")
                print_table(size, args.latency_ms, floor_m, tap_m)
                results.append(
                    {
                        "contacts": size,
                        "latency_ms": args.latency_ms,
                        "floor": asdict(floor_m),
                        "tap": asdict(tap_m),
                    }
                )
        finally:
            sb.admin.session.close()  # release our keep-alive connection
            sb.stop()
    rss = [r["tap"]["peak_rss_mb"] for r in results]
    print(f"\ntap peak RSS: {rss[1]:.0f} MB at {sizes[1]:,} rows, {rss[0]:.0f} MB at {sizes[0]:,}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
