"""OptOutSink: Campaign profiles' opt-out flags → the matching contacts' `donot*` columns."""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from http import HTTPStatus

from singer_sdk.sinks import BatchSink
from tap_dynamics365.client import DataverseAPIError, ForbiddenError

from target_dynamics365.optouts import changes, contact_fields, desired_values, is_guid

if t.TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from singer_sdk.target_base import Target

    from target_dynamics365.target import TargetDynamics365

CONTACTS = "contacts"
UPDATE_MULTIPLE = f"{CONTACTS}/Microsoft.Dynamics.CRM.UpdateMultiple"
DEFAULT_BATCH_SIZE = 1000
MAX_TARGETS = 1000  # rows per UpdateMultiple request (Microsoft's suggested starting point)
IDS_PER_READ = 200  # `contactid eq …` terms per GET: ~11 KB of URL, well under the 32 KB limit
#: Statuses blaming the request's content (so one row may be the cause): split and retry.
ROW_ERRORS = frozenset(
    {HTTPStatus.BAD_REQUEST, HTTPStatus.NOT_FOUND, HTTPStatus.PRECONDITION_FAILED}
)


@dataclass(frozen=True)
class Update:
    """The changed columns of one contact, with the profile record that asked for them."""

    contact_id: str
    values: dict[str, bool]
    record: dict[str, t.Any]


def chunks(items: Sequence[t.Any], size: int) -> Iterator[Sequence[t.Any]]:
    """Yield consecutive slices of at most `size` items."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class OptOutSink(BatchSink):
    """Writes the `profiles` stream's opt-outs onto contacts whose id is the `externalId`.

    Per batch: the contacts' current values are read in bulk, only contacts whose values
    really differ are written (`UpdateMultiple`, all or nothing), and a refused request is
    split until the refused rows are found. Profiles without an `externalId` are skipped;
    those whose contact does not exist go to the rejects file.
    """

    target: TargetDynamics365

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        """Take the shared client and the opt-out mapping from the target."""
        super().__init__(target, stream_name, schema, key_properties)
        self.target = t.cast("TargetDynamics365", target)
        self.client = self.target.client
        self.mapping: dict[str, list[str]] = self.target.opt_out_mapping
        self.fields = contact_fields(self.mapping)

    @property
    def max_size(self) -> int:
        """`batch_size_rows`, else 1000 records per batch."""
        return self.batch_size_rows or DEFAULT_BATCH_SIZE

    def process_batch(self, context: dict) -> None:
        """Read the batch's contacts, then write what differs."""
        latest = self._latest_per_contact(context.get("records", []))
        current = self._read_contacts(list(latest))
        updates: list[Update] = []
        for contact_id, record in latest.items():
            row = current.get(contact_id)
            if row is None:
                self._reject(record, contact_id, f"contact {contact_id} does not exist")
                continue
            changed = changes(desired_values(record, self.mapping), row)
            if changed:
                updates.append(Update(contact_id, changed, record))
            else:
                self.target.summary.add(self.stream_name, "unchanged")
        for chunk in chunks(updates, MAX_TARGETS):
            self._write(chunk)

    def _latest_per_contact(self, records: list[dict[str, t.Any]]) -> dict[str, dict[str, t.Any]]:
        """Keep the last profile of each contact id; skip or reject those without a usable one."""
        latest: dict[str, dict[str, t.Any]] = {}
        for record in records:
            external_id = record.get("externalId")
            if not external_id:
                self.target.summary.add(self.stream_name, "skipped")
                continue
            if not is_guid(external_id):
                self._reject(record, external_id, "externalId is not a Dynamics 365 contact id")
                continue
            contact_id = external_id.lower()
            if contact_id in latest:
                self.tally_duplicate_merged()
            latest[contact_id] = record
        return latest

    def _read_contacts(self, contact_ids: list[str]) -> dict[str, dict[str, t.Any]]:
        """Return the existing contacts among `contact_ids` with their mapped columns."""
        select = ",".join(["contactid", *self.fields])
        found: dict[str, dict[str, t.Any]] = {}
        for chunk in chunks(contact_ids, IDS_PER_READ):
            condition = " or ".join(f"contactid eq {contact_id}" for contact_id in chunk)
            for row in self.client.iter_values(f"{CONTACTS}?$select={select}&$filter={condition}"):
                found[row["contactid"].lower()] = row
        return found

    def _write(self, updates: Sequence[Update]) -> None:
        """UpdateMultiple; on a refusal blaming the content, split to isolate the bad rows."""
        targets = [
            {"@odata.type": "Microsoft.Dynamics.CRM.contact", "contactid": u.contact_id, **u.values}
            for u in updates
        ]
        try:
            self.client.post(UPDATE_MULTIPLE, {"Targets": targets})
        except ForbiddenError:
            raise
        except DataverseAPIError as exc:
            if exc.status not in ROW_ERRORS:
                raise
            if len(updates) == 1:
                (update,) = updates
                self._reject(
                    update.record,
                    update.contact_id,
                    exc.error_message,
                    status=exc.status,
                    code=exc.code,
                )
                return
            middle = len(updates) // 2
            self._write(updates[:middle])
            self._write(updates[middle:])
            return
        self.target.summary.add(self.stream_name, "updated", len(updates))

    def _reject(
        self,
        record: dict[str, t.Any],
        key: str | None,
        reason: str,
        *,
        status: int | None = None,
        code: str | None = None,
    ) -> None:
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
