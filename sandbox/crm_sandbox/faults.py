"""Fault rules shared by both vendors: which requests fail, how often, and added latency.

Each vendor subclasses `FaultRule` with its kinds, app names and `error()` (the body and status
its real service answers with); `Faults` holds the active rules of one runtime.

A rule fires `when` "before" the request reaches the service (the default: nothing is executed,
the client only sees the fault) or "after" the service has answered (the write is committed,
then its response is delayed, replaced by the fault's error or lost with the connection). Apps
call `Faults.apply("before", ...)` before handling a request and, unless that answered it,
`Faults.apply("after", ...)` before sending the service's response.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from starlette.requests import Request

E = TypeVar("E")  # the vendor's error type

WHENS = ("before", "after")


class ClientClosed(Exception):
    """The client went away while an injected delay held its request (logged as 499)."""


class ConnectionDropped(Exception):
    """A "drop" rule fired: close the connection without an answer (logged as 444)."""


@dataclass
class FaultRule(Generic[E]):
    """One rule, firing on matching requests at most `count` times (None = always).

    With `every` set it fires only on every `every`-th matching request. `path` is a regex
    searched in the request path, `method` an HTTP method, `app` one of the vendor's apps,
    `when` "before" (default) or "after" the service handles the request. Kind "latency" delays
    the request (or its response) by `latency_ms`, "drop" closes the connection without an
    answer; other kinds answer with `error()`.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("latency", "drop")
    APPS: ClassVar[tuple[str, ...]] = ()

    kind: str
    count: int | None = 1
    every: int | None = None
    retry_after: int = 1
    latency_ms: int = 0
    path: str | None = None
    method: str | None = None
    app: str = ""
    when: str = "before"
    seen: int = field(default=0)
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        """Validate admin input early."""
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(self.KINDS)}")
        if self.app not in self.APPS:
            raise ValueError(f"app must be one of {', '.join(self.APPS)}")
        if self.when not in WHENS:
            raise ValueError(f"when must be one of {', '.join(WHENS)}")

    def matches(self, app: str, method: str, path: str, when: str = "before") -> bool:
        """Whether the rule applies to this request (at this placement) at all."""
        if when != self.when or app != self.app:
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

    def error(self) -> E:
        """Return the vendor's answer for a firing rule of an error kind."""
        raise NotImplementedError


@dataclass
class Firing(Generic[E]):
    """What the rules firing for one request at one placement add up to."""

    latency_ms: int = 0
    error: E | None = None
    drop: bool = False


class Faults(Generic[E]):
    """The active fault rules of one runtime."""

    def __init__(self, rule_type: type[FaultRule[E]]) -> None:
        """No faults; `rule_type` builds rules from their JSON form."""
        self.rule_type = rule_type
        self.rules: list[FaultRule[E]] = []

    def add(self, spec: dict[str, Any]) -> FaultRule[E]:
        """Add a rule from its JSON form (`seen`/`fired` counters are ignored)."""
        fault = self.rule_type(**{k: v for k, v in spec.items() if k not in ("seen", "fired")})
        self.rules.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every rule."""
        self.rules.clear()

    def describe(self) -> list[dict[str, Any]]:
        """JSON form of the rules and their counters."""
        return [asdict(r) for r in self.rules]

    def pick(self, app: str, method: str, path: str, when: str = "before") -> Firing[E]:
        """Return the latency, error (first firing error rule) and drop for one request."""
        firing: Firing[E] = Firing()
        for rule in self.rules:
            if not rule.matches(app, method, path, when) or not rule.take():
                continue
            if rule.kind == "latency":
                firing.latency_ms += rule.latency_ms
            elif rule.kind == "drop":
                firing.drop = True
            elif firing.error is None:
                firing.error = rule.error()
        return firing

    async def apply(self, when: str, app: str, request: Request, path: str) -> E | None:
        """Apply the rules firing for `request` at placement `when`; return the error, if any.

        Sleeps for the added latency; raises `ClientClosed` when the client went away
        meanwhile (a "before" request is then never handled) and `ConnectionDropped` for a
        "drop" rule. `path` is what rules' `path` regexes are matched against.
        """
        firing = self.pick(app, request.method, path, when)
        if firing.latency_ms:
            await asyncio.sleep(firing.latency_ms / 1000)
            if await request.is_disconnected():
                raise ClientClosed
        if firing.drop:
            raise ConnectionDropped
        return firing.error
