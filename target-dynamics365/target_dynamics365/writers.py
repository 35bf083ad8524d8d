"""How a chunk of activity rows reaches one table: UpsertMultiple, or a `$batch` change set.

Both are all or nothing and raise the client's `DataverseAPIError` when refused (the change set
raises `ChangeSetError`, naming the failing operation when Dataverse says which). Which one a
table gets is decided once per run from `sdkmessagefilters` (reference §6.6).
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass
from http import HTTPStatus

from dataverse_client.batch import Operation, send_changeset

from target_dynamics365.events import activity_target, changeset_body

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from dataverse_client.client import DataverseAPIError, DataverseClient

    from target_dynamics365.events import ActivityTable

UPSERT_MULTIPLE = "UpsertMultiple"
OBJECT_DOES_NOT_EXIST = "0x80040217"
_MISSING_CONTACT = re.compile(
    r"\bcontact With Ids? = \{?([0-9a-f]{8}-(?:[0-9a-f]{4}-){3}[0-9a-f]{12})\}?", re.IGNORECASE
)


@dataclass(frozen=True)
class EventRow:
    """One activity row to write: its table, event and contact, and the source record."""

    table: ActivityTable
    event_id: str
    contact_id: str
    record: dict[str, t.Any]

    @property
    def target(self) -> dict[str, t.Any]:
        """The UpsertMultiple target (built when sent, so a batch holds only its records)."""
        return activity_target(self.table, self.record, self.contact_id)


def write_upsert_multiple(
    client: DataverseClient, table: ActivityTable, rows: Sequence[EventRow]
) -> None:
    """`POST <set>/Microsoft.Dynamics.CRM.UpsertMultiple` with the rows as `Targets`."""
    client.post(table.upsert_multiple, {"Targets": [row.target for row in rows]})


def write_changeset(
    client: DataverseClient, table: ActivityTable, rows: Sequence[EventRow]
) -> None:
    """One `$batch` with one change set of `PATCH <set>(acs_eventid='…')` upserts."""
    operations = [
        Operation("PATCH", table.key_path(row.event_id), changeset_body(row.target)) for row in rows
    ]
    send_changeset(client, operations)


class Writer(t.Protocol):
    """`write_upsert_multiple` or `write_changeset`."""

    def __call__(
        self, client: DataverseClient, table: ActivityTable, rows: Sequence[EventRow]
    ) -> None:
        """Write `rows` to `table`, all or nothing."""
        ...


class Table(t.Protocol):
    """Anything naming a table (an `ActivityTable`, a `TableMetadata`)."""

    @property
    def logical_name(self) -> str:
        """The table's logical name."""
        ...


def upsert_multiple_tables(client: DataverseClient, tables: Iterable[Table]) -> set[str]:
    """Return the logical names among `tables` that support UpsertMultiple (one GET)."""
    names = sorted({table.logical_name for table in tables})
    if not names:
        return set()
    condition = " or ".join(f"primaryobjecttypecode eq '{name}'" for name in names)
    query = (
        "sdkmessagefilters?$select=sdkmessagefilterid,primaryobjecttypecode"
        f"&$filter=sdkmessageid/name eq '{UPSERT_MULTIPLE}' and ({condition})"
    )
    return {row["primaryobjecttypecode"] for row in client.iter_values(query)}


def writer_for(supported: bool) -> Writer:
    """UpsertMultiple where the table supports it, else the `$batch` change set."""
    return write_upsert_multiple if supported else write_changeset


def missing_contact(error: DataverseAPIError) -> str | None:
    """Return the contact id (lowercase) if Dataverse refused because it does not exist.

    Dataverse: 404, code 0x80040217, "contact With Id = <guid> Does Not Exist".
    """
    if error.status != HTTPStatus.NOT_FOUND or error.code not in {"", OBJECT_DOES_NOT_EXIST}:
        return None
    match = _MISSING_CONTACT.search(error.error_message)
    return match.group(1).lower() if match else None
