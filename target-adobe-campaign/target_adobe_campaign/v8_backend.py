"""The v8 backend (Campaign v8 / Classic SOAP): batched reads by key, `WriteCollection` writes.

Per batch of a route: Campaign's state is one queryDef read of the batch's keys (`v8_state`);
the planned writes become XTK records reconciled by key (`_key="@<key>"`; links as
`<link _key="@<parent key>" …="…" _operation="none"/>`, so no primary key is ever looked up)
and go out `v8_collection_size` at a time in `xtk:session#WriteCollection` calls, on the
`max_concurrency` pool.

Refusals: a collection is one transaction, so a refused record fails the whole call and nothing
of it is written. The collection is then split in halves, each half written on its own, until
the refused records stand alone: they are rejected with Campaign's code and message (and the
field when the message names one). A good record is sent again only as part of a call that
wrote nothing, so it is written exactly once. Every operation used (`insertOrUpdate`,
`update`, `delete`) is idempotent, so the SOAP transport's retries after a lost answer are
safe (no insert is ever sent, see `campaign_client.xtk_write`).
"""

from __future__ import annotations

import re
import threading
import typing as t
from functools import cached_property

from campaign_client.client import CampaignAPIError
from campaign_client.soap import SessionExpiredError, SoapFaultError
from campaign_client.xtk_schema import get_schema
from campaign_client.xtk_write import Link, Record, write_collection

from target_adobe_campaign.pool import CallPool
from target_adobe_campaign.v8_enums import SessionEnums
from target_adobe_campaign.v8_schema import SchemaInfo, schema_id, xpath
from target_adobe_campaign.v8_state import StateReader, V8State

if t.TYPE_CHECKING:
    import logging
    from collections.abc import Mapping, Sequence
    from concurrent.futures import Future

    from campaign_client.soap_session import SoapSession

    from target_adobe_campaign.plan import Write
    from target_adobe_campaign.report import Report
    from target_adobe_campaign.routing import Route

DEFAULT_COLLECTION_SIZE = 250
#: The field a Campaign error names: `… for the '@gender' field …`.
_FIELD = re.compile(r"'@([\w-]+)' field")


class UnknownFieldError(Exception):
    """A record carries a value for a field its schema does not have (Campaign ignores it)."""

    def __init__(self, schema: str, field: str) -> None:
        """Name the schema and the field."""
        super().__init__(f"'{field}' is not an attribute of Campaign schema {schema}")
        self.field = field


class V8Backend:
    """Executes writes over a v8 instance's SOAP API (see the module docstring)."""

    def __init__(
        self,
        session: SoapSession,
        routes: Mapping[str, Route],
        report: Report,
        config: Mapping[str, t.Any],
        logger: logging.Logger,
    ) -> None:
        """Call through `session`; `config` gives `max_concurrency` and `v8_collection_size`."""
        self.session = session
        self.routes = routes
        self.report = report
        self.config = config
        self.logger = logger
        self.collection_size = config.get("v8_collection_size") or DEFAULT_COLLECTION_SIZE
        self._schemas: dict[str, SchemaInfo] = {}
        self._lock = threading.Lock()
        self.reader = StateReader(session, self.schema)

    @cached_property
    def executor(self) -> CallPool:
        """The pool bounding concurrent calls (`max_concurrency`)."""
        return CallPool(max_workers=self.config.get("max_concurrency", 4))

    def schema(self, route: Route) -> SchemaInfo:
        """Return the route's schema, read from Campaign once per run."""
        name = schema_id(route)
        with self._lock:
            if name not in self._schemas:
                element = get_schema(self.session, name)
                if element is None:
                    msg = f"Campaign has no schema {name} (resources.{route.stream})"
                    raise CampaignAPIError(404, "", msg, "xtk:persist#GetEntityIfMoreRecent")
                self._schemas[name] = SchemaInfo.parse(name, element)
            return self._schemas[name]

    def state(self, route: Route, records: Sequence[dict[str, t.Any]]) -> V8State:
        """Read the batch's keys, unknown parents and adoption candidates."""
        return self.reader.read(route, records, dict(self.routes))

    def enum_store(self) -> SessionEnums:
        """Return the enumerations client on the same SOAP session."""
        return SessionEnums(self.session)

    # --- writes ---------------------------------------------------------------------------

    def execute(self, route: Route, writes: Sequence[Write]) -> None:
        """Write in collections (concurrently); raise the first fatal error once all settled."""
        schema = self.schema(route)
        planned: list[tuple[Write, Record]] = []
        for write in writes:
            try:
                planned.append((write, self._record(route, schema, write)))
            except UnknownFieldError as exc:
                self.report.reject(route.stream, write.record, write.key, str(exc), field=exc.field)
        chunks = [
            planned[i : i + self.collection_size]
            for i in range(0, len(planned), self.collection_size)
        ]
        futures: list[Future[None]] = [
            self.executor.submit(self._write, route, schema.id, chunk) for chunk in chunks
        ]
        failure: BaseException | None = None
        for future in futures:
            try:
                future.result()
            except Exception as exc:  # raised once the batch has settled
                failure = failure or exc
        if failure is not None:
            raise failure

    def _write(self, route: Route, schema: str, chunk: list[tuple[Write, Record]]) -> None:
        """Write one collection; on a refusal, split it until the refused records stand alone."""
        try:
            write_collection(self.session, schema, [record for _, record in chunk])
        except SessionExpiredError:
            raise  # expired again right after a new logon: not the records' fault
        except SoapFaultError as exc:
            if len(chunk) == 1:
                write, _ = chunk[0]
                found = _FIELD.search(exc.error_message)
                self.report.reject(
                    route.stream,
                    write.record,
                    write.key,
                    exc.error_message,
                    field=found.group(1) if found else None,
                    status=exc.status,
                    code=exc.code,
                )
                return
            half = len(chunk) // 2
            self.logger.info(
                "Campaign refused a collection of %d %s record(s) (%s): splitting it",
                len(chunk),
                route.resource,
                exc.code,
            )
            self._write(route, schema, chunk[:half])
            self._write(route, schema, chunk[half:])
            return
        self._written(route, [write for write, _ in chunk])

    def _written(self, route: Route, writes: Sequence[Write]) -> None:
        """Count the writes and remember which keys now exist (children link to them)."""
        known = self.reader.known(schema_id(route))
        for write in writes:
            if write.kind in ("delete", "delete_filtered_out"):
                known.discard(write.key)
            else:
                known.add(write.key)
            self.report.add(route.stream, write.outcome)

    def pretend(self, route: Route, writes: Sequence[Write]) -> None:
        """Dry run: count the writes as made; children then find the parents it would create."""
        schema = self.schema(route)
        for write in writes:
            try:
                self._record(route, schema, write)
            except UnknownFieldError as exc:
                self.report.reject(route.stream, write.record, write.key, str(exc), field=exc.field)
                continue
            self._written(route, [write])

    def _record(self, route: Route, schema: SchemaInfo, write: Write) -> Record:
        """Return the XTK record of a write, reconciled on the route's key."""
        key = (xpath(route.key),)
        if write.kind in ("delete", "delete_filtered_out"):
            return Record.delete(key, {route.key: write.key})
        body = dict(write.body or {})
        body[route.key] = write.key
        links = tuple(
            self._link(route, name, body.pop(name)) for name in self._link_names(route, body)
        )
        unknown = [
            name
            for name, value in body.items()
            if name not in schema.attributes and value is not None
        ]
        if unknown:
            raise UnknownFieldError(schema.id, unknown[0])
        values = {
            name: schema.xtk_value(name, value)
            for name, value in body.items()
            if name in schema.attributes
        }
        if write.kind == "create":
            return Record(values, key, "insertOrUpdate", links)
        if write.kind == "adopt":
            assert write.entry is not None  # planned with the adopted record
            return Record({"id": write.entry.pkey, **values}, ("@id",), "update", links)
        return Record(values, key, "update", links)

    def _link_names(self, route: Route, body: Mapping[str, t.Any]) -> list[str]:
        return [link.name for link in route.links if isinstance(body.get(link.name), dict)]

    def _link(self, route: Route, name: str, value: Mapping[str, t.Any]) -> Link:
        """`<name _key="@<parent key>" <parent key>="…" _operation="none"/>`."""
        link = next(link for link in route.links if link.name == name)
        parent_key = self.routes[link.stream].key
        return Link(name, (xpath(parent_key),), {parent_key: value["PKey"]})

    # --- lifecycle ------------------------------------------------------------------------

    def staged(self) -> int:
        """Nothing is staged: v8 writes collections (`bulk` is for the standard backend)."""
        return 0

    def import_due(self) -> bool:
        """Nothing is staged."""
        return False

    def flush(self) -> None:
        """Nothing to import."""

    def settle(self) -> None:
        """Nothing is kept between runs: each batch's keys are read from Campaign."""

    def stop(self) -> None:
        """Skip the collections not started yet (those in flight end on their own)."""
        if "executor" in self.__dict__:
            self.executor.stop()

    def close(self) -> None:
        """Wait for the calls in flight."""
        if "executor" in self.__dict__:
            self.executor.shutdown(wait=True)
