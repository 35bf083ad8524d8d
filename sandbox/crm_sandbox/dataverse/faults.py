"""Dataverse fault injection for tests and benchmarks: 429 bursts, 503s, latency, drops."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from crm_sandbox.faults import FaultRule, Faults

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
class Fault(FaultRule[DataverseError]):
    """A Dataverse fault rule: "429" (service protection `code`), "503", "latency" or "drop".

    Only the Web API consults faults (`app` "dataverse"; `path` is matched after the service
    root); the Entra token endpoint has none. "before" or "after" the request is handled (see
    `crm_sandbox.faults`).
    """

    KINDS: ClassVar[tuple[str, ...]] = ("429", "503", "latency", "drop")
    APPS: ClassVar[tuple[str, ...]] = ("dataverse",)

    app: str = "dataverse"
    code: str = REQUESTS_LIMIT

    def error(self) -> DataverseError:
        """Return the answer of a firing 429/503 rule."""
        if self.kind == "429":
            return too_many(self.code, _MESSAGES.get(self.code, ""), self.retry_after)
        return DataverseError(
            503,
            "0x80040216",
            "The service is temporarily unavailable. Please retry.",
            {"Retry-After": str(self.retry_after)},
        )


def new_faults() -> Faults[DataverseError]:
    """Return an empty rule set of Dataverse faults."""
    return Faults(Fault)
