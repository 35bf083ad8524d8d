"""Fault rules shared by both vendors: which requests fail, how often, and added latency.

Each vendor subclasses `FaultRule` with its kinds, app names and `error()` (the body and status
its real service answers with); `Faults` holds the active rules of one runtime.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

E = TypeVar("E")  # the vendor's error type


@dataclass
class FaultRule(Generic[E]):
    """One rule, firing on matching requests at most `count` times (None = always).

    With `every` set it fires only on every `every`-th matching request. `path` is a regex
    searched in the request path, `method` an HTTP method, `app` one of the vendor's apps.
    Kind "latency" delays the request by `latency_ms`; other kinds answer with `error()`.
    """

    KINDS: ClassVar[tuple[str, ...]] = ("latency",)
    APPS: ClassVar[tuple[str, ...]] = ()

    kind: str
    count: int | None = 1
    every: int | None = None
    retry_after: int = 1
    latency_ms: int = 0
    path: str | None = None
    method: str | None = None
    app: str = ""
    seen: int = field(default=0)
    fired: int = field(default=0)

    def __post_init__(self) -> None:
        """Validate admin input early."""
        if self.kind not in self.KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; one of {', '.join(self.KINDS)}")
        if self.app not in self.APPS:
            raise ValueError(f"app must be one of {', '.join(self.APPS)}")

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

    def error(self) -> E:
        """Return the vendor's answer for a firing rule of an error kind."""
        raise NotImplementedError


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

    def pick(self, app: str, method: str, path: str) -> tuple[int, E | None]:
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
