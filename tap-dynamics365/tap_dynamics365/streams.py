"""Streams: one per Dataverse table, plus `option_sets` (choice values and labels)."""

from __future__ import annotations

import datetime
import threading
import typing as t
from functools import partial
from urllib.parse import quote

from dataverse_client.client import DeltaTokenExpiredError, ForbiddenError
from dataverse_client.metadata import DELETED_AT, list_options, table_schema
from singer_sdk import Stream
from singer_sdk import typing as th
from singer_sdk.singerlib import RecordMessage
from singer_sdk.streams.rest import HTTPRequest, PageContext, RESTStream
from sync_support.progress import StreamProgress, field_time
from sync_support.versions import read_in_full
from typing_extensions import override

from tap_dynamics365.pagination import ODataPaginator, page_decoder
from tap_dynamics365.prefetch import in_background, result_of
from tap_dynamics365.records import (
    FORMATTED_VALUE_ANNOTATION,
    LOOKUP_NAME_ANNOTATION,
    RecordBuilder,
)

if t.TYPE_CHECKING:
    from collections.abc import Generator, Iterable, Iterator, Sequence
    from concurrent.futures import Future
    from urllib.parse import ParseResult

    import requests
    from backoff.types import Details
    from dataverse_client.client import DataverseClient
    from dataverse_client.metadata import Column, Table
    from singer_sdk.helpers.types import Context, RequestFunc
    from singer_sdk.tap_base import Tap

    from tap_dynamics365.pagination import Page

REPLICATION_KEY = "modifiedon"
_SAFE = ",:()'"  # left unescaped in query options, for readable URLs
#: Stream state keys (next to the SDK's replication_key / replication_key_value).
NEXT_LINK = "next_link"  # change tracking: next page of an unfinished initial snapshot
DELTA_LINK = "delta_link"  # change tracking: where the next run asks for changes
SEEN_AT_BOOKMARK = "seen_at_bookmark"  # polling: {id: etag} of rows emitted at the bookmark


def dataverse_datetime(value: datetime.datetime) -> str:
    """UTC, whole seconds, `Z`: the form Dataverse returns and accepts (unquoted) in filters."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.UTC)
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class PageAbandonedError(Exception):
    """A prefetched page's read stopped before the page was taken: no further attempt."""


class DataverseStream(RESTStream):
    """Plugs the tap's shared `DataverseClient` into the SDK's REST machinery.

    Session (TLS, OData headers), authenticator, timeout and the retry policy all come from
    the client, so stream requests and metadata calls behave the same.
    """

    def __init__(self, tap: Tap, client: DataverseClient, **kwargs: t.Any) -> None:
        """Keep the shared client."""
        self.client = client
        super().__init__(tap, **kwargs)

    @property
    def url_base(self) -> str:
        """The Web API root, e.g. https://org.crm.dynamics.com/api/data/v9.2/."""
        return self.client.api_url

    @property
    def authenticator(self) -> t.Any:
        """MSAL client credentials, shared by every stream."""
        return self.client.authenticator

    @property
    def requests_session(self) -> requests.Session:
        """The client's session (connection pool, CA bundle, OData headers)."""
        return self.client.session

    @property
    def timeout(self) -> int:
        """The `request_timeout` setting."""
        return int(self.client.timeout)

    def validate_response(self, response: requests.Response) -> None:
        """Map failures to the client's error types (retriable: 429, 5xx)."""
        self.client.retry.validate(response)

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Retry with the client's policy (`Retry-After`, backoff, time budget)."""
        return self.client.retry.wrap(func, on_backoff=self.backoff_handler)

    def backoff_handler(self, details: Details) -> None:
        """Log each wait as the client does: how long, why, and the retry budget used."""
        self.client.log_backoff(details)

    def get_new_paginator(self) -> ODataPaginator:
        """Follow `@odata.nextLink`."""
        return ODataPaginator()

    def request_records(self, context: Context | None) -> Iterator[dict[str, t.Any]]:
        """Page through the results like the SDK, fetching each next page ahead.

        As soon as a page has arrived its next link is known (`ODataPaginator` reads only the
        links), so the request for the next page starts on a worker thread before this page's
        rows are yielded: the SDK turns them into records and writes them, and the state is
        checkpointed (`parse_response`), on the calling thread while the next page is on its
        way. One request is in flight at a time and at most one page is held ahead.

        Each fetch runs the SDK's own request (`_request`: authentication, the request metric,
        `validate_response`) under `request_decorator`, so retries, `Retry-After` waits and
        token renewal happen on the worker as they did inline. An error (after its retries)
        is raised here when this loop takes the page, i.e. after every earlier page has been
        yielded and checkpointed, as without prefetch. A signal stopping the tap while this
        loop waits for a page interrupts the wait; the page's daemon thread is left behind,
        and makes no further attempt once this loop is gone.

        Unlike the SDK's loop, an empty page never ends the read: it still carries the links
        (an empty delta page holds the delta link).
        """
        paginator = self.get_new_paginator()
        abandoned = threading.Event()

        def attempt(
            prepared: requests.PreparedRequest, context: Context | None
        ) -> requests.Response:
            if abandoned.is_set():
                raise PageAbandonedError(prepared.url)
            return self._request(prepared, context)

        send = self.request_decorator(attempt)

        def fetch(
            token: ParseResult | None,
        ) -> tuple[requests.PreparedRequest, requests.Response]:
            request = self.get_http_request(
                page=PageContext(stream_context=context, next_page_token=token)
            )
            prepared = self.build_prepared_request(
                method=request.method,
                url=request.url,
                params=request.encode_params(),
                headers=request.headers,
                data=request.data,
            )
            return prepared, send(prepared, context)

        def fetch_next() -> Future[tuple[requests.PreparedRequest, requests.Response]]:
            return in_background(
                partial(fetch, paginator.current_value), name=f"{self.name} page prefetch"
            )

        with self.get_http_request_counter() as request_counter:
            request_counter.with_context(context)
            pending = fetch_next()
            try:
                while True:
                    prepared, response = result_of(pending)
                    request_counter.increment()
                    self.update_sync_costs(prepared, response, context)
                    paginator.advance(response)
                    if not paginator.finished:
                        pending = fetch_next()
                    yield from self.parse_response(response)
                    if paginator.finished:
                        return
            finally:
                abandoned.set()


class TableStream(DataverseStream):
    """All rows of one Dataverse table, incremental on `modifiedon`.

    With change tracking, runs after the first read the stored `@odata.deltaLink` (changes and
    deletes since the last run); otherwise rows are polled with `modifiedon ge <bookmark>`.
    State is checkpointed after every page.
    """

    progress: StreamProgress  # of the read in progress (`get_records`)

    def __init__(
        self,
        tap: Tap,
        client: DataverseClient,
        table: Table,
        columns: Sequence[Column],
        *,
        use_change_tracking: bool,
        formatted_values: bool,
        page_size: int,
        skip_forbidden: bool,
    ) -> None:
        """Build the stream for `table` from its metadata."""
        self.table = table
        self.columns = tuple(columns)
        self.tracked = use_change_tracking and table.change_tracking
        self.formatted_values = formatted_values
        self.skip_forbidden = skip_forbidden
        annotations = LOOKUP_NAME_ANNOTATION
        if formatted_values:
            annotations = f"{FORMATTED_VALUE_ANNOTATION},{annotations}"
        preferences = [
            f"odata.maxpagesize={page_size}",
            f'odata.include-annotations="{annotations}"',
        ]
        if self.tracked:
            preferences.insert(0, "odata.track-changes")
        self.prefer = ",".join(preferences)
        schema = table_schema(columns, formatted_values=formatted_values, deletes=self.tracked)
        super().__init__(
            tap, client, name=table.logical_name, schema=schema, path=table.entity_set_name
        )
        self.primary_keys = (table.primary_id,)
        self.replication_key = REPLICATION_KEY if REPLICATION_KEY in schema["properties"] else None
        self._first_url = ""
        self._builder: RecordBuilder | None = None
        self._start_date: str | None = None
        self._bookmark: str | None = None
        self._seen: dict[str, t.Any] = {}
        self._seen_second: str | None = None
        self._deleted_at: str | None = None

    @property
    def is_sorted(self) -> bool:
        """Polled rows come ordered by `modifiedon`; tracked changes come in version order."""
        return not self.tracked

    # --- requests -------------------------------------------------------------------------

    def _query_url(self, options: dict[str, str]) -> str:
        query = "&".join(f"{key}={quote(value, safe=_SAFE)}" for key, value in options.items())
        return f"{self.url_base}{self.path}?{query}"

    def _is_selected(self, name: str) -> bool:
        return self.mask[("properties", name)]

    def _selected_columns(self) -> list[Column]:
        return [c for c in self.columns if self._is_selected(c.read_name)]

    def _select(self) -> str:
        return ",".join(c.read_name for c in self._selected_columns())

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """First page: the URL chosen by `get_records`; then each `@odata.nextLink` as is."""
        token = page.next_page_token
        url = token.geturl() if token else self._first_url
        return HTTPRequest(url=url, headers={"Prefer": self.prefer})

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        """Yield the page's rows, then checkpoint: the page has been emitted in full."""
        page = page_decoder.decode(response.content)
        yield from page.value
        self._page_done(page)

    # --- sync -----------------------------------------------------------------------------

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the table, with progress lines and a summary line (`StreamProgress`).

        A read that goes on from the stored state (a delta link, a next link, a bookmark) also
        tells its lag: the age of the oldest change it brought, from `modifiedon`. A full read
        tells none: it reads everything, whatever was behind.
        """
        state = self.stream_state
        incremental = any(state.get(k) for k in (DELTA_LINK, NEXT_LINK, "replication_key_value"))
        changed_at = (
            field_time(REPLICATION_KEY)
            if incremental and REPLICATION_KEY in self.schema["properties"]
            else None
        )
        self.progress = StreamProgress(
            self.name, self.logger, self.client.calls, changed_at=changed_at
        )
        yield from self.progress.track(self._read(context))

    def _read(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the table; a 403 is skipped with a warning when `skip_forbidden_tables` is on."""
        self._builder = RecordBuilder(
            self.columns, formatted_values=self.formatted_values, selected=self._is_selected
        )
        self._deleted_at = DELETED_AT if self._is_selected(DELETED_AT) else None
        start = self.config.get("start_date")
        self._start_date = (
            dataverse_datetime(datetime.datetime.fromisoformat(start)) if start else None
        )
        try:
            if self.tracked:
                yield from self._tracked_records(context)
            else:
                yield from self._polled_records(context)
        except ForbiddenError as exc:
            if not self.skip_forbidden:
                raise
            self.logger.warning("Skipping table '%s', access is forbidden: %s", self.name, exc)

    def _tracked_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        state = self.stream_state
        snapshot = self._query_url({"$select": self._select()})
        stored = state.get(NEXT_LINK) or state.get(DELTA_LINK)
        if state.get(NEXT_LINK):
            self.logger.info("Resuming the read of '%s' from the stored next link", self.name)
        elif not stored:
            self.logger.info("Reading '%s' in full (initial change-tracking snapshot)", self.name)
        self._first_url = stored or snapshot
        try:
            if stored:
                yield from self.request_records(context)
            else:
                yield from self._full_read(context)
        except DeltaTokenExpiredError as exc:
            # Expiry can come from the stored delta link or from a stored next link (a paged
            # delta, or a tracked snapshot stopped part-way); retrying either fails the same
            # way forever. Only a stored link may fall back: a fresh snapshot never carries an
            # expired token, so an expiry there is raised rather than looped on.
            if not stored:
                raise
            link = NEXT_LINK if state.get(NEXT_LINK) else DELTA_LINK
            self.logger.warning(
                "The change-tracking token in the stored %s of '%s' has expired (%s %s). "
                "Dropping the stored links and reading the table in full again; rows deleted "
                "since the last completed run cannot be reported as deletes.",
                link,
                self.name,
                exc.code,
                exc.error_message,
            )
            state.pop(NEXT_LINK, None)
            state.pop(DELTA_LINK, None)
            self._first_url = snapshot
            yield from self._full_read(context)

    def _polled_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        state = self.stream_state
        options = {"$select": self._select()}
        if self.replication_key:
            start = self.get_starting_timestamp(context)
            self._bookmark = dataverse_datetime(start) if start else None
            if self._bookmark:
                options["$filter"] = f"{REPLICATION_KEY} ge {self._bookmark}"
            options["$orderby"] = f"{REPLICATION_KEY} asc,{self.table.primary_id} asc"
            # Rows already emitted in the bookmark's second are skipped unless changed since.
            same_second = state.get("replication_key_value") == self._bookmark
            self._seen = dict(state.get(SEEN_AT_BOOKMARK) or {}) if same_second else {}
            self._seen_second = self._bookmark
            state[SEEN_AT_BOOKMARK] = self._seen
        self._first_url = self._query_url(options)
        if self.replication_key and self._bookmark:
            yield from self.request_records(context)
        else:
            yield from self._full_read(context)

    def _full_read(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the whole table from `_first_url`, then ACTIVATE_VERSION (`read_in_full`).

        Not when `start_date` keeps part of the table out.
        """
        if self._start_date:
            yield from self.request_records(context)
        else:
            yield from read_in_full(self, self.request_records(context))

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Build the record; turn `$deletedEntity` stubs into `_sdc_deleted_at` records."""
        if self.tracked:
            odata_context = row.get("@odata.context")
            if odata_context is not None and odata_context.endswith("$deletedEntity"):
                record = {self.table.primary_id: row["id"]}
                if self._deleted_at:
                    record[self._deleted_at] = datetime.datetime.now(datetime.UTC).isoformat()
                return record
        record = self._builder.build(row)  # type: ignore[union-attr]
        modified = record.get(REPLICATION_KEY)
        if self.tracked:
            # Tracked reads cannot be filtered server-side: apply start_date here.
            if self._start_date and modified and modified < self._start_date:
                return None
            return record
        if modified is not None and self.replication_key:
            return self._unless_seen(record, modified, row.get("@odata.etag"))
        return record

    def _unless_seen(
        self, record: dict[str, t.Any], modified: str, etag: str | None
    ) -> dict[str, t.Any] | None:
        """Drop a polled row already emitted at the bookmark second and unchanged since.

        `modifiedon` has one-second precision, so the next run filters with `ge` and skips
        what it already sent; the ids (and ETags) emitted in the latest second live in state.
        """
        key = record[self.table.primary_id]
        if modified == self._seen_second:
            if key in self._seen and self._seen[key] == etag:
                return None
        else:
            self._seen_second = modified
            self._seen = {}
            self.stream_state[SEEN_AT_BOOKMARK] = self._seen
        self._seen[key] = etag
        return record

    def _page_done(self, page: Page) -> None:
        """Record how far the sync got, and emit the state."""
        if self.tracked:
            state = self.stream_state
            if page.next_link:
                state[NEXT_LINK] = page.next_link
            else:
                state.pop(NEXT_LINK, None)
                if page.delta_link:
                    state[DELTA_LINK] = page.delta_link
                else:
                    self.logger.warning(
                        "The last page of '%s' carried no @odata.deltaLink; keeping the previous "
                        "change-tracking state",
                        self.name,
                    )
        self.state_manager.is_flushed = False
        self._write_state_message()
        self.progress.page()

    @override
    def _generate_record_messages(
        self, record: dict[str, t.Any]
    ) -> Generator[RecordMessage, None, None]:
        """Map and wrap a record, without the SDK's per-record selection and conformance pass.

        Records are built from the selected columns only, already in their schema types
        (`RecordBuilder`), so that pass would find nothing to do; it cost about a third of the
        tap's per-record time.
        """
        for stream_map in self.stream_maps:
            mapped = stream_map.transform(record)
            if mapped is not None:
                yield RecordMessage(
                    stream=stream_map.stream_alias,
                    record=mapped,
                    version=self._stream_version,
                    time_extracted=datetime.datetime.now(datetime.UTC),
                )

    @override
    def _increment_stream_state(
        self, latest_record: dict[str, t.Any], *, context: Context | None = None
    ) -> None:
        """Advance the `modifiedon` bookmark; delete records (no `modifiedon`) leave it alone.

        Polled streams are sorted and use the SDK's bookkeeping. Tracked streams resume from
        their links, not from `modifiedon`, so the bookmark is simply the highest value seen,
        kept without the SDK's "unsorted, not resumable" progress markers.
        """
        value = latest_record.get(REPLICATION_KEY)
        if value is None:
            return
        if not self.tracked:
            super()._increment_stream_state(latest_record, context=context)
            return
        state = self.stream_state
        if value > state.get("replication_key_value", ""):
            state["replication_key"] = REPLICATION_KEY
            state["replication_key_value"] = value


class OptionSetsStream(Stream):
    """Every choice value and label of the synced tables.

    One record per (table, attribute, value), covering local and global choices, multi-select
    choices (`is_multi_select`), Boolean true/false labels and State/Status options (`state` is
    the statecode a Status value belongs to).
    """

    name = "option_sets"
    primary_keys = ("table", "attribute", "value")
    schema = th.PropertiesList(
        th.Property("table", th.StringType, required=True, description="Table logical name"),
        th.Property("attribute", th.StringType, required=True, description="Column logical name"),
        th.Property("option_set_name", th.StringType, description="Option set (choice) name"),
        th.Property("is_global", th.BooleanType, description="True for a global choice"),
        th.Property(
            "is_multi_select",
            th.BooleanType,
            description="True for a multi-select choice column (MultiSelectPicklist): its "
            "values arrive as an array",
        ),
        th.Property("value", th.IntegerType, required=True, description="Technical value"),
        th.Property("label", th.StringType, description="User-localized label"),
        th.Property("state", th.IntegerType, description="Status options: their statecode"),
    ).to_dict()

    def __init__(
        self, tap: Tap, client: DataverseClient, tables: Sequence[tuple[Table, Sequence[Column]]]
    ) -> None:
        """Read options of `tables` (each with its stream's columns) through `client`."""
        self.client = client
        self.tables = tuple(tables)
        super().__init__(tap)

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Option set metadata, table by table (with a summary line, `StreamProgress`)."""
        progress = StreamProgress(self.name, self.logger, self.client.calls)
        yield from progress.track(
            option
            for table, columns in self.tables
            for option in list_options(self.client, table, {c.logical_name for c in columns})
        )
