"""`profiles` and `unlinked_profiles` on v8: `nms:recipient` in keyset pages.

Each page is one `ExecuteQuery` asking for the rows after the previous page's last
(`@lastModified`, `@id`), oldest change first: no offset, so a page never repeats or skips a
row while other rows change, and the last row of a page is an exact resume point. The state
keeps the bookmark (`replication_key_value`, the page's last `lastModified`, as on Campaign
Standard) plus that row's id (`keyset`); a bookmark without its id (the SDK also checkpoints
every 10,000 records) resumes at `@lastModified >=` the bookmark, re-reading that instant.

The CRM link is filtered by Campaign: `@externalId` empty or not (an empty string and a null
alike). The record of a recipient is the REST profile's (`PKey` is the recipient's `@id` here:
Campaign v8 has no PKeys, and an id is valid for this instance only, as a PKey is).
"""

from __future__ import annotations

import datetime
import typing as t

from campaign_client.querydef import Cursor, QueryDef, iter_keyset_pages, value_at
from sync_support.progress import field_time
from sync_support.versions import read_in_full

from tap_adobe_campaign.streams import profile_schema
from tap_adobe_campaign.v8.base import SoapStream
from tap_adobe_campaign.v8.recipient import RECIPIENT, RecipientSchema

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from campaign_client.querydef import Page
    from campaign_client.soap_session import SoapSession
    from singer_sdk.helpers.types import Context
    from singer_sdk.tap_base import Tap

#: State key holding the id of the row the bookmark was taken at.
KEYSET = "keyset"
LINKED = "(@externalId IS NOT NULL AND @externalId <> '')"
UNLINKED = "(@externalId IS NULL OR @externalId = '')"


def resume_cursor(start: datetime.datetime | None, state: t.Mapping[str, t.Any]) -> Cursor | None:
    """Return where a read starts: after the checkpointed row, else at `start` (`>=`).

    `start` is the bookmark or start_date; the row id applies only to the bookmark it was
    saved with.
    """
    if start is None:
        return None
    keyset = state.get(KEYSET) or {}
    at, row_id = keyset.get("lastModified"), keyset.get("id")
    if (
        at
        and row_id is not None
        and state.get("replication_key_value") == at
        and datetime.datetime.fromisoformat(at) == start
    ):
        return Cursor(start, str(row_id))
    return Cursor(start)


class V8ProfilesStream(SoapStream):
    """Recipients linked to the CRM (`@externalId` set), incremental on `lastModified`."""

    name = "profiles"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("externalId",)
    replication_key = "lastModified"
    is_sorted = True  # keyset order: resumable after any page
    changed_at = staticmethod(field_time("lastModified"))
    #: Which recipients the stream holds: with an `@externalId` (linked to the CRM) or not.
    linked = True

    def __init__(self, tap: Tap, session: SoapSession, recipient: RecipientSchema) -> None:
        """Declare the REST profile schema, built from `nms:recipient`'s attributes."""
        self.recipient = recipient
        schema = profile_schema(recipient.fields())
        if not self.linked:  # always null here
            del schema["properties"]["externalId"]
            schema["required"].remove("externalId")
        super().__init__(tap, session, schema=schema)
        #: Attributes read: the schema's fields that nms:recipient has (`PKey` is `@id`).
        self.attributes = tuple(n for n in schema["properties"] if n in recipient.attributes)

    def tells_lag(self, context: Context | None) -> bool:
        """Only a read from a bookmark: a full read reads everything, whatever was behind."""
        return self._bookmark(context) is not None

    def _query(self) -> QueryDef:
        return QueryDef(
            RECIPIENT,
            select=tuple(f"@{name}" for name in self.attributes),
            where=(LINKED if self.linked else UNLINKED,),
        )

    def _read(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read from the checkpoint (or start_date) on; a read of every row ends versioned."""
        start = resume_cursor(self.get_starting_timestamp(context), self.get_context_state(context))
        pages = iter_keyset_pages(self.session, self._query(), start, page_size=self.page_size)
        records = self._records(pages, context)
        yield from records if start else read_in_full(self, records)

    def _records(
        self, pages: Iterator[Page], context: Context | None
    ) -> Iterator[dict[str, t.Any]]:
        for page in pages:
            for row in page.rows:
                record = self.recipient.values(row, self.attributes)
                record["PKey"] = value_at(row, "@id")
                yield record
            # Runs once the page's last record is written.
            modified = page.cursor.modified.isoformat()
            self._checkpoint(
                modified, context, **{KEYSET: {"lastModified": modified, "id": page.cursor.id}}
            )


class V8UnlinkedProfilesStream(V8ProfilesStream):
    """Recipients without an `@externalId` (created in Campaign), keyed on `PKey` (`@id`)."""

    name = "unlinked_profiles"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("PKey",)
    linked = False
