"""What a tap tells about a stream while it reads: a running total on long reads, a summary line.

Under `meltano run` the SDK's metric lines lose their stream name and a long read prints nothing
for minutes. A stream's reader logs `Progress <stream>: …` at most every `every` seconds while
records arrive, and `Summary <stream>: records …, deletes …, pages …, requests …, retries …,
seconds …, lag_seconds …` when the read ends (as the targets' summary lines do). Requests and
retries are the client's (`CallCounts`), counted from the stream's start: streams are read one
after another.

`lag_seconds` is how far behind the job was, like the "Backlog" of Adobe's integration: the
age, when the read started, of the oldest change the read brought (`changed_at` of each record:
a modification time or an event time). It is 0 when nothing had changed. A job on a 15-minute
schedule normally shows at most about 15 minutes; a scheduler alerts on more (a paused job, a
backlog that grows faster than the job reads).
"""

from __future__ import annotations

import datetime
import time
import typing as t
from dataclasses import dataclass

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterable, Iterator

    from requests import Response, Session

#: A record's change time: its modification or event time, None when it has none (a delete).
ChangedAt = t.Callable[[dict[str, t.Any]], "datetime.datetime | None"]
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
        changed_at: ChangedAt | None = None,
        every: float = PROGRESS_EVERY,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    ) -> None:
        """Start counting now; with `changed_at`, the summary tells the lag (module doc)."""
        self.stream = stream
        self.logger = logger
        self.calls = calls
        self.every = every
        self.clock = clock
        self.changed_at = changed_at
        self.started_at = wall_clock()
        self.oldest_change: datetime.datetime | None = None
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
                if self.changed_at is not None:
                    self._note_change(self.changed_at(record))
                now = self.clock()
                if now - self._logged >= self.every:
                    self._logged = now
                    self.logger.info("Progress %s: %s", self.stream, self.counts(now))
                yield record
        finally:
            self.logger.info("Summary %s: %s", self.stream, self.counts(self.clock()))

    def _note_change(self, changed: datetime.datetime | None) -> None:
        if changed is not None and (self.oldest_change is None or changed < self.oldest_change):
            self.oldest_change = changed

    @property
    def lag_seconds(self) -> float:
        """Age of the oldest change read, when the read started (0: nothing had changed)."""
        if self.oldest_change is None:
            return 0.0
        return max(0.0, (self.started_at - self.oldest_change).total_seconds())

    def page(self) -> None:
        """Count a page (or file) read and checkpointed."""
        self.pages += 1

    def counts(self, now: float) -> str:
        """Return `records N, deletes N, pages N, requests N, retries N, seconds N`."""
        requests = self.calls.requests - self._requests_before
        retries = self.calls.retries - self._retries_before
        counts = (
            f"records {self.records}, deletes {self.deletes}, pages {self.pages}, "
            f"requests {requests}, retries {retries}, seconds {now - self._started:.1f}"
        )
        if self.changed_at is None:
            return counts
        return f"{counts}, lag_seconds {self.lag_seconds:.0f}"


def field_time(name: str) -> ChangedAt:
    """Return a `changed_at` reading an ISO 8601 date-time field (naive values are UTC)."""

    def changed_at(record: dict[str, t.Any]) -> datetime.datetime | None:
        value = record.get(name)
        if not value:
            return None
        parsed = (
            value
            if isinstance(value, datetime.datetime)
            else datetime.datetime.fromisoformat(str(value))
        )
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)

    return changed_at
