"""The order of writes and checkpoints: the one place that decides when records and STATE go.

Rules (both backends):

- Parents first: before a stream's batch is written, the pending records of its parent
  streams (`resources.*.links`, and theirs) are written. A parent filtered out this run is
  remembered (`filtered_out`), so its children are filtered out with it.
- Held back: a record whose choice field has no Campaign enumeration value yet waits for its
  option set (`option_sets` arriving after the tables); a child of a stream with waiting
  records waits with them (it would not find its parent). At the end of input every waiting
  record is written or rejected (`settle`). A newer record of a waiting key replaces it.
- STATE: after each written batch every sink writes what it holds and the latest STATE is
  emitted (the SDK would only do so at the end or every five minutes), but never from a
  parent batch written inside a child's, never while records wait, never twice, and never
  in a dry run (Meltano keeps the bookmarks of the last real run), and not while records
  wait in an import file (`bulk`): at the end of input the files are imported (parents
  first) and their rejects recorded before the last STATE.
"""

from __future__ import annotations

import copy
import typing as t
from collections import defaultdict
from contextlib import contextmanager

from target_adobe_campaign.payload import DELETED_AT, FILTERED_OUT, RecordRejectedError, key_of

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Iterator, Mapping

    from singer_sdk.sinks import Sink

    from target_adobe_campaign.enumerations import Choices
    from target_adobe_campaign.report import Report
    from target_adobe_campaign.routing import Route

Record = dict[str, t.Any]


class SinkHost(t.Protocol):
    """What the order needs of the target: its sinks, and draining them (singer-sdk's)."""

    def sink_exists(self, stream_name: str) -> bool:
        """Whether the stream has a sink."""

    def get_sink(self, stream_name: str) -> Sink:
        """Return the stream's sink."""

    def drain_one(self, sink: Sink) -> None:
        """Write a sink's pending records (nothing if it has none)."""

    def drain_all(self) -> None:
        """Write every sink's pending records, then emit the latest STATE."""


class WriteOrder:
    """Parents first, held-back records, and when STATE may be emitted (module docstring)."""

    def __init__(
        self,
        host: SinkHost,
        routes: Mapping[str, Route],
        choices: Choices,
        report: Report,
        *,
        dry_run: bool,
        logger: logging.Logger,
        staged: Callable[[], int] = lambda: 0,
    ) -> None:
        """Order the sinks of `host`, routed by `routes`; choice fields converted by `choices`.

        `staged()`: records written to import files not imported yet (STATE waits for them).
        """
        self.host = host
        self.routes = routes
        self.choices = choices
        self.report = report
        self.dry_run = dry_run
        self.logger = logger
        self.staged = staged
        #: Stream → CRM ids its filter left out in this run (their children follow them).
        self.filtered_out: defaultdict[str, set[str]] = defaultdict(set)
        self._pending: dict[str, list[Record]] = {}
        self._depth = 0
        self._checkpointing = False
        self._emitted: dict | None = None
        self.final = False

    # --- parents first --------------------------------------------------------------------

    @contextmanager
    def batch(self, route: Route) -> Iterator[None]:
        """Write `route`'s parents' pending records, then let the batch be written.

        A parent's batch written from here ends while the child's records are still
        unwritten: the checkpoint waits for the outermost batch (`drained`).
        """
        self._depth += 1
        try:
            self._drain_parents(route)
            yield
        finally:
            self._depth -= 1

    def _drain_parents(self, route: Route) -> None:
        for link in route.links:
            self._drain_parents(self.routes[link.stream])
            if self.host.sink_exists(link.stream):
                self.host.drain_one(self.host.get_sink(link.stream))

    # --- held-back records ----------------------------------------------------------------

    def ready(
        self, route: Route, properties: Mapping[str, t.Any], records: list[Record]
    ) -> list[Record]:
        """Return the records to write now, choice fields converted; reject or hold the rest.

        Records held earlier come first; a newer record of the same key replaces a held one.
        Records of a stream whose parent stream has waiting records wait with them.
        """
        stream = route.stream
        fields = self.choices.fields.get(stream)
        if not fields and stream not in self._pending and not self._parent_waits(route):
            return records
        batch = _supersede(self._pending.pop(stream, []), records, route.key)
        if self._parent_waits(route):
            self._pending[stream] = batch
            self.logger.info("%d %s record(s) wait for their parents", len(batch), stream)
            return []
        if not fields:
            return batch
        self.choices.check_schema(stream, properties)
        self.choices.sync()
        out: list[Record] = []
        held: list[Record] = []
        for record in batch:
            if record.get(DELETED_AT) is not None or record.get(FILTERED_OUT):
                out.append(record)  # never written as such: nothing to convert
                continue
            try:
                converted = self.choices.convert_record(stream, record)
            except RecordRejectedError as exc:
                key = _key_or_none(record, route.key)
                self.report.reject(stream, record, key, exc.reason, field=exc.field)
                continue
            if converted is None:
                held.append(record)
            else:
                out.append(converted)
        if held:
            self._pending[stream] = held
            self.logger.info(
                "%d %s record(s) wait for their option sets (stream option_sets)", len(held), stream
            )
        return out

    def _parent_waits(self, route: Route) -> bool:
        """Whether records of a parent stream of `route` wait (until the run's end)."""
        return not self.final and any(self._pending.get(link.stream) for link in route.links)

    def holding(self) -> int:
        """How many records wait (STATE must not pass them)."""
        return sum(len(records) for records in self._pending.values())

    def settle(self) -> None:
        """All input is read: synchronise, then write or reject every waiting record."""
        self.final = self.choices.final = True
        self.choices.sync()
        for stream in list(self._pending):
            sink = self.host.get_sink(stream)
            if sink.current_size:  # with its newer records
                self.host.drain_one(sink)
            else:
                sink.process_batch({"records": []})

    # --- STATE ----------------------------------------------------------------------------

    def drained(self) -> None:
        """After a batch is written, write what the other sinks hold and emit the latest STATE.

        The SDK emits STATE only once every sink is drained (end of input, or records older
        than five minutes), so a killed run would start over. The latest STATE arrived before
        the record that filled the written batch; once every sink has written what it holds
        (`drain_all`, which then emits that STATE), every record it covers is in Campaign.
        """
        if self._depth or self._checkpointing or self.dry_run:
            return
        self._checkpointing = True
        try:
            self.host.drain_all()
        finally:
            self._checkpointing = False

    def may_emit(self, state: dict) -> bool:
        """Whether `state` may be emitted now; if so it counts as emitted."""
        if self.dry_run:
            self.logger.debug("DRY RUN: STATE not emitted")
            return False
        if self.holding():
            self.logger.info("STATE held back: records wait for their option sets")
            return False
        if self.staged():
            self.logger.info("STATE held back: %d record(s) wait for their import", self.staged())
            return False
        if state == self._emitted:
            return False
        self._emitted = copy.deepcopy(state)
        return True


def _supersede(held: list[Record], records: list[Record], key: str) -> list[Record]:
    if not held:
        return records
    newer = {_key_or_none(record, key) for record in records} - {None}
    return [r for r in held if _key_or_none(r, key) not in newer] + records


def _key_or_none(record: Mapping[str, t.Any], key: str) -> str | None:
    try:
        return key_of(record, key)
    except RecordRejectedError:
        return None
