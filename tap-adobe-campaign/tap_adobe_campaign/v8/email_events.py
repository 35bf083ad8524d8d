"""`email_events` on v8: sends, bounces, opens and clicks from the delivery and tracking logs.

`nms:broadLogRcp` and `nms:trackingLogRcp` are read in keyset pages, each page checkpointed.

Bookmark (`journal_position`, see `event_logs.LogPosition`), one part per log:

- delivery logs: (`@lastModified`, `@id`). Campaign stamps `@lastModified` whenever a log
  changes, and an asynchronous bounce turns a sent log into a failed one days later (Adobe: up
  to a week), so a late bounce moves the log past the bookmark and is read again, now as a
  `bounce`. Adobe's own incremental export of delivery logs reads them on `lastModified` too.
- tracking logs: `@id`. They are only ever inserted, and `@logDate` (the click's time) is no
  bookmark: the tracking workflow writes logs after the fact, older than rows already read.

The delivery logs are read first, then the tracking logs; a STATE follows every page. A
first run reads both logs whole, or from start_date on (`@lastModified` / `@logDate`).
"""

from __future__ import annotations

import typing as t
from dataclasses import replace

from campaign_client.querydef import (
    Cursor,
    QueryDef,
    compare,
    iter_keyset_pages,
    select,
    value_at,
)
from sync_support.progress import field_time

from tap_adobe_campaign.events import EMAIL_EVENT_SCHEMA, EventFilter, Skipped
from tap_adobe_campaign.v8.base import SoapStream
from tap_adobe_campaign.v8.event_logs import (
    BROAD_LOG,
    BROAD_LOG_SELECT,
    TRACKING_LOG,
    TRACKING_LOG_SELECT,
    LogPosition,
    delivery_record,
    tracking_record,
)

if t.TYPE_CHECKING:
    import datetime
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context


class V8EmailEventsStream(SoapStream):
    """Sends, opens, clicks and bounces from Campaign v8's delivery and tracking logs."""

    name = "email_events"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("event_id",)
    replication_key = "journal_position"
    is_sorted = True  # log order: resumable after any page
    check_sorted = False  # positions are compared by their parts, not as text
    schema = EMAIL_EVENT_SCHEMA
    changed_at = staticmethod(field_time("event_time"))

    skipped: Skipped
    _position: LogPosition  # of the read in progress

    @property
    def rules(self) -> EventFilter:
        """The `event_types` and `include_soft_bounces` settings."""
        return EventFilter(
            event_types=frozenset(self.config.get("event_types") or EventFilter.event_types),
            include_soft_bounces=bool(self.config.get("include_soft_bounces", False)),
        )

    def _saved_position(self, context: Context | None) -> LogPosition:
        bookmark = self._bookmark(context)
        if bookmark is None:
            return LogPosition()
        position = LogPosition.parse(str(bookmark))
        if position is None:
            self.logger.warning(
                "Bookmark %r is no v8 log position (a state written on another backend?): "
                "reading the logs from the start (or start_date); events already loaded are "
                "upserted again under the same event ids",
                bookmark,
            )
            return LogPosition()
        return position

    def _read(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the delivery logs, then the tracking logs, from the bookmark on."""
        self.skipped = Skipped()
        self._position = self._saved_position(context)
        start = self._start_date()
        yield from self._delivery_logs(start, context)
        yield from self._tracking_logs(start, context)
        if self.skipped.total:
            self.logger.info(
                "Skipped %s log rows that are not selected email events", self.skipped.summary()
            )

    def _start_date(self) -> datetime.datetime | None:
        value = self.config.get("start_date")
        return self._parse_datetime(str(value)) if value else None

    def _save(self, position: LogPosition, context: Context | None) -> None:
        self._position = position
        self._checkpoint(str(position), context)

    def _delivery_logs(
        self, start: datetime.datetime | None, context: Context | None
    ) -> Iterator[dict[str, t.Any]]:
        since = self._position.broadlog or (Cursor(start) if start else None)
        query = QueryDef(BROAD_LOG, select=BROAD_LOG_SELECT)
        rules = self.rules
        for page in iter_keyset_pages(self.session, query, since, page_size=self.page_size):
            after = replace(self._position, broadlog=page.cursor)
            for row in page.rows:
                record = delivery_record(row, str(after), rules, self.skipped)
                if record is not None:
                    yield record
            self._save(after, context)  # once the page's records are written

    def _tracking_logs(
        self, start: datetime.datetime | None, context: Context | None
    ) -> Iterator[dict[str, t.Any]]:
        rules = self.rules
        last = self._position.trackinglog
        while True:
            if last is not None:
                where: tuple[str, ...] = (compare("@id", ">", last),)
            else:
                where = (compare("@logDate", ">=", start),) if start else ()
            query = QueryDef(
                TRACKING_LOG,
                select=TRACKING_LOG_SELECT,
                where=where,
                order_by=("@id",),
                line_count=self.page_size,
            )
            rows = select(self.session, query)
            if not rows:
                return
            last = int(value_at(rows[-1], "@id") or 0)
            after = replace(self._position, trackinglog=last)
            for row in rows:
                record = tracking_record(row, str(after), rules, self.skipped)
                if record is not None:
                    yield record
            self._save(after, context)
            if len(rows) < self.page_size:
                return
