"""The REST backend (Campaign Standard): key indexes, concurrent calls, ambiguous creates.

Each resource's key index is read once per run (`keyindex`). Per batch each planned write is
one call (POST, PATCH of the changed fields, DELETE), `max_concurrency` at a time. A create
whose answer was lost is looked up before it is retried, so it is never made twice.
"""

from __future__ import annotations

import threading
import typing as t
from dataclasses import dataclass
from functools import cached_property

from campaign_client.classic import ClassicClient
from campaign_client.client import AmbiguousWriteError, NotFoundError, RecordRefusedError

from target_adobe_campaign.keyindex import KeyIndex
from target_adobe_campaign.pool import CallPool
from target_adobe_campaign.state import DuplicateKeyError, Entry

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping, Sequence
    from concurrent.futures import Future

    from campaign_client.client import CampaignClient

    from target_adobe_campaign.plan import Write
    from target_adobe_campaign.report import Report
    from target_adobe_campaign.routing import Link, Route

AMBIGUOUS = "ambiguous"
REJECTED = "rejected"


@dataclass
class RestState:
    """A route's key index, and its parents' (read once per run, kept up to date)."""

    index: KeyIndex
    index_of: Callable[[str], KeyIndex]

    def get(self, key: str) -> Entry | None:
        """Return the record holding `key` (`DuplicateKeyError` if several do)."""
        return self.index.get(key)

    def adopt(self, field: str, value: t.Any) -> Entry | None:
        """Claim the one record without a key holding `value` in `field`."""
        return self.index.adopt(field, value)

    def parent(self, link: Link, parent_key: str) -> str | None:
        """Return the parent's PKey, None when Campaign has no such parent."""
        entry = self.index_of(link.stream).get(parent_key)
        return entry.pkey if entry else None


class RestBackend:
    """Executes writes over Campaign Standard's REST API."""

    def __init__(
        self,
        client: CampaignClient,
        routes: Mapping[str, Route],
        report: Report,
        config: Mapping[str, t.Any],
        logger: logging.Logger,
    ) -> None:
        """Share `client`; `config` gives `max_concurrency` and the SOAP settings (enumerations)."""
        self.client = client
        self.routes = routes
        self.report = report
        self.config = config
        self.logger = logger
        self._indexes: dict[tuple[str, str], KeyIndex] = {}
        self._lock = threading.Lock()

    @cached_property
    def executor(self) -> CallPool:
        """The pool bounding concurrent Campaign calls (`max_concurrency`)."""
        return CallPool(max_workers=self.config.get("max_concurrency", 4))

    def key_index(self, stream: str) -> KeyIndex:
        """Return the key index of `stream`'s resource, read from Campaign on first use.

        Streams routed to the same resource and key (e.g. a stream and its deletes split
        off with a stream map) share one index.
        """
        route = self.routes[stream]
        with self._lock:
            index = self._indexes.get((route.path, route.key))
            if index is None:
                adopt_by = {
                    other.options.adopt_by
                    for other in self.routes.values()
                    if (other.path, other.key) == (route.path, route.key) and other.options.adopt_by
                }
                index = KeyIndex(self.client, route, self.logger, adopt_by)
                index.load()
                self._indexes[route.path, route.key] = index
            return index

    def state(self, route: Route, records: Sequence[dict[str, t.Any]]) -> RestState:
        """Return the route's key index (the whole resource, read once per run)."""
        return RestState(self.key_index(route.stream), self.key_index)

    def enum_store(self) -> ClassicClient:
        """Return the SOAP enumerations client on the REST client's session and IMS token."""
        return ClassicClient.from_config(self.config, self.client)

    # --- calls ----------------------------------------------------------------------------

    def execute(self, route: Route, writes: Sequence[Write]) -> None:
        """Run the calls concurrently, settle ambiguous creates, then raise a fatal error."""
        index = self.key_index(route.stream)
        futures = [self.executor.submit(self._execute, route, index, w) for w in writes]
        ambiguous, failure = self._collect(route, writes, futures)
        if ambiguous and failure is None:
            self._settle_ambiguous_creates(route, index, ambiguous)
        if failure is not None:
            raise failure

    def _execute(self, route: Route, index: KeyIndex, write: Write) -> str:
        """Make one call (in a pool thread); return its outcome, REJECTED or AMBIGUOUS."""
        try:
            if write.kind == "create":
                created = self.client.post(route.path, write.body)
                index.put(write.key, Entry.from_record(created, route.path))
                return write.outcome
            assert write.entry is not None  # planned with its entry
            if write.kind in ("update", "adopt"):
                self.client.patch(write.entry.href, write.body)
                write.entry.values.update(write.body or {})
                if write.kind == "adopt":
                    index.put(write.key, write.entry)
                return write.outcome
            self.client.delete(write.entry.href)
            index.remove(write.key)
        except (RecordRefusedError, NotFoundError) as exc:  # this record only; others stop
            self.report.reject(
                route.stream,
                write.record,
                write.key,
                exc.error_message,
                field=exc.field,
                status=exc.status,
                code=exc.code,
            )
            return REJECTED
        except AmbiguousWriteError:
            return AMBIGUOUS
        return write.outcome

    def pretend(self, route: Route, writes: Sequence[Write]) -> None:
        """Dry run: update the key index as the calls would have, and count their outcomes.

        Later batches (and children looking up a new parent) then decide as in a real run.
        """
        index = self.key_index(route.stream)
        for write in writes:
            if write.kind == "create":
                pkey = f"dry-run:{write.key}"
                entry = Entry(pkey=pkey, href=f"{route.path}/{pkey}", values=write.body or {})
                index.put(write.key, entry)
            elif write.kind in ("update", "adopt"):
                assert write.entry is not None  # planned with its entry
                write.entry.values.update(write.body or {})
                if write.kind == "adopt":
                    index.put(write.key, write.entry)
            else:
                index.remove(write.key)
            self.report.add(route.stream, write.outcome)

    def _collect(
        self, route: Route, writes: Sequence[Write], futures: list[Future[str]]
    ) -> tuple[list[Write], BaseException | None]:
        """Count outcomes; return the ambiguous creates and the first fatal error, if any.

        Every call is awaited before a fatal error is raised, so the counts are complete.
        """
        ambiguous: list[Write] = []
        failure: BaseException | None = None
        for write, future in zip(writes, futures, strict=True):
            try:
                outcome = future.result()
            except Exception as exc:  # raised once the batch has settled
                failure = failure or exc
                continue
            if outcome == AMBIGUOUS:
                ambiguous.append(write)
            elif outcome != REJECTED:  # counted with the reject itself
                self.report.add(route.stream, outcome)
        return ambiguous, failure

    def _settle_ambiguous_creates(
        self, route: Route, index: KeyIndex, writes: Sequence[Write]
    ) -> None:
        """Look the keys up; create only what Campaign really does not have."""
        self.logger.warning(
            "%d create(s) of %s may or may not have happened; looking the keys up",
            len(writes),
            route.resource,
        )
        index.refresh(write.key for write in writes)
        for write in writes:
            try:
                exists = index.get(write.key) is not None
            except DuplicateKeyError as exc:
                self.report.reject(route.stream, write.record, write.key, str(exc), field=route.key)
                continue
            outcome = write.outcome if exists else self._execute(route, index, write)
            if outcome == AMBIGUOUS:
                msg = (
                    f"Creating {route.resource} {route.key} '{write.key}' failed "
                    "twice with an unknown outcome; stopping before anything else is written"
                )
                raise AmbiguousWriteError(msg)
            if outcome != REJECTED:
                self.report.add(route.stream, outcome)

    # --- lifecycle ------------------------------------------------------------------------

    def stop(self) -> None:
        """Skip the calls not started yet (those in flight end on their own)."""
        if "executor" in self.__dict__:
            self.executor.stop()

    def close(self) -> None:
        """Wait for the calls in flight."""
        if "executor" in self.__dict__:
            self.executor.shutdown(wait=True)
