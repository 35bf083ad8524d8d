"""Per-call latency for the benchmarks, and the concurrency a measured run actually reached.

The sandbox answers on loopback in a few milliseconds; a real Dataverse or Campaign answers in
100 to 300 ms. A client that waits for each answer before doing anything else looks fine on the
sandbox and is slow for real, so every benchmark takes `--latency-ms` and reports how many of
its requests overlapped:

- `add_latency_option(parser)` adds `--latency-ms` (default `REALISTIC_LATENCY_MS`, 100: the
  "realistic" tables; 0 measures the client's own cost);
- `inject_latency(admin, ms)` adds one sandbox fault rule delaying every request to the
  vendor's API app (Dataverse: `dataverse`; Campaign: `gateway`) by `ms` before the service
  handles it; token endpoints are not delayed. Call it once after `launch` (an admin `reset`
  keeps fault rules);
- `concurrency(admin.requests(), app=...)` reads the sandbox's request log, where each entry
  has `started` (arrival) and `time` (end) on the sandbox clock, and returns `Concurrency`:
  the most requests in flight at one moment, and the time-weighted mean from the first
  arrival to the last end. A client that keeps exactly one request in flight the whole time
  has mean 1.0; below 1.0 the server sat idle between its requests (the client was busy with
  the previous answer); above 1.0 requests ran in parallel.

Typical use (bench/tap_dynamics365.py does this):

    parser = argparse.ArgumentParser(...)
    add_latency_option(parser)
    args = parser.parse_args()
    sb = launch(...)
    inject_latency(sb.admin, args.latency_ms)
    sb.admin.clear_requests()
    ...                                    # run the measured process
    reached = concurrency(sb.admin.requests(), app="dataverse")
    print(reached)                         # "max 1, mean 0.97 in flight (21 requests, 5.3 s)"
"""

from __future__ import annotations

import argparse
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from crm_sandbox.admin_client import AdminClient

#: Latency of the "realistic" tables: the low end of what Dataverse and Campaign answer in.
REALISTIC_LATENCY_MS = 100


def add_latency_option(
    parser: argparse.ArgumentParser, default: int = REALISTIC_LATENCY_MS
) -> None:
    """Add `--latency-ms` (milliseconds added by the sandbox to every API request)."""
    parser.add_argument(
        "--latency-ms",
        type=int,
        default=default,
        help=f"delay the sandbox adds to every API request, in ms (default {default}; 0: none)",
    )


def inject_latency(admin: AdminClient, latency_ms: int) -> None:
    """Delay every request to the vendor's API app by `latency_ms` (none when 0)."""
    if latency_ms > 0:
        admin.add_latency(latency_ms)


@dataclass(frozen=True)
class Concurrency:
    """How many requests were in flight at once, from the sandbox's request log."""

    requests: int
    max: int  # the most in flight at one moment
    mean: float  # time-weighted, from the first arrival to the last end
    seconds: float  # that span

    def __str__(self) -> str:
        """E.g. `max 1, mean 0.97 in flight (21 requests, 5.3 s)`."""
        return (
            f"max {self.max}, mean {self.mean:.2f} in flight "
            f"({self.requests} requests, {self.seconds:.1f} s)"
        )


def concurrency(
    log: Iterable[Mapping[str, t.Any]], *, app: str | None = None, path: str | None = None
) -> Concurrency:
    """Overlap of the logged requests to `app` (all apps when None) whose path contains `path`.

    Entries need `started` and `time` (sandbox clock, seconds). A request ending at the very
    moment another arrives does not count as overlapping it.
    """
    spans = [
        (float(entry["started"]), float(entry["time"]))
        for entry in log
        if (app is None or entry["app"] == app) and (path is None or path in entry["path"])
    ]
    if not spans:
        return Concurrency(0, 0, 0.0, 0.0)
    # Ends sort before arrivals at the same instant (False < True).
    events = sorted([(start, True) for start, _ in spans] + [(end, False) for _, end in spans])
    in_flight = peak = 0
    for _, arrival in events:
        in_flight += 1 if arrival else -1
        peak = max(peak, in_flight)
    seconds = max(end for _, end in spans) - min(start for start, _ in spans)
    busy = sum(end - start for start, end in spans)
    return Concurrency(len(spans), peak, busy / seconds if seconds > 0 else 0.0, seconds)
