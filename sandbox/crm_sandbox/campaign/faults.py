"""Campaign fault rules (429 `429050`, 502, 503, 504, latency, drop) and an optional TPS limit."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import ClassVar

from crm_sandbox.clock import Clock
from crm_sandbox.faults import FaultRule, Faults

from .errors import OOPS, TOO_MANY, CampaignError, gateway_error


def throttled(retry_after: int) -> CampaignError:
    """Return the Adobe I/O gateway's 429 (`Retry-After` only when positive)."""
    headers = {"Retry-After": str(retry_after)} if retry_after > 0 else {}
    return gateway_error(429, *TOO_MANY, **headers)


@dataclass
class Fault(FaultRule[CampaignError]):
    """A Campaign fault rule on "gateway", "ims" or "events" (the I/O Events journal).

    Kinds: "429" (`429050`), "502", "503", "504", "latency", "drop"; "before" or "after" the
    request is handled (see `crm_sandbox.faults`).
    """

    KINDS: ClassVar[tuple[str, ...]] = ("429", "502", "503", "504", "latency", "drop")
    APPS: ClassVar[tuple[str, ...]] = ("gateway", "ims", "events")

    app: str = "gateway"

    def error(self) -> CampaignError:
        """Return the answer of a firing 429/502/503/504 rule."""
        if self.kind == "429":
            return throttled(self.retry_after)
        if self.kind == "502":
            return CampaignError(502, {"code": 502, "message": OOPS})
        if self.kind == "504":
            return CampaignError(504, {"code": 504, "message": "Gateway Timeout"})
        return CampaignError(
            503,
            {"code": 503, "message": "Service Unavailable"},
            {"Retry-After": str(self.retry_after)} if self.retry_after > 0 else {},
        )


def new_faults() -> Faults[CampaignError]:
    """Return an empty rule set of Campaign faults."""
    return Faults(Fault)


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
