"""`email_events`: Campaign's email events read from an Adobe I/O Events journal.

`GET <journal_url>[?since=<position>][&limit=<n>]` answers 200 with
`{"events": [{"position", "event"}...], "_page": {"last", "count"}}` and a
`Link: <…?since=<last>…>; rel="next"` header, 204 at the end of the journal, and 410 Gone
when `since` is older than the journal's retention (7 days). Positions are opaque: they are
stored and sent back, never parsed or compared.

The bookmark (`journal_position`) is written after every page, pages whose events were all
filtered out included, so a run stopped anywhere resumes after the last page it finished.
"""

from __future__ import annotations

import typing as t
from http import HTTPStatus
from urllib.parse import urljoin

import msgspec
from singer_sdk.pagination import BaseHATEOASPaginator
from singer_sdk.streams.rest import HTTPRequest
from sync_support.progress import StreamProgress, field_time
from sync_support.settings_check import ConfigError

from tap_adobe_campaign.events import EMAIL_EVENT_SCHEMA, EventFilter, Skipped, to_record
from tap_adobe_campaign.streams import ClientStream

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import requests
    from campaign_client.client import CampaignClient
    from singer_sdk.helpers.types import Context
    from singer_sdk.streams.rest import PageContext
    from singer_sdk.tap_base import Tap

#: Settings email_events cannot run without.
REQUIRED_SETTINGS = ("events_journal_url", "ims_org_id")


class _JournalPage(msgspec.Struct):
    events: list[dict[str, t.Any]] = msgspec.field(default_factory=list)
    _page: dict[str, t.Any] = msgspec.field(default_factory=dict)


_journal_decoder = msgspec.json.Decoder(_JournalPage)


def missing_journal_settings(config: t.Mapping[str, t.Any]) -> list[str]:
    """Return the settings `email_events` needs that are not set."""
    return [name for name in REQUIRED_SETTINGS if not config.get(name)]


def journal_setting_errors(config: t.Mapping[str, t.Any]) -> list[str]:
    """Name the journal settings a selected email_events lacks (none: an empty list)."""
    missing = missing_journal_settings(config)
    if not missing:
        return []
    return [
        f"email_events is selected but {' and '.join(missing)} not set: copy the journaling "
        "URL of the event registration and the IMS organization id from Adobe Developer "
        "Console, or deselect email_events"
    ]


class JournalPaginator(BaseHATEOASPaginator):
    """Follows `Link: rel="next"`; stops at 204; after a 410, restarts at the oldest event."""

    def __init__(self, restart_url: str, page_had_events: Callable[[], bool]) -> None:
        """`restart_url` reads from the oldest retained event (no `since`)."""
        super().__init__()
        self._restart_url = restart_url
        self._page_had_events = page_had_events

    def has_more(self, response: requests.Response) -> bool:
        """Stop at the end of the journal: 204, or (defensively) a page without events."""
        if response.status_code == HTTPStatus.GONE:
            return True
        return response.status_code != HTTPStatus.NO_CONTENT and self._page_had_events()

    def continue_if_empty(self, response: requests.Response) -> bool:
        """Go on after a page whose events were all filtered out (or a 410)."""
        return self.has_more(response)

    def get_next_url(self, response: requests.Response) -> str | None:
        """Return the `rel="next"` link, resolved against the request URL (may be relative)."""
        if response.status_code == HTTPStatus.GONE:
            return self._restart_url
        link = response.links.get("next", {}).get("url")
        return urljoin(response.url, link) if link else None


class EmailEventsStream(ClientStream):
    """Sends, opens, clicks and bounces from the Campaign events journal (Adobe I/O Events)."""

    name = "email_events"
    primary_keys = ("event_id",)
    replication_key = "journal_position"
    is_sorted = True  # journal order: resumable after any page
    check_sorted = False  # positions are opaque: never compared
    schema = EMAIL_EVENT_SCHEMA

    def __init__(self, tap: Tap, client: CampaignClient) -> None:
        """Bind to the shared client (session, IMS token, retry policy)."""
        self._page_events = 0
        self._expired: str | None = None
        self._gap_logged = True
        self._context: Context | None = None
        self.skipped = Skipped()
        super().__init__(tap, client, path="journal")  # the metrics endpoint label only

    @property
    def journal_url(self) -> str:
        """The registration's journaling URL (Adobe Developer Console)."""
        return str(self.config["events_journal_url"])

    @property
    def url_base(self) -> str:
        """The journal lives on its own host (events.adobe.io), not on the Campaign API."""
        return self.journal_url

    @property
    def http_headers(self) -> dict[str, str]:
        """Adobe I/O Events wants the IMS org next to the token and the API key."""
        return {
            "x-api-key": str(self.config["client_id"]),
            "x-ims-org-id": str(self.config["ims_org_id"]),
        }

    @property
    def rules(self) -> EventFilter:
        """The `event_types` and `include_soft_bounces` settings."""
        return EventFilter(
            event_types=frozenset(self.config.get("event_types") or EventFilter.event_types),
            include_soft_bounces=bool(self.config.get("include_soft_bounces", False)),
        )

    def _limit(self) -> dict[str, t.Any]:
        limit = self.config.get("events_page_limit")
        return {"limit": limit} if limit else {}

    def get_new_paginator(self) -> JournalPaginator:
        """Follow the journal's Link headers."""
        restart = HTTPRequest(url=self.journal_url, params=self._limit())
        url = restart.url + ("?" + restart.encode_params() if restart.params else "")
        return JournalPaginator(url, lambda: self._page_events > 0)

    def _saved_position(self, context: Context | None) -> str | None:
        """Return the bookmark from state (never `start_date`: not a journal position)."""
        state = self.get_context_state(context)
        if state.get("replication_key") != self.replication_key:
            return None
        value = state.get("replication_key_value")
        return str(value) if value else None

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """First page: `since=<bookmark>` (or the oldest event); then each `rel="next"` link."""
        if page.next_page_token:
            return HTTPRequest(url=page.next_page_token.geturl(), headers=self.http_headers)
        since = self._saved_position(page.stream_context)
        params = {**({"since": since} if since else {}), **self._limit()}
        return HTTPRequest(url=self.journal_url, params=params, headers=self.http_headers)

    def validate_response(self, response: requests.Response) -> None:
        """410 Gone (position past retention) is handled by restarting; the rest as usual."""
        if response.status_code == HTTPStatus.GONE:
            return
        super().validate_response(response)

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the journal, with progress lines and a summary line (`StreamProgress`)."""
        self.progress = StreamProgress(
            self.name, self.logger, self.client.calls, changed_at=field_time("event_time")
        )
        yield from self.progress.track(self._read(context))

    def _read(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the journal from the bookmark to its end (204)."""
        if errors := journal_setting_errors(self.config):
            raise ConfigError(self.tap_name, errors)
        self._context = context
        self.skipped = Skipped()
        yield from super().get_records(context)
        if self.skipped.total:
            self.logger.info(
                "Skipped %s journal events that are not selected email events",
                self.skipped.summary(),
            )

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        """Yield the page's email events; once they are written, checkpoint the page."""
        self._page_events = 0
        if response.status_code == HTTPStatus.GONE:
            self._on_expired(response)
            return
        if response.status_code == HTTPStatus.NO_CONTENT or not response.content:
            self._log_gap([])
            return
        page = _journal_decoder.decode(response.content)
        self._page_events = len(page.events)
        self._log_gap(page.events)
        rules = self.rules
        for entry in page.events:
            record = to_record(entry, rules, self.skipped)
            if record is not None:
                yield record
        # Runs when the SDK asks for the next record: every record above has been written.
        last = page._page.get("last") or (page.events[-1]["position"] if page.events else None)
        if last:
            self._checkpoint(str(last))

    def _checkpoint(self, position: str) -> None:
        """Set the bookmark to `position` and emit STATE now."""
        self.state_manager.increment_state(
            {self.replication_key: position},
            context=self._context,
            replication_key=self.replication_key,
        )
        self.state_manager.is_flushed = False
        self._write_state_message()
        self.progress.page()

    def _on_expired(self, response: requests.Response) -> None:
        since = self._saved_position(self._context) or "(none)"
        self._expired = since
        self._gap_logged = False
        self.logger.warning(
            "Journal position %s has expired (410 Gone: older than the journal's retention, "
            "7 days on Adobe I/O Events); resuming from the oldest event still in the "
            "journal: events in the gap may be lost",
            since,
        )

    def _log_gap(self, events: list[dict[str, t.Any]]) -> None:
        """After a 410, say where the readable journal starts again."""
        if self._gap_logged:
            return
        self._gap_logged = True
        first = (events[0].get("event") or {}).get("time") if events else None
        self.logger.warning(
            "Gap in email_events: events after the expired position %s and before %s "
            "(the oldest retained event) were not read",
            self._expired,
            first or "the end of the journal",
        )
