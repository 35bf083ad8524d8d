"""`DataverseSink` (shared by both sinks) and the opt-out sink (Campaign opt-outs → contacts).

`DataverseSink` holds the target's Dataverse client (reads) and pool of application users
(`dataverse_client.pool`: bulk writes side by side), the bulk read of contacts, the bulk write
(`UpdateMultiple`, all or nothing) split on refusal to isolate the bad rows, and the rejects
file. The email events sink is in `event_sink`.
"""

from __future__ import annotations

import abc
import typing as t
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus
from urllib.parse import quote

from dataverse_client.client import DataverseAPIError, ForbiddenError
from dataverse_client.reads import read_rows
from singer_sdk.sinks import BatchSink

from target_dynamics365.optouts import (
    MODIFIED_ON,
    WRITING_MODES,
    contact_fields,
    decide,
    is_guid,
    supersedes,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from singer_sdk.target_base import Target

    from target_dynamics365.target import TargetDynamics365

CONTACTS = "contacts"
UPDATE_MULTIPLE = f"{CONTACTS}/Microsoft.Dynamics.CRM.UpdateMultiple"
DEFAULT_BATCH_SIZE = 1000
MAX_TARGETS = 1000  # rows per Update/UpsertMultiple request (Microsoft's suggested start)
IDS_PER_READ = 400  # `contactid eq …` terms per GET: ~25 KB of URL, under the ~32 KB limit
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
    #: The same with `dry_run` (what a real run would have done).
    dry_run_outcomes: tuple[str, ...] = ()

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        """Take the shared client (reads), pool of application users (writes) and report."""
        super().__init__(target, stream_name, schema, key_properties)
        self.target = t.cast("TargetDynamics365", target)
        self.client = self.target.client
        self.pool = self.target.pool
        self.report = self.target.report
        self.dry_run: bool = self.target.dry_run

    @property
    def max_size(self) -> int:
        """`batch_size_rows`, else 1000 records per batch."""
        return self.batch_size_rows or DEFAULT_BATCH_SIZE

    def process_batch(self, context: dict) -> None:
        """Write the batch's records."""
        self.write_batch(context)

    def mark_drained(self) -> None:
        """Once the batch is written, let the target checkpoint (`TargetDynamics365.drained`)."""
        super().mark_drained()
        self.target.drained()

    @abc.abstractmethod
    def write_batch(self, context: dict) -> None:
        """Write the batch's records to Dataverse."""

    def read_contacts(
        self, contact_ids: Sequence[str], columns: Sequence[str] = ()
    ) -> dict[str, dict[str, t.Any]]:
        """Return the existing contacts among `contact_ids` (lowercase GUIDs) with `columns`.

        `GET contacts?$select=contactid,…&$filter=contactid eq … or …`, IDS_PER_READ ids a query;
        several queries go in one `$batch` (`dataverse_client.reads.read_rows`): one request
        for up to 400,000 ids.
        """
        select = ",".join(["contactid", *columns])
        queries = [
            f"{CONTACTS}?$select={select}&$filter="
            + quote(" or ".join(f"contactid eq {contact_id}" for contact_id in chunk))
            for chunk in chunks(contact_ids, IDS_PER_READ)
        ]
        return {row["contactid"].lower(): row for row in read_rows(self.client, queries)}

    def write(self, action: str, rows: Sequence[Row], outcome: str) -> None:
        """POST `rows` to a bulk action; on a refusal blaming the content, split in halves.

        Rows refused on their own go to the rejects file with Dataverse's status, code and
        message; the others are written and counted as `outcome`. 401, 403, other statuses and
        exhausted retries stop the run. With `dry_run` nothing is sent: the rows are counted.
        """
        if self.dry_run:
            self.report.add(self.stream_name, outcome, len(rows))
            return
        body = {"Targets": [row.target for row in rows]}
        try:
            self.pool.call(lambda client: client.post(action, body))
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
        self.report.add(self.stream_name, outcome, len(rows))

    def reject(
        self, record: dict[str, t.Any], key: str | None, reason: str, **details: t.Any
    ) -> None:
        """Count the record rejected and write it with the reason (`Report.reject`).

        `details`: the record's `field` at fault when known, the answer's `status`, `code`.
        """
        self.report.reject(self.stream_name, record, key, reason, **details)


class OptOutSink(DataverseSink):
    """Writes Campaign opt-outs (`profiles`, `opt_outs`) onto the contacts whose id is `externalId`.

    Per batch: the contacts' opt-out columns and `modifiedon` are read in bulk, `opt_out_sync`
    decides each flag (`optouts.decide`), only contacts whose values really differ, or whose
    D365 opt-out Campaign must get back (a reassertion), are written (`UpdateMultiple`, all or
    nothing), and a refused request is split until the refused rows are found. Profiles without
    an `externalId` are skipped; those whose contact does not exist go to the rejects file. In a
    mode that does not write Dynamics 365 nothing is read either.

    `opt_outs_reasserted` counts the written contacts whose write re-asserts a D365 opt-out
    Campaign lacks (bidirectional, True wins); they are counted `updated` too.
    """

    # `opt_outs_reasserted` last, as target-adobe-campaign's `opt_outs_kept`: not a record outcome.
    outcomes = (
        "updated",
        "unchanged",
        "skipped",
        "skipped_mode",
        "rejected",
        "opt_outs_reasserted",
    )
    dry_run_outcomes = (
        "updated",
        "rejected",
        "unchanged",
        "skipped",
        "skipped_mode",
        "opt_outs_reasserted",
    )

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        """Take the opt-out mapping and mode from the target."""
        super().__init__(target, stream_name, schema, key_properties)
        self.mapping: dict[str, list[str]] = self.target.opt_out_mapping
        self.fields = contact_fields(self.mapping)
        self.mode: str = self.target.opt_out_sync
        #: Contacts rejected in the batch being written (a reassertion is counted once written).
        self._rejected: set[str] = set()
        if self.mode not in WRITING_MODES:
            self.logger.info(
                "opt_out_sync is %s: %s records change no contact (counted as skipped_mode)",
                self.mode,
                stream_name,
            )

    def write_batch(self, context: dict) -> None:
        """Read the batch's contacts, then write what differs."""
        records = context.get("records", [])
        if self.mode not in WRITING_MODES:
            self.report.add(self.stream_name, "skipped_mode", len(records))
            return
        latest = self._latest_per_contact(records)
        current = self.read_contacts(list(latest), [*self.fields, MODIFIED_ON])
        updates: list[Row] = []
        reasserting: set[str] = set()
        for contact_id, record in latest.items():
            row = current.get(contact_id)
            if row is None:
                self.reject(
                    record, contact_id, f"contact {contact_id} does not exist", field="externalId"
                )
                continue
            decision = decide(record, self.mapping, row, self.mode)
            if decision.values:
                target = {
                    "@odata.type": "Microsoft.Dynamics.CRM.contact",
                    "contactid": contact_id,
                    **decision.values,
                }
                updates.append(Row(contact_id, target, record))
                if decision.is_reassertion:
                    reasserting.add(contact_id)
            else:
                self.report.add(self.stream_name, "unchanged")
        # One row per contact in a batch: its chunks may be written side by side.
        self._rejected = set()
        write = partial(self.write, UPDATE_MULTIPLE, outcome="updated")
        self.pool.run([partial(write, chunk) for chunk in chunks(updates, MAX_TARGETS)])
        reasserted = len(reasserting - self._rejected)
        if reasserted:
            self.report.add(self.stream_name, "opt_outs_reasserted", reasserted)

    def reject(
        self, record: dict[str, t.Any], key: str | None, reason: str, **details: t.Any
    ) -> None:
        """Note the rejected contact (`write_batch` counts only written reassertions), reject."""
        if key is not None:
            self._rejected.add(key)
        super().reject(record, key, reason, **details)

    def _latest_per_contact(self, records: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
        """Keep each contact's latest record (`optouts.supersedes`); skip/reject unusable ids."""
        latest: dict[str, dict[str, t.Any]] = {}
        for record in records:
            external_id = record.get("externalId")
            if not external_id:
                self.report.add(self.stream_name, "skipped")
                continue
            if not is_guid(external_id):
                self.reject(
                    record,
                    external_id,
                    "externalId is not a Dynamics 365 contact id",
                    field="externalId",
                )
                continue
            contact_id = external_id.lower()
            previous = latest.get(contact_id)
            if previous is not None:
                self.tally_duplicate_merged()
                if not supersedes(record, previous):
                    continue
            latest[contact_id] = record
        return latest
