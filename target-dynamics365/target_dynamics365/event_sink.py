"""The `email_events` sink: activity rows of existing contacts, written table by table.

Per batch, one read (`read_contacts`: a GET, or one `$batch` of GETs) tells which of the batch's
contacts not seen earlier in the run exist; the run remembers both kinds. Events of missing
contacts are rejected without a write; the others go out in chunks of up to 1000 per table
(UpsertMultiple, or a `$batch` change set where the table lacks it), side by side over the
target's pool of application users. A contact deleted between the read and the write is still
caught: when Dataverse refuses a chunk because a bound contact does not exist, every row of that
contact is rejected and the rest is sent again. Other refusals blaming the content name the
failing operation (change set) or are split in halves until the bad rows are found.

The writes overlap the reading of the next batch: a batch's chunks are handed to the pool
(`ClientPool.submit`) and the sink returns while they are in flight, waiting only for the batch
before (so at most one batch is in flight while records are read, and the pool's queue never
runs dry between batches). The target holds back each STATE until the writes in flight before it
are done (`target.Checkpoints`), and a batch that rewrites an event still in flight is sent only
once that write is done, so the rewrites of one event keep their order.
"""

from __future__ import annotations

import math
import threading
import typing as t
from collections import Counter
from functools import partial
from urllib.parse import quote

from dataverse_client.batch import ChangeSetError
from dataverse_client.client import DataverseAPIError, ForbiddenError

from target_dynamics365.events import (
    ACTIVITY_TABLES,
    EVENT_ID,
    ActivityTable,
    event_date,
    key_literal,
)
from target_dynamics365.optouts import is_guid
from target_dynamics365.sinks import MAX_TARGETS, ROW_ERRORS, DataverseSink, chunks
from target_dynamics365.writers import (
    OBJECT_DOES_NOT_EXIST,
    EventRow,
    missing_contact,
    upsert_multiple_tables,
    writer_for,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from singer_sdk.target_base import Target

#: Without `batch_size_rows`, a batch closes once it holds this many events and its requests
#: are (nearly) full, or at EVENT_BATCH_MAX events in any case.
EVENT_BATCH_MIN = 25_000
EVENT_BATCH_MAX = 50_000
MAX_EMPTY_SHARE = 0.5  # requests' worth of unused room tolerated when closing at the minimum
FILTER_CHARS = 8000  # URL-encoded `$filter` per read of event ids (Dataverse allows ~32 KB URLs)


def unused_room(counts: Counter[str]) -> float:
    """Return the requests' worth of room the batch's last chunk per table would leave empty."""
    return sum(math.ceil(n / MAX_TARGETS) - n / MAX_TARGETS for n in counts.values())


def event_id_filters(event_ids: Sequence[str], limit: int = FILTER_CHARS) -> Iterator[str]:
    """Yield URL-encoded `acs_eventid eq '…' or …` conditions of at most ~`limit` characters."""
    terms: list[str] = []
    size = 0
    for event_id in event_ids:
        term = f"{EVENT_ID.logical_name} eq {quote(key_literal(event_id), safe='')}"
        if terms and size + len(term) > limit:
            yield " or ".join(terms)
            terms, size = [], 0
        terms.append(term)
        size += len(term) + 4
    if terms:
        yield " or ".join(terms)


class EmailEventSink(DataverseSink):
    """Writes the `email_events` stream as activity rows on the contacts' timelines.

    One row per event in the activity table of its `event_type`, upserted on the `acs_eventid`
    alternate key, so a replayed event rewrites its row instead of adding one. Events without a
    usable id, type, contact id or time, and events of contacts that do not exist, go to the
    rejects file.
    """

    outcomes = ("upserted", "rejected")
    dry_run_outcomes = ("created", "updated", "rejected")

    #: Batches in flight while the next one is read (the one before it is waited for).
    batches_in_flight = 1

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        """Start with no contact known (existing or missing) and no table checked yet."""
        super().__init__(target, stream_name, schema, key_properties)
        self.existing_contacts: set[str] = set()
        self.missing_contacts: set[str] = set()
        self._bulk_tables: set[str] | None = None
        self._bulk_lock = threading.Lock()
        self._fill: Counter[str] = Counter()

    # --- batching ------------------------------------------------------------------------

    @property
    def max_size(self) -> int:
        """`batch_size_rows`, else EVENT_BATCH_MIN events."""
        return self.batch_size_rows or EVENT_BATCH_MIN

    @property
    def is_full(self) -> bool:
        """`batch_size_rows` events when set; else full requests from EVENT_BATCH_MIN on."""
        size = self.current_size
        if self.batch_size_rows:
            return size >= self.batch_size_rows
        if size >= EVENT_BATCH_MAX:
            return True
        return size >= EVENT_BATCH_MIN and unused_room(self._fill) <= MAX_EMPTY_SHARE

    def start_batch(self, context: dict) -> None:
        """Count the new batch's events per type from zero."""
        self._fill = Counter()

    def process_record(self, record: dict, context: dict) -> None:
        """Keep the record for the batch and count it under its type."""
        super().process_record(record, context)
        self._fill[str(record.get("event_type"))] += 1

    # --- writing -------------------------------------------------------------------------

    def write_batch(self, context: dict) -> None:
        """Reject the events of missing contacts; send the others per table, 1000 a request.

        Returns with the batch's chunks in flight, once the batch before is written (see the
        module's docstring); `clean_up` waits for the last one.
        """
        rows: dict[str, list[EventRow]] = {}
        tables: dict[str, ActivityTable] = {}
        for event_type, table, row in self._latest_per_event(context.get("records", [])):
            tables[event_type] = table
            rows.setdefault(event_type, []).append(row)
        self.check_contacts(rows)
        if self.dry_run:
            self.preview(tables, rows)
            return
        # One row per event in a batch (`_latest_per_event`): chunks go out side by side.
        tasks = [
            partial(self.send, tables[event_type], chunk)
            for event_type, table_rows in rows.items()
            for chunk in chunks(self._without_missing_contacts(table_rows), MAX_TARGETS)
        ]
        if not tasks:
            return
        keys = frozenset(
            (row.table.logical_name, row.event_id.casefold())
            for table_rows in rows.values()
            for row in table_rows
        )
        checkpoints = self.target.checkpoints
        if checkpoints.conflicts(keys):  # a rewrite of an event in flight goes after it
            checkpoints.wait()
        checkpoints.track(self.pool.submit(tasks), keys)
        checkpoints.wait(keep=self.batches_in_flight)

    def clean_up(self) -> None:
        """At the end of the input: wait until every batch is written."""
        self.target.checkpoints.wait()
        super().clean_up()

    def check_contacts(self, rows: dict[str, list[EventRow]]) -> None:
        """Find which of the batch's contacts exist, with one read; remember them for the run.

        Contacts found or found missing earlier in the run are not read again.
        """
        batch = {row.contact_id for table_rows in rows.values() for row in table_rows}
        unseen = sorted(batch - self.existing_contacts - self.missing_contacts)
        if not unseen:
            return
        found = self.read_contacts(unseen)
        for contact_id in unseen:
            known = self.existing_contacts if contact_id in found else self.missing_contacts
            known.add(contact_id)

    def preview(self, tables: dict[str, ActivityTable], rows: dict[str, list[EventRow]]) -> None:
        """Dry run: count what `write_batch` would create, update and reject, by reading only.

        The contacts are known (`check_contacts`); a read of each table by `acs_eventid` tells
        rows that would be created from rows already there. Refusals of a row's content cannot
        be foreseen.
        """
        for event_type, table_rows in rows.items():
            table = tables[event_type]
            self.supports_upsert_multiple(table)  # logs the tables a real run writes by $batch
            kept = self._without_missing_contacts(table_rows)
            existing = self.existing_event_ids(table, [row.event_id for row in kept])
            created = sum(row.event_id.casefold() not in existing for row in kept)
            self.report.add(self.stream_name, "created", created)
            self.report.add(self.stream_name, "updated", len(kept) - created)

    def existing_event_ids(self, table: ActivityTable, event_ids: Sequence[str]) -> set[str]:
        """Return which of `event_ids` (casefolded, as Dataverse compares) have a row already."""
        found: set[str] = set()
        for condition in event_id_filters(event_ids):
            query = f"{table.entity_set}?$select={EVENT_ID.logical_name}&$filter={condition}"
            found.update(
                str(row[EVENT_ID.logical_name]).casefold() for row in self.client.iter_values(query)
            )
        return found

    def supports_upsert_multiple(self, table: ActivityTable) -> bool:
        """Whether `table` has UpsertMultiple; asked once per run for the four tables."""
        with self._bulk_lock:
            if self._bulk_tables is None:
                all_tables = ACTIVITY_TABLES.values()
                self._bulk_tables = upsert_multiple_tables(self.client, all_tables)
                for other in all_tables:
                    if other.logical_name not in self._bulk_tables:
                        self.logger.info(
                            "%s has no UpsertMultiple: writing it with $batch change sets",
                            other.logical_name,
                        )
            return table.logical_name in self._bulk_tables

    def send(self, table: ActivityTable, rows: Sequence[EventRow]) -> None:
        """Write `rows` to `table`, isolating refused rows; count the written ones."""
        pending = list(rows)
        write = writer_for(self.supports_upsert_multiple(table))
        while True:
            pending = self._without_missing_contacts(pending)
            if not pending:
                return
            try:
                self.pool.call(partial(write, table=table, rows=pending))
            except ForbiddenError:
                raise
            except DataverseAPIError as exc:
                if exc.status not in ROW_ERRORS:
                    raise
                contact = missing_contact(exc)
                if contact is not None and any(row.contact_id == contact for row in pending):
                    self.existing_contacts.discard(contact)  # deleted since it was read
                    self.missing_contacts.add(contact)
                    continue
                index = exc.index if isinstance(exc, ChangeSetError) else None
                if index is not None and index < len(pending):
                    self._reject_row(pending.pop(index), exc)
                    continue
                if len(pending) == 1:
                    self._reject_row(pending[0], exc)
                    return
                middle = len(pending) // 2
                self.send(table, pending[:middle])
                self.send(table, pending[middle:])
                return
            self.report.add(self.stream_name, "upserted", len(pending))
            return

    def _without_missing_contacts(self, rows: list[EventRow]) -> list[EventRow]:
        """Reject the rows of contacts known not to exist; return the others."""
        if not self.missing_contacts:
            return rows
        kept = []
        for row in rows:
            if row.contact_id in self.missing_contacts:
                self.reject(
                    row.record,
                    row.event_id,
                    f"contact {row.contact_id} does not exist in Dynamics 365",
                    field="profile_external_id",
                    status=404,
                    code=OBJECT_DOES_NOT_EXIST,
                )
            else:
                kept.append(row)
        return kept

    def _reject_row(self, row: EventRow, exc: DataverseAPIError) -> None:
        self.reject(row.record, row.event_id, exc.error_message, status=exc.status, code=exc.code)

    # --- records → rows ------------------------------------------------------------------

    def _latest_per_event(
        self, records: list[dict[str, t.Any]]
    ) -> list[tuple[str, ActivityTable, EventRow]]:
        """Keep the last record of each event; reject those that cannot become an activity."""
        latest: dict[tuple[str, str], tuple[str, ActivityTable, EventRow]] = {}
        for record in records:
            event = self._event(record)
            if event is None:
                continue
            _, table, row = event
            key = (table.logical_name, row.event_id)
            if key in latest:
                self.tally_duplicate_merged()
            latest[key] = event
        return list(latest.values())

    def _event(self, record: dict[str, t.Any]) -> tuple[str, ActivityTable, EventRow] | None:
        event_id = record.get("event_id")
        if not event_id:
            self.reject(record, None, "event_id is missing", field="event_id")
            return None
        event_id = str(event_id)
        event_type = str(record.get("event_type"))
        table = ACTIVITY_TABLES.get(event_type)
        if table is None:
            types = ", ".join(ACTIVITY_TABLES)
            self.reject(
                record,
                event_id,
                f"event_type {record.get('event_type')!r} is not one of {types}",
                field="event_type",
            )
            return None
        external_id = record.get("profile_external_id")
        if not external_id:
            self.reject(
                record,
                event_id,
                "profile_external_id is missing: no contact to attach to",
                field="profile_external_id",
            )
            return None
        if not is_guid(str(external_id)):
            self.reject(
                record,
                event_id,
                "profile_external_id is not a Dynamics 365 contact id",
                field="profile_external_id",
            )
            return None
        try:
            event_date(record.get("event_time"))
        except ValueError:
            self.reject(
                record,
                event_id,
                f"event_time {record.get('event_time')!r} is not a date",
                field="event_time",
            )
            return None
        contact_id = str(external_id).lower()
        row = EventRow(table, event_id, contact_id, record)
        return event_type, table, row
