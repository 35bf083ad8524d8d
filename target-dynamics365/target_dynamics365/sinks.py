"""The sinks: Campaign opt-outs → contact `donot*` columns, email events → activity rows.

Both share `DataverseSink`: the target's one Dataverse client, the bulk read of contacts, the
bulk write (`UpdateMultiple` / `UpsertMultiple`, all or nothing) split on refusal to isolate the
bad rows, and the rejects file.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from http import HTTPStatus

from singer_sdk.sinks import BatchSink
from tap_dynamics365.client import DataverseAPIError, ForbiddenError

from target_dynamics365.events import ACTIVITY_TABLES, ActivityTable, activity_target, event_date
from target_dynamics365.optouts import changes, contact_fields, desired_values, is_guid

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from singer_sdk.target_base import Target

    from target_dynamics365.target import TargetDynamics365

CONTACTS = "contacts"
UPDATE_MULTIPLE = f"{CONTACTS}/Microsoft.Dynamics.CRM.UpdateMultiple"
DEFAULT_BATCH_SIZE = 1000
MAX_TARGETS = 1000  # rows per Update/UpsertMultiple request (Microsoft's suggested start)
IDS_PER_READ = 200  # `contactid eq …` terms per GET: ~11 KB of URL, well under the 32 KB limit
#: Statuses blaming the request's content (so one row may be the cause): split and retry.
ROW_ERRORS = frozenset(
    {HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND, HTTPStatus.PRECONDITION_FAILED}
)


@dataclass(frozen=True)
class Row:
    """One target of a bulk write, with its key (for rejects) and the record it comes from."""

    key: str
    target: dict[str, t.Any]
    record: dict[str, t.Any]


def chunks(items: Sequence[t.Any], size: int) -> Iterator[Sequence[t.Any]]:
    """Yield consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class DataverseSink(BatchSink):
    """Batches written to Dataverse with bulk reads and all-or-nothing bulk writes."""

    target: TargetDynamics365
    #: The outcomes this sink counts, in the order the run summary logs them.
    outcomes: tuple[str, ...] = ()

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        """Take the shared client from the target."""
        super().__init__(target, stream_name, schema, key_properties)
        self.target = t.cast("TargetDynamics365", target)
        self.client = self.target.client

    @property
    def max_size(self) -> int:
        """`batch_size_rows`, else 1000 records per batch."""
        return self.batch_size_rows or DEFAULT_BATCH_SIZE

    def read_contacts(
        self, contact_ids: Sequence[str], columns: Sequence[str] = ()
    ) -> dict[str, dict[str, t.Any]]:
        """Return the existing contacts among `contact_ids` (lowercase) with `columns`.

        `GET contacts?$select=contactid,…&$filter=contactid eq … or …`, 200 ids a request.
        """
        select = ",".join(["contactid", *columns])
        found: dict[str, dict[str, t.Any]] = {}
        for chunk in chunks(contact_ids, IDS_PER_READ):
            condition = " or ".join(f"contactid eq {contact_id}" for contact_id in chunk)
            for row in self.client.iter_values(f"{CONTACTS}?$select={select}&$filter={condition}"):
                found[row["contactid"].lower()] = row
        return found

    def write(self, action: str, rows: Sequence[Row], outcome: str) -> None:
        """POST `rows` to a bulk action; on a refusal blaming the content, split in halves.

        Rows refused on their own go to the rejects file with Dataverse's status, code and
        message; the others are written and counted as `outcome`. 401, 403, other statuses and
        exhausted retries stop the run.
        """
        try:
            self.client.post(action, {"Targets": [row.target for row in rows]})
        except ForbiddenError:
            raise
        except DataverseAPIError as exc:
            if exc.status not in ROW_ERRORS:
                raise
            if len(rows) == 1:
                (row,) = rows
                self.reject(
                    row.record, row.key, exc.error_message, status=exc.status, code=exc.code
                )
                return
            middle = len(rows) // 2
            self.write(action, rows[:middle], outcome)
            self.write(action, rows[middle:], outcome)
            return
        self.target.summary.add(self.stream_name, outcome, len(rows))

    def reject(
        self,
        record: dict[str, t.Any],
        key: str | None,
        reason: str,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
        """Count the record as rejected and write it to the rejects file with the reason."""
        self.logger.warning("Rejected %s record %s: %s", self.stream_name, key, reason)
        self.target.summary.add(self.stream_name, "rejected")
        self.target.rejects.write(
            stream=self.stream_name,
            key=key,
            reason=reason,
            record=record,
            status=status,
            code=code,
        )


class OptOutSink(DataverseSink):
    """Writes the `profiles` stream's opt-outs onto contacts whose id is the `externalId`.

    Per batch: the contacts' current values are read in bulk, only contacts whose values
    really differ are written (`UpdateMultiple`, all or nothing), and a refused request is
    split until the refused rows are found. Profiles without an `externalId` are skipped;
    those whose contact does not exist go to the rejects file.
    """

    outcomes = ("updated", "unchanged", "skipped", "rejected")

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        """Take the opt-out mapping from the target."""
        super().__init__(target, stream_name, schema, key_properties)
        self.mapping: dict[str, list[str]] = self.target.opt_out_mapping
        self.fields = contact_fields(self.mapping)

    def process_batch(self, context: dict) -> None:
        """Read the batch's contacts, then write what differs."""
        latest = self._latest_per_contact(context.get("records", []))
        current = self.read_contacts(list(latest), self.fields)
        updates: list[Row] = []
        for contact_id, record in latest.items():
            row = current.get(contact_id)
            if row is None:
                self.reject(record, contact_id, f"contact {contact_id} does not exist")
                continue
            changed = changes(desired_values(record, self.mapping), row)
            if changed:
                target = {
                    "@odata.type": "Microsoft.Dynamics.CRM.contact",
                    "contactid": contact_id,
                    **changed,
                }
                updates.append(Row(contact_id, target, record))
            else:
                self.target.summary.add(self.stream_name, "unchanged")
        for chunk in chunks(updates, MAX_TARGETS):
            self.write(UPDATE_MULTIPLE, chunk, "updated")

    def _latest_per_contact(self, records: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
        """Keep the last profile of each contact id; skip or reject those without a usable one."""
        latest: dict[str, dict[str, t.Any]] = {}
        for record in records:
            external_id = record.get("externalId")
            if not external_id:
                self.target.summary.add(self.stream_name, "skipped")
                continue
            if not is_guid(external_id):
                self.reject(record, external_id, "externalId is not a Dynamics 365 contact id")
                continue
            contact_id = external_id.lower()
            if contact_id in latest:
                self.tally_duplicate_merged()
            latest[contact_id] = record
        return latest


@dataclass(frozen=True)
class _Event:
    table: ActivityTable
    event_id: str
    contact_id: str
    record: dict[str, t.Any]


class EmailEventSink(DataverseSink):
    """Writes the `email_events` stream as activity rows on the contacts' timelines.

    One row per event in the activity table of its `event_type`, upserted on the `acs_eventid`
    alternate key (`UpsertMultiple`, up to 1000 rows a request), so a replayed event rewrites
    its row instead of adding one. The batch's contacts are checked in bulk first: events whose
    contact does not exist go to the rejects file, as do events without a usable id, type,
    contact id or time. A refused request is split until the refused rows are found.
    """

    outcomes = ("upserted", "rejected")

    def process_batch(self, context: dict) -> None:
        """Check the batch's contacts exist, then upsert the events table by table."""
        events = self._latest_per_event(context.get("records", []))
        existing = self.read_contacts(sorted({e.contact_id for e in events}))
        rows: dict[str, list[Row]] = {}
        for event in events:
            if event.contact_id not in existing:
                self.reject(
                    event.record, event.event_id, f"contact {event.contact_id} does not exist"
                )
                continue
            target = activity_target(event.table, event.record, event.contact_id)
            rows.setdefault(event.table.upsert_multiple, []).append(
                Row(event.event_id, target, event.record)
            )
        for action, table_rows in rows.items():
            for chunk in chunks(table_rows, MAX_TARGETS):
                self.write(action, chunk, "upserted")

    def _latest_per_event(self, records: list[dict[str, t.Any]]) -> list[_Event]:
        """Keep the last record of each event; reject those that cannot become an activity."""
        latest: dict[tuple[str, str], _Event] = {}
        for record in records:
            event = self._event(record)
            if event is None:
                continue
            key = (event.table.logical_name, event.event_id)
            if key in latest:
                self.tally_duplicate_merged()
            latest[key] = event
        return list(latest.values())

    def _event(self, record: dict[str, t.Any]) -> _Event | None:
        event_id = record.get("event_id")
        if not event_id:
            self.reject(record, None, "event_id is missing")
            return None
        event_id = str(event_id)
        event_type = record.get("event_type")
        table = ACTIVITY_TABLES.get(str(event_type))
        if table is None:
            types = ", ".join(ACTIVITY_TABLES)
            self.reject(record, event_id, f"event_type {event_type!r} is not one of {types}")
            return None
        external_id = record.get("profile_external_id")
        if not external_id:
            self.reject(record, event_id, "profile_external_id is missing: no contact to attach to")
            return None
        if not is_guid(str(external_id)):
            self.reject(record, event_id, "profile_external_id is not a Dynamics 365 contact id")
            return None
        try:
            event_date(record.get("event_time"))
        except ValueError:
            self.reject(record, event_id, f"event_time {record.get('event_time')!r} is not a date")
            return None
        return _Event(table, event_id, str(external_id).lower(), record)
