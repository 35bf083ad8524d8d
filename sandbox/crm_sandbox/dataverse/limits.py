"""Service protection limits: per-user sliding windows and a concurrency cap (429s)."""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from crm_sandbox.clock import Clock

from .config import Limits
from .errors import CONCURRENCY_LIMIT, EXECUTION_TIME_LIMIT, REQUESTS_LIMIT, DataverseError


@dataclass
class _Usage:
    requests: deque[float] = field(default_factory=deque)
    durations: deque[tuple[float, float]] = field(default_factory=deque)  # (end time, ms)
    total_ms: float = 0.0
    in_flight: int = 0


def too_many(code: str, message: str, retry_after: int) -> DataverseError:
    """Return a 429 with Dataverse's code, message and Retry-After (seconds)."""
    return DataverseError(429, code, message, {"Retry-After": str(max(1, retry_after))})


class Limiter:
    """Counts requests per user (application id) against `Limits`."""

    def __init__(self, limits: Limits, clock: Clock) -> None:
        """Use `limits` (mutable, admin-configurable) and the sandbox clock."""
        self.limits = limits
        self.clock = clock
        self._users: dict[str, _Usage] = {}

    def reset(self) -> None:
        """Forget all usage."""
        self._users.clear()

    def _usage(self, user: str) -> _Usage:
        usage = self._users.setdefault(user, _Usage())
        horizon = self.clock.time() - self.limits.window_seconds
        while usage.requests and usage.requests[0] <= horizon:
            usage.requests.popleft()
        while usage.durations and usage.durations[0][0] <= horizon:
            usage.total_ms -= usage.durations.popleft()[1]
        return usage

    def enter(self, user: str) -> None:
        """Admit a request or raise the 429 Dataverse would send."""
        limits, usage, now = self.limits, self._usage(user), self.clock.time()
        if usage.in_flight >= limits.concurrent:
            raise too_many(
                CONCURRENCY_LIMIT,
                f"Number of concurrent requests exceeded the limit of {limits.concurrent}.",
                1,
            )
        if len(usage.requests) >= limits.requests:
            wait = usage.requests[0] + limits.window_seconds - now
            raise too_many(
                REQUESTS_LIMIT,
                f"Number of requests exceeded the limit of {limits.requests} over time window of "
                f"{limits.window_seconds} seconds.",
                math.ceil(wait),
            )
        if usage.total_ms >= limits.execution_ms:
            wait = usage.durations[0][0] + limits.window_seconds - now if usage.durations else 1
            raise too_many(
                EXECUTION_TIME_LIMIT,
                "Combined execution time of incoming requests exceeded limit of "
                f"{limits.execution_ms:,} milliseconds over time window of "
                f"{limits.window_seconds} seconds. Decrease number of concurrent requests or "
                "reduce the duration of requests and try again later.",
                math.ceil(wait),
            )
        usage.requests.append(now)
        usage.in_flight += 1

    def leave(self, user: str, elapsed_ms: float) -> None:
        """Record the end of an admitted request."""
        usage = self._usage(user)
        usage.in_flight = max(0, usage.in_flight - 1)
        usage.durations.append((self.clock.time(), elapsed_ms))
        usage.total_ms += elapsed_ms

    def headers(self, user: str) -> dict[str, str]:
        """Return the debugging headers Dataverse adds to responses."""
        usage = self._usage(user)
        remaining = max(0, self.limits.requests - len(usage.requests))
        time_left = max(0, int(self.limits.execution_ms - usage.total_ms))
        return {
            "x-ms-ratelimit-burst-remaining-xrm-requests": str(remaining),
            "x-ms-ratelimit-time-remaining-xrm-requests": f"{time_left:,}.00",
            "x-ms-dop-hint": str(self.limits.dop_hint),
        }
