"""`opt_outs` on v8: the CRM-linked recipients changed since the bookmark, from `nms:recipient`.

No export workflow and no SFTP: the table has `@lastModified`.

A record is the export stream's (`optout_export.OPT_OUT_SCHEMA`): a snapshot of all of the
profile's opt-out flags. Its `export_position` is `nms:recipient:<ISO lastModified>,<@id>`
(zero-padded id), so positions sort in read order: a profile changed during a run comes again
later in the run, and its later row wins, as in the export files. `export_file` is
`nms:recipient`, `PKey` the recipient's `@id`.

`<flag>LastModified` is null: Campaign v8 keeps no change time per flag (the export workflow's
files carry one). So in `bidirectional` mode target-dynamics365 lets opt-out = True win where
Campaign and Dynamics 365 differ (Adobe's rule for an unknown change time): an opt-out is never
undone on a guess from `@lastModified`, which moves with any change of the profile. In
`campaign_to_d365` mode Campaign's values apply as they are.
"""

from __future__ import annotations

import copy
import re
import typing as t

from campaign_client.dates import from_campaign_datetime, to_iso_datetime
from campaign_client.optouts import FLAGS
from campaign_client.querydef import Cursor, QueryDef, iter_keyset_pages, value_at
from sync_support.progress import field_time

from tap_adobe_campaign.optout_export import OPT_OUT_SCHEMA
from tap_adobe_campaign.tap_settings import CAMPAIGN_TO_D365_MODES, DEFAULT_OPT_OUT_SYNC
from tap_adobe_campaign.v8.base import SoapStream
from tap_adobe_campaign.v8.profiles import LINKED
from tap_adobe_campaign.v8.recipient import RECIPIENT

if t.TYPE_CHECKING:
    from collections.abc import Iterable
    from xml.etree import ElementTree as ET

    from singer_sdk.helpers.types import Context

ID_DIGITS = 12
_POSITION = re.compile(rf"{re.escape(RECIPIENT)}:(?P<modified>[^,]+),(?P<id>\d{{{ID_DIGITS},}})")
SELECT = ("@id", "@externalId", "@email", *(f"@{flag}" for flag in FLAGS))

V8_OPT_OUT_SCHEMA = copy.deepcopy(OPT_OUT_SCHEMA)
V8_OPT_OUT_SCHEMA["properties"]["export_position"]["description"] = (
    "nms:recipient:<ISO lastModified>,<@id, 12 digits>: sorts as the rows are read"
)
V8_OPT_OUT_SCHEMA["properties"]["export_file"]["description"] = "nms:recipient on v8"


def position(cursor: Cursor) -> str:
    """`nms:recipient:<ISO lastModified>,<id zero-padded>` of a row."""
    return f"{RECIPIENT}:{to_iso_datetime(cursor.modified)},{int(cursor.id or 0):0{ID_DIGITS}d}"


def parse_position(value: str) -> Cursor | None:
    """Read a position back (None for another stream's, e.g. an export file's)."""
    match = _POSITION.fullmatch(value)
    modified = from_campaign_datetime(match["modified"]) if match else None
    if match is None or modified is None:
        return None
    return Cursor(modified, str(int(match["id"])))


def to_record(row: ET.Element) -> dict[str, t.Any]:
    """Map one `nms:recipient` row to an opt-out record."""
    modified = from_campaign_datetime(value_at(row, "@lastModified"))
    if modified is None:  # keyset pages hold only rows with a modification time
        msg = "an nms:recipient row without @lastModified"
        raise ValueError(msg)
    record: dict[str, t.Any] = {
        "export_position": position(Cursor(modified, value_at(row, "@id"))),
        "export_file": RECIPIENT,
        "PKey": value_at(row, "@id"),
        "externalId": value_at(row, "@externalId") or None,
        "email": value_at(row, "@email") or None,
        "lastModified": modified.isoformat(),
    }
    for flag in FLAGS:
        record[flag] = value_at(row, f"@{flag}") in {"1", "true"}
        record[f"{flag}LastModified"] = None
    return record


class V8OptOutsStream(SoapStream):
    """One record per CRM-linked recipient changed since the bookmark (all flags, snapshot)."""

    name = "opt_outs"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("export_position",)
    replication_key = "export_position"
    is_sorted = True  # keyset order, and positions sort as read
    schema = V8_OPT_OUT_SCHEMA
    changed_at = staticmethod(field_time("lastModified"))

    def disabled_reason(self) -> str | None:
        """Why this run emits nothing, or None when it reads `nms:recipient`."""
        mode = self.config.get("opt_out_sync") or DEFAULT_OPT_OUT_SYNC
        if mode not in CAMPAIGN_TO_D365_MODES:
            return f"opt_out_sync is {mode}: Campaign's opt-outs are not sent to Dynamics 365"
        return None

    def _since(self, context: Context | None) -> Cursor | None:
        bookmark = self._bookmark(context)
        if bookmark is not None:
            cursor = parse_position(str(bookmark))
            if cursor is not None:
                return cursor
            self.logger.warning(
                "Bookmark %r is no nms:recipient position (a state written on another "
                "backend?): reading every linked recipient (or from start_date)",
                bookmark,
            )
        start = self.config.get("start_date")
        return Cursor(self._parse_datetime(str(start))) if start else None

    def _read(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the linked recipients changed after the bookmark, oldest change first."""
        reason = self.disabled_reason()
        if reason:
            self.logger.info("opt_outs emits nothing: %s", reason)
            return
        query = QueryDef(RECIPIENT, select=SELECT, where=(LINKED,))
        since = self._since(context)
        for page in iter_keyset_pages(self.session, query, since, page_size=self.page_size):
            records = [to_record(row) for row in page.rows]
            yield from records
            self._checkpoint(records[-1]["export_position"], context)
