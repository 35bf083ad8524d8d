"""Fault injection for tests and benchmarks: 429 bursts, 503s and added latency."""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from .errors import CONCURRENCY_LIMIT, EXECUTION_TIME_LIMIT, REQUESTS_LIMIT, DataverseError
from .limits import too_many

_MESSAGES = {
    REQUESTS_LIMIT: "Number of requests exceeded the limit of 6000 over time window of 300 "
    "seconds.",
    CONCURRENCY_LIMIT: "Number of concurrent requests exceeded the limit of 52.",
    EXECUTION_TIME_LIMIT: "Combined execution time of incoming requests exceeded limit of "
    "1,200,000 milliseconds over time window of 300 seconds. Decrease number of concurrent "
    "requests or reduce the duration of requests and try again later.",
}


@dataclass
class Fault:
    """One rule. `kind`: "429", "503" or "latency".

    It fires on matching requests at most `count` times (None = unlimited); with `every` set
    only on every `every`-th matching request. `path` is a regex searched in the path
    after the service root, `method` an HTTP method; both optional.
    """

    kind: str
    count: int | None = 1
    every: int | None = None
    retry_after: int = 1
    latency_ms: int = 0
    code: str = REQUESTS_LIMIT
    path: str | None = None
    method: str | None = None
    app: str = "dataverse"  # or "entra"
    seen: int = field(default=0)
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        """Validate the kind early (admin input)."""
        if self.kind not in ("429", "503", "latency"):
            raise ValueError(f"unknown fault kind {self.kind!r}")

    def matches(self, app: str, method: str, path: str) -> bool:
        """Tell whether this rule applies to the request at all."""
        if app != self.app:
            return False
        if self.method and self.method.upper() != method.upper():
            return False
        return not (self.path and not re.search(self.path, path))

    def take(self) -> bool:
        """Count a matching request; True when the fault fires for it."""
        self.seen += 1
        fire = self.count is None or self.fired < self.count
        if self.every:
            fire = fire and self.seen % self.every == 0
        if fire:
            self.fired += 1
        return fire


class Faults:
    """The active fault rules."""

    def __init__(self) -> None:
        """No faults."""
        self.rules: list[Fault] = []

    def add(self, spec: dict[str, Any]) -> Fault:
        """Add a rule from its JSON form."""
        allowed = {k: v for k, v in spec.items() if k not in ("seen", "fired")}
        fault = Fault(**allowed)
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every rule."""
        self.rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        """JSON form of the rules and their counters."""
        return [asdict(r) for r in self.rules]

    def pick(self, app: str, method: str, path: str) -> tuple[int, DataverseError | None]:
        """Return (added latency in ms, error to answer with) for one request."""
        latency, error = 0, None
        for rule in self.rules:
            if not rule.matches(app, method, path) or not rule.take():
                continue
            if rule.kind == "latency":
                latency += rule.latency_ms
            elif error is None and rule.kind == "429":
                error = too_many(rule.code, _MESSAGES.get(rule.code, ""), rule.retry_after)
            elif error is None:
                error = DataverseError(
                    503,
                    "0x80040216",
                    "The service is temporarily unavailable. Please retry.",
                    {"Retry-After": str(rule.retry_after)},
                )
        return latency, error
