"""What a tap tells about a stream while it reads: a running total on long reads, a summary line.

Under `meltano run` the SDK's metric lines lose their stream name and a long read prints nothing
for minutes. A stream's reader logs `Progress <stream>: …` at most every `every` seconds while
records arrive, and `Summary <stream>: records …, deletes …, pages …, requests …, retries …,
seconds …` when the read ends (as the targets' summary lines do). Requests and retries are the
client's (`CallCounts`), counted from the stream's start: streams are read one after another.
"""

from __future__ import annotations

import time
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Iterator

    from requests import Response, Session

#: Seconds between two running totals of one stream.
PROGRESS_EVERY = 10.0
DELETED_AT = "_sdc_deleted_at"


@dataclass
class CallCounts:
    """A client's HTTP responses and retry waits, counted as they happen."""

    requests: int = 0
    retries: int = 0

    def count_responses(self, session: Session) -> None:
        """Count every response `session` receives (the SDK's stream requests included)."""
        session.hooks["response"].append(self._response)

    def _response(self, response: Response, *args: t.Any, **kwargs: t.Any) -> None:
        self.requests += 1


class StreamProgress:
    """Counts one stream's records, deletes and pages, and logs them."""

    def __init__(
        self,
        stream: str,
        logger: logging.Logger,
        calls: CallCounts,
        *,
        every: float = PROGRESS_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Start counting now."""
        self.stream = stream
        self.logger = logger
        self.calls = calls
        self.every = every
        self.clock = clock
        self.records = self.deletes = self.pages = 0
        self._started = self._logged = clock()
        self._requests_before = calls.requests
        self._retries_before = calls.retries

    def track(self, records: Iterable[dict[str, t.Any]]) -> Iterator[dict[str, t.Any]]:
        """Yield `records`, counting each (`_sdc_deleted_at` marks a delete); then summarise."""
        try:
            for record in records:
                self.records += 1
                if record.get(DELETED_AT) is not None:
                    self.deletes += 1
                now = self.clock()
                if now - self._logged >= self.every:
                    self._logged = now
                    self.logger.info("Progress %s: %s", self.stream, self.counts(now))
                yield record
        finally:
            self.logger.info("Summary %s: %s", self.stream, self.counts(self.clock()))

    def page(self) -> None:
        """Count a page (or file) read and checkpointed."""
        self.pages += 1

    def counts(self, now: float) -> str:
        """Return `records N, deletes N, pages N, requests N, retries N, seconds N`."""
        requests = self.calls.requests - self._requests_before
        retries = self.calls.retries - self._retries_before
        return (
            f"records {self.records}, deletes {self.deletes}, pages {self.pages}, "
            f"requests {requests}, retries {retries}, seconds {now - self._started:.1f}"
        )
