"""Fault injection (429 `429050`, 502, 503, latency) and an optional per-key TPS limit."""

from __future__ import annotations

import re
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from crm_sandbox.clock import Clock

from .errors import OOPS, TOO_MANY, CampaignError, gateway_error

KINDS = ("429", "502", "503", "latency")


def throttled(retry_after: int) -> CampaignError:
    """Return the Adobe I/O gateway's 429 (`Retry-After` only when positive)."""
    headers = {"Retry-After": str(retry_after)} if retry_after > 0 else {}
    return gateway_error(429, *TOO_MANY, **headers)


@dataclass
class Fault:
    """One rule, firing on matching requests at most `count` times (None = always).

    With `every` set it fires only on every `every`-th matching request. `path` is a regex
    searched in the request path, `method` an HTTP method, `app` "gateway" or "ims".
    """

    kind: str
    count: int | None = 1
    every: int | None = None
    retry_after: int = 1
    latency_ms: int = 0
    path: str | None = None
    method: str | None = None
    app: str = "gateway"
    seen: int = field(default=0)
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        """Validate admin input early."""
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(KINDS)}")
        if self.app not in ("gateway", "ims"):
            raise ValueError("app must be 'gateway' or 'ims'")

    def matches(self, app: str, method: str, path: str) -> bool:
        """Whether the rule applies to this request at all."""
        if app != self.app or (self.method and self.method.upper() != method.upper()):
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

    def error(self) -> CampaignError:
        """Return the answer of a firing 429/502/503 rule."""
        if self.kind == "429":
            return throttled(self.retry_after)
        if self.kind == "502":
            return CampaignError(502, {"code": 502, "message": OOPS})
        return CampaignError(
            503,
            {"code": 503, "message": "Service Unavailable"},
            {"Retry-After": str(self.retry_after)} if self.retry_after > 0 else {},
        )


class Faults:
    """The active fault rules."""

    def __init__(self) -> None:
        """No faults."""
        self.rules: list[Fault] = []

    def add(self, spec: dict[str, Any]) -> Fault:
        """Add a rule from its JSON form."""
        fault = Fault(**{k: v for k, v in spec.items() if k not in ("seen", "fired")})
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every rule."""
        self.rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        """JSON form of the rules and their counters."""
        return [asdict(r) for r in self.rules]

    def pick(self, app: str, method: str, path: str) -> tuple[int, CampaignError | None]:
        """Return (added latency in ms, error to answer with) for one request."""
        latency, error = 0, None
        for rule in self.rules:
            if not rule.matches(app, method, path) or not rule.take():
                continue
            if rule.kind == "latency":
                latency += rule.latency_ms
            elif error is None:
                error = rule.error()
        return latency, error


class TpsLimiter:
    """Requests per second and API key; beyond the limit the gateway answers 429."""

    def __init__(self, clock: Clock) -> None:
        """Count against the sandbox clock."""
        self.clock = clock
        self.seen: dict[str, deque[float]] = {}

    def reset(self) -> None:
        """Forget past requests."""
        self.seen.clear()

    def admit(self, key: str, limit: int) -> None:
        """Count a request, raising the 429 when `limit` (> 0) is exceeded."""
        if limit <= 0:
            return
        now = self.clock.time()
        window = self.seen.setdefault(key, deque())
        while window and window[0] <= now - 1:
            window.popleft()
        if len(window) >= limit:
            raise throttled(1)
        window.append(now)
