"""The generic sink: any stream named in `tables` → upserts (and deletes) of one Dataverse table.

At its start the sink reads the table's metadata (entity set, columns, keys; the lookup tables,
their navigation properties; the labels of `choices_by_label` columns) and refuses a table,
column, key or lookup Dataverse does not have, before any write. Per batch: the last record of
each key wins; records with `_sdc_deleted_at` delete their row when `deletes` is on (else they
are counted `skipped_deletes`); the others are upserted on the key, 1000 a request, with
UpsertMultiple where the table supports it, else a `$batch` change set of PATCH upserts, side by
side over the target's pool of application users (one after another when a lookup points into
the table itself). A refused request is split (or its failing operation taken out) until the
refused rows are found; they go to the rejects file with Dataverse's status, code and message.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from functools import partial
from urllib.parse import quote

from dataverse_client.batch import ChangeSetError, Operation, send_changeset
from dataverse_client.client import DataverseAPIError, ForbiddenError
from sync_support.settings_check import ConfigError

from target_dynamics365.optouts import is_guid
from target_dynamics365.sinks import MAX_TARGETS, ROW_ERRORS, DataverseSink, chunks
from target_dynamics365.table_metadata import (
    CHOICE_CASTS,
    LOOKUP_TYPES,
    NS,
    MetadataError,
    TableMetadata,
    choice_labels,
    navigation_property,
    read_table,
)
from target_dynamics365.writers import OBJECT_DOES_NOT_EXIST, upsert_multiple_tables

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from dataverse_client.client import DataverseClient
    from singer_sdk.target_base import Target

    from target_dynamics365.tables import TableSpec

DELETED_AT = "_sdc_deleted_at"
KEY_SAFE = "'=,"  # left as is in a key segment of a URL
FILTER_CHARS = 8000  # URL-encoded `$filter` per read of existing keys (dry run)


@dataclass(frozen=True)
class TableRow:
    """One row to upsert or delete: its key (as shown and as a URL) and the record."""

    key: str  # `accountnumber='A-1'`, or the GUID for the primary id
    record: dict[str, t.Any]
    body: dict[str, t.Any]
    match: tuple[str, ...]  # the key values as Dataverse compares them (dry run)


@dataclass(frozen=True)
class Binding:
    """How a lookup field is written: `<navigation>@odata.bind: /<set>(<key>=<value>)`."""

    navigation: str
    lookup: TableMetadata
    key: str


class TableSink(DataverseSink):
    """Upserts a stream's records into the table `tables` names, on its key (see module doc)."""

    outcomes = ("upserted", "deleted", "skipped_existing", "skipped_deletes", "rejected")
    dry_run_outcomes = (
        "created",
        "updated",
        "deleted",
        "skipped_existing",
        "skipped_deletes",
        "rejected",
    )

    def __init__(
        self,
        target: Target,
        stream_name: str,
        schema: dict,
        key_properties: Sequence[str] | None,
    ) -> None:
        """Read and check the table's metadata; a mismatch is a config error naming the stream."""
        super().__init__(target, stream_name, schema, key_properties)
        self.spec: TableSpec = self.target.tables[stream_name]
        try:
            self._prepare(list(schema.get("properties", {})))
        except MetadataError as exc:
            raise ConfigError(self.target.name, [f"tables.{stream_name}: {exc}"]) from exc
        self.bulk = self.table.logical_name in upsert_multiple_tables(self.client, [self.table])
        if not self.bulk:
            self.logger.info(
                "%s has no UpsertMultiple: writing it with $batch change sets", self.spec.table
            )

    @property
    def include_sdc_metadata_properties(self) -> bool:
        """Keep the SDK's `_sdc_` fields: `_sdc_deleted_at` marks a delete (none is written)."""
        return True

    # --- metadata ------------------------------------------------------------------------

    def _prepare(self, fields: list[str]) -> None:
        """Map the schema's fields to columns and check each against the table's metadata."""
        spec = self.spec
        self.table = read_table(self.client, spec.table)
        attributes = self.table.attributes
        for column in spec.key:
            if column not in attributes:
                raise MetadataError(f"key column '{column}' is not a column of {spec.table}")
        if not self.table.is_key(spec.key):
            keys = ", ".join("+".join(sorted(k)) for k in self.table.keys) or "none"
            msg = (
                f"key {'+'.join(spec.key)} is neither {spec.table}'s primary id "
                f"({self.table.primary_id}) nor an Active alternate key (Active keys: {keys})"
            )
            raise MetadataError(msg)
        #: record field → column, for every field written (`_sdc_*` fields are not)
        self.columns = {f: spec.column(f) for f in fields if not f.startswith("_sdc_")}
        for field in spec.lookups:
            self.columns.setdefault(field, spec.column(field))
        self.key_fields = {column: column for column in spec.key}
        for field, column in self.columns.items():
            if column in spec.key:
                self.key_fields[column] = field
            elif column not in attributes:
                msg = f"column '{column}' (field '{field}') is not a column of {spec.table}"
                raise MetadataError(msg)
        for column, field in self.key_fields.items():
            if field not in self.columns:
                raise MetadataError(f"no field of the stream maps to key column '{column}'")
        self.bindings = {field: self._binding(field, self.columns[field]) for field in spec.lookups}
        self.labels: dict[str, dict[str, int]] = {}
        for column in spec.choices_by_label:
            kind = attributes.get(column)
            if kind not in CHOICE_CASTS:
                msg = f"choices_by_label: '{column}' is not a choice column of {spec.table}"
                raise MetadataError(msg)
            self.labels[column] = choice_labels(self.client, spec.table, column, kind)

    def _binding(self, field: str, column: str) -> Binding:
        lookup = self.spec.lookups[field]
        if self.table.attributes.get(column) not in LOOKUP_TYPES:
            msg = f"lookup '{field}': '{column}' is not a lookup column of {self.spec.table}"
            raise MetadataError(msg)
        table = read_table(self.client, lookup.table)
        if not table.is_key((lookup.key,)):
            msg = (
                f"lookup '{field}': '{lookup.key}' is neither {lookup.table}'s primary id nor "
                "an Active alternate key"
            )
            raise MetadataError(msg)
        navigation = navigation_property(self.client, self.spec.table, column, lookup.table)
        if navigation is None:
            msg = f"lookup '{field}': {self.spec.table}.{column} cannot point at {lookup.table}"
            raise MetadataError(msg)
        return Binding(navigation, table, lookup.key)

    # --- records → rows ------------------------------------------------------------------

    def _key(self, record: dict[str, t.Any]) -> tuple[str, tuple[str, ...]] | None:
        """Return the row's key (URL form) and its compared values; reject a missing value."""
        values: dict[str, t.Any] = {}
        for column in self.spec.key:
            field = self.key_fields[column]
            value = record.get(field)
            if value is None or value == "":
                self.reject(record, None, f"key field '{field}' is empty", field=field)
                return None
            if self.table.attributes.get(column) == "Uniqueidentifier" and not is_guid(str(value)):
                self.reject(record, str(value), f"key field '{field}' is not a GUID", field=field)
                return None
            values[column] = value
        match = tuple(str(value).casefold() for value in values.values())
        return self.table.key_segment(values), match

    def _row(self, record: dict[str, t.Any]) -> TableRow | None:
        """Build the row's body: columns, lookups bound by key, choice labels → values."""
        key = self._key(record)
        if key is None:
            return None
        body: dict[str, t.Any] = {}
        for field, column in self.columns.items():
            if field not in record or column in self.spec.key:
                continue
            value = record[field]
            binding = self.bindings.get(field)
            if binding is not None:
                lookup = binding.lookup
                body[f"{binding.navigation}@odata.bind"] = (
                    None
                    if value is None
                    else f"/{lookup.entity_set}({lookup.key_segment({binding.key: value})})"
                )
                continue
            labels = self.labels.get(column)
            if labels is not None and isinstance(value, str):
                if value.casefold() not in labels:
                    reason = f"'{value}' is not a label of choice column {column}"
                    self.reject(record, key[0], reason, field=field)
                    return None
                value = labels[value.casefold()]
            body[column] = value
        return TableRow(key[0], record, body, key[1])

    def _deleted_row(self, record: dict[str, t.Any]) -> TableRow | None:
        """Return the row of a record to delete: only its key counts."""
        key = self._key(record)
        return None if key is None else TableRow(key[0], record, {}, key[1])

    def _rows(self, records: list[dict[str, t.Any]]) -> tuple[list[TableRow], list[TableRow]]:
        """Return the upserts and the deletes of a batch (the last record of a key wins)."""
        latest: dict[tuple[str, ...], tuple[bool, TableRow]] = {}
        for record in records:
            deleted = record.get(DELETED_AT) not in (None, "")
            if deleted and not self.spec.deletes:
                self.report.add(self.stream_name, "skipped_deletes")
                continue
            row = self._deleted_row(record) if deleted else self._row(record)
            if row is None:
                continue
            if row.match in latest:
                self.tally_duplicate_merged()
                del latest[row.match]  # keep the order of the last record
            latest[row.match] = (deleted, row)
        upserts = [row for deleted, row in latest.values() if not deleted]
        deletes = [row for deleted, row in latest.values() if deleted]
        return upserts, deletes

    # --- writing -------------------------------------------------------------------------

    def write_batch(self, context: dict) -> None:
        """Upsert, then delete, the batch's rows (dry run: count them)."""
        upserts, deletes = self._rows(context.get("records", []))
        if self.spec.existing == "skip" and upserts:
            upserts = self._new_rows(upserts)
        if self.dry_run:
            existing = self.existing_keys([row.match for row in upserts])
            created = sum(row.match not in existing for row in upserts)
            self.report.add(self.stream_name, "created", created)
            self.report.add(self.stream_name, "updated", len(upserts) - created)
            self.report.add(self.stream_name, "deleted", len(deletes))
            return
        upsert = self._upsert_multiple if self.bulk else self._upsert_changeset
        for rows, write, outcome in (
            (upserts, upsert, "upserted"),
            (deletes, self._delete_changeset, "deleted"),
        ):
            tasks = [
                partial(self.send, chunk, write, outcome) for chunk in chunks(rows, MAX_TARGETS)
            ]
            self.pool.run(tasks, parallel=not self.binds_own_rows)

    def _new_rows(self, rows: list[TableRow]) -> list[TableRow]:
        """Keep the rows without a row in the table (`existing: skip`); count the others.

        The keys are read first (a few GETs a batch), so an existing row is never written.
        """
        existing = self.existing_keys([row.match for row in rows])
        new = [row for row in rows if row.match not in existing]
        self.report.add(self.stream_name, "skipped_existing", len(rows) - len(new))
        return new

    @property
    def binds_own_rows(self) -> bool:
        """Whether a lookup points into the sink's own table (an account's parent account).

        Its chunks go one after another: a row may bind to a row of an earlier chunk.
        """
        return any(b.lookup.logical_name == self.table.logical_name for b in self.bindings.values())

    def _path(self, row: TableRow) -> str:
        return f"{self.table.entity_set}({quote(row.key, safe=KEY_SAFE)})"

    def _upsert_multiple(self, client: DataverseClient, rows: Sequence[TableRow]) -> None:
        """`POST <set>/Microsoft.Dynamics.CRM.UpsertMultiple`, each target by `@odata.id`."""
        targets = [
            {
                "@odata.type": f"{NS}.{self.table.logical_name}",
                "@odata.id": f"{self.table.entity_set}({row.key})",
                **row.body,
            }
            for row in rows
        ]
        client.post(f"{self.table.entity_set}/{NS}.UpsertMultiple", {"Targets": targets})

    def _upsert_changeset(self, client: DataverseClient, rows: Sequence[TableRow]) -> None:
        """One `$batch` change set of `PATCH <set>(<key>)` upserts (no `If-Match`)."""
        send_changeset(client, [Operation("PATCH", self._path(r), r.body) for r in rows])

    def _delete_changeset(self, client: DataverseClient, rows: Sequence[TableRow]) -> None:
        """One `$batch` change set of `DELETE <set>(<key>)`."""
        send_changeset(client, [Operation("DELETE", self._path(r)) for r in rows])

    def send(
        self,
        rows: Sequence[TableRow],
        write: Callable[[DataverseClient, Sequence[TableRow]], None],
        outcome: str,
    ) -> None:
        """Write `rows`, isolating refused rows into the rejects file; count the written ones.

        A change set naming its failing operation loses that row and is sent again; otherwise
        the rows are split in halves. A delete of a row already gone counts as deleted. 401,
        403, other statuses and exhausted retries stop the run.
        """
        pending = list(rows)
        while pending:
            try:
                self.pool.call(lambda client: write(client, pending))
            except ForbiddenError:
                raise
            except DataverseAPIError as exc:
                if exc.status not in ROW_ERRORS:
                    raise
                index = exc.index if isinstance(exc, ChangeSetError) else None
                if index is None and len(pending) == 1:
                    index = 0
                if index is None or index >= len(pending):
                    middle = len(pending) // 2
                    self.send(pending[:middle], write, outcome)
                    self.send(pending[middle:], write, outcome)
                    return
                row = pending.pop(index)
                if outcome == "deleted" and exc.code == OBJECT_DOES_NOT_EXIST:
                    self.report.add(self.stream_name, outcome)  # already gone
                else:
                    self._reject_row(row, exc)
                continue
            self.report.add(self.stream_name, outcome, len(pending))
            return

    def _reject_row(self, row: TableRow, exc: DataverseAPIError) -> None:
        """Reject with Dataverse's error and the field at fault when the message tells it."""
        field = self._field_named(exc.error_message)
        self.reject(
            row.record, row.key, exc.error_message, field=field, status=exc.status, code=exc.code
        )

    def _field_named(self, message: str) -> str | None:
        """Return the field whose column the message quotes, or whose lookup row is missing.

        E.g. "The length of the 'name' attribute …", "account With Id = … Does Not Exist",
        "A record with the specified key values does not exist in account entity".
        """
        for field, column in self.columns.items():
            if f"'{column}'" in message:
                return field
        for field, binding in self.bindings.items():
            table = binding.lookup.logical_name
            if message.startswith(f"{table} With ") or f" in {table} entity" in message:
                return field
        return None

    # --- dry run ---------------------------------------------------------------------------

    def existing_keys(self, keys: Sequence[tuple[str, ...]]) -> set[tuple[str, ...]]:
        """Return which of `keys` (compared values) have a row already: reads only."""
        columns = self.spec.key
        found: set[tuple[str, ...]] = set()
        for condition in self._key_filters(keys):
            query = f"{self.table.entity_set}?$select={','.join(columns)}&$filter={condition}"
            for row in self.client.iter_values(query):
                found.add(tuple(str(row.get(column)).casefold() for column in columns))
        return found

    def _key_filters(self, keys: Sequence[tuple[str, ...]]) -> Iterator[str]:
        """Yield URL-encoded `(<key> eq <value> and …) or …` of at most ~FILTER_CHARS."""
        terms: list[str] = []
        size = 0
        for key in keys:
            parts = [
                f"{column} eq {self.table.literal(column, value)}"
                for column, value in zip(self.spec.key, key, strict=True)
            ]
            term = quote("(" + " and ".join(parts) + ")", safe="")
            if terms and size + len(term) > FILTER_CHARS:
                yield "%20or%20".join(terms)
                terms, size = [], 0
            terms.append(term)
            size += len(term) + 8
        if terms:
            yield "%20or%20".join(terms)
