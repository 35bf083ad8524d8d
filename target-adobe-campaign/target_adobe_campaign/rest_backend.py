"""The REST backend (Campaign Standard): key indexes, concurrent calls, ambiguous creates.

Each resource's key index is checked (or read) once per run and kept on disk (`keyindex`).
Per batch each planned write is one call (POST, PATCH of the changed fields, DELETE),
`max_concurrency` at a time. A create
whose answer was lost is looked up before it is retried, so it is never made twice. With
`bulk` (`bulk.BulkPolicy`), a batch's creates may instead be staged for the resource's import
workflow (`importer.Importer`); a REST write that needs a staged record (a child's link, an
update or delete of it) has its stage imported first and the record's PKey looked up.
"""

from __future__ import annotations

import dataclasses
import threading
import typing as t
from dataclasses import dataclass
from functools import cached_property

from campaign_client.classic import ClassicClient
from campaign_client.client import AmbiguousWriteError, NotFoundError, RecordRefusedError
from campaign_client.imports import ImportWorkflows
from campaign_client.sftp import SFTPSettings

from target_adobe_campaign.bulk import NEVER, BulkPolicy
from target_adobe_campaign.importer import Importer
from target_adobe_campaign.keyindex import IndexFiles, KeyIndex
from target_adobe_campaign.pool import CallPool
from target_adobe_campaign.state import PENDING_PARENT, DuplicateKeyError, Entry

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Callable, Mapping, Sequence
    from concurrent.futures import Future

    from campaign_client.client import CampaignClient

    from target_adobe_campaign.plan import Write
    from target_adobe_campaign.report import Report
    from target_adobe_campaign.routing import Link, Route

#: The `source` of the import workflows' signals.
SIGNAL_SOURCE = "target-adobe-campaign"
AMBIGUOUS = "ambiguous"
REJECTED = "rejected"


@dataclass
class RestState:
    """A route's key index, and its parents' (checked once per run, kept up to date)."""

    index: KeyIndex
    index_of: Callable[[str], KeyIndex]

    def get(self, key: str) -> Entry | None:
        """Return the record holding `key` (`DuplicateKeyError` if several do)."""
        return self.index.get(key)

    def adopt(self, field: str, value: t.Any) -> Entry | None:
        """Claim the one record without a key holding `value` in `field`."""
        return self.index.adopt(field, value)

    def parent(self, link: Link, parent_key: str) -> str | None:
        """Return the parent's PKey, None when Campaign has no such parent.

        A parent in an import file (its PKey not known yet) gives `PENDING_PARENT` + its key.
        """
        entry = self.index_of(link.stream).get(parent_key)
        if entry is None:
            return None
        return entry.pkey or PENDING_PARENT + parent_key


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
        self.index_files = IndexFiles.from_config(config)
        self._lock = threading.Lock()
        self.bulk = BulkPolicy.from_config(config)
        self.importer = self._importer() if self.bulk.mode != NEVER else None

    def _importer(self) -> Importer | None:
        """Return the importer, when a resource has a workflow and SFTP is configured."""
        if not self.config.get("sftp_host") or not any(
            route.import_workflow for route in self.routes.values()
        ):
            return None
        workflows = ImportWorkflows(self.client, source=SIGNAL_SOURCE, logger=self.logger)
        return Importer.from_settings(
            self.routes,
            workflows,
            SFTPSettings.from_config(self.config),
            self.key_index,
            self.report,
            self.logger,
            self.config,
        )

    @cached_property
    def executor(self) -> CallPool:
        """The pool bounding concurrent Campaign calls (`max_concurrency`)."""
        return CallPool(max_workers=self.config.get("max_concurrency", 4))

    def key_index(self, stream: str) -> KeyIndex:
        """Return the key index of `stream`'s resource, checked against Campaign on first use.

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
                index = KeyIndex(self.client, route, self.logger, adopt_by, self.index_files)
                index.load()
                self._indexes[route.path, route.key] = index
            return index

    def state(self, route: Route, records: Sequence[dict[str, t.Any]]) -> RestState:
        """Return the route's key index (the whole resource, checked once per run)."""
        return RestState(self.key_index(route.stream), self.key_index)

    def enum_store(self) -> ClassicClient:
        """Return the SOAP enumerations client on the REST client's session and IMS token."""
        return ClassicClient.from_config(self.config, self.client)

    # --- calls ----------------------------------------------------------------------------

    def execute(self, route: Route, writes: Sequence[Write]) -> None:
        """Stage the file's creates; run the calls concurrently, settle ambiguous creates.

        A fatal error is raised once every call has settled.
        """
        index = self.key_index(route.stream)
        writes = self._stage(route, index, writes)
        writes = [resolved for w in writes if (resolved := self._resolve(route, index, w))]
        futures = [self.executor.submit(self._execute, route, index, w) for w in writes]
        ambiguous, failure = self._collect(route, writes, futures)
        if ambiguous and failure is None:
            self._settle_ambiguous_creates(route, index, ambiguous)
        index.commit()
        if failure is not None:
            raise failure

    def _stage(self, route: Route, index: KeyIndex, writes: Sequence[Write]) -> list[Write]:
        """Stage the creates (and newer records of staged keys) if the bulk policy says so.

        `LargeLoadError` first, past Adobe's limits; the other writes go by REST.
        """
        creates = sum(1 for write in writes if write.kind == "create")
        to_file = self.bulk.to_file(route, creates, len(index))
        if not to_file or self.importer is None:
            return list(writes)
        importer = self.importer
        staged = [
            w
            for w in writes
            if w.kind == "create" or (w.kind == "update" and importer.is_staged(route, w.key))
        ]
        importer.stage(route, staged)
        staged_ids = {id(w) for w in staged}
        return [w for w in writes if id(w) not in staged_ids]

    def _resolve(self, route: Route, index: KeyIndex, write: Write) -> Write | None:
        """Give a REST write the PKeys of records that were in an import file.

        Its own record (an update or delete of an imported key) and its links' parents: their
        stages are imported first. None when such a record is not in Campaign (rejected).
        """
        if write.entry is not None and not write.entry.pkey:
            if self.importer is not None and self.importer.is_staged(route, write.key):
                self.importer.flush_resource(route)
            entry = index.resolve(write.key)
            if entry is None:
                self.report.reject(
                    route.stream,
                    write.record,
                    write.key,
                    "not found: its import file did not create it (see the rejects before)",
                    field=route.key,
                )
                return None
            write = dataclasses.replace(write, entry=entry)
        body = write.body
        for link in route.links:
            value = (body or {}).get(link.name)
            pkey = value.get("PKey") if isinstance(value, dict) else None
            if not (isinstance(pkey, str) and pkey.startswith(PENDING_PARENT)):
                continue
            parent_key = pkey.removeprefix(PENDING_PARENT)
            parent = self.routes[link.stream]
            if self.importer is not None and self.importer.is_staged(parent, parent_key):
                self.importer.flush_resource(parent)
            entry = self.key_index(link.stream).resolve(parent_key)
            if entry is None:
                self.report.reject(
                    route.stream,
                    write.record,
                    write.key,
                    f"parent not found: no {link.stream} record with key '{parent_key}' in "
                    f"Campaign after its import (link '{link.name}')",
                    field=link.field,
                )
                return None
            body = {**(body or {}), link.name: {"PKey": entry.pkey}}
        return write if body is write.body else dataclasses.replace(write, body=body)

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

    def staged(self) -> int:
        """How many records wait in import files not imported yet."""
        return self.importer.staged() if self.importer is not None else 0

    def import_due(self) -> bool:
        """Whether the staged lines have waited `bulk_checkpoint_minutes`."""
        return self.importer is not None and self.importer.due()

    def flush(self) -> None:
        """Import every staged file, parents first (end of input, or a checkpoint)."""
        if self.importer is not None:
            self.importer.flush_all()

    def settle(self) -> None:
        """Read back into each key index what this run wrote (`KeyIndex.settle`)."""
        for index in list(self._indexes.values()):
            index.settle()

    def stop(self) -> None:
        """Skip the calls not started yet (those in flight end on their own)."""
        if "executor" in self.__dict__:
            self.executor.stop()

    def close(self) -> None:
        """Wait for the calls in flight; drop import files never imported (a failed run).

        The key indexes are closed last (a dry run's changes to them are dropped).
        """
        if "executor" in self.__dict__:
            self.executor.shutdown(wait=True)
        if self.importer is not None:
            self.importer.close()
        for index in self._indexes.values():
            index.close()
