"""Streams on the shared `CampaignClient`: the base class and Campaign profiles."""

from __future__ import annotations

import copy
import datetime
import typing as t

import msgspec
from campaign_client.dates import from_campaign_datetime, to_campaign_datetime
from campaign_client.metadata import value_schema
from singer_sdk import typing as th
from singer_sdk.pagination import BaseHATEOASPaginator
from singer_sdk.streams.rest import HTTPRequest, RESTStream
from sync_support.progress import StreamProgress, field_time
from sync_support.versions import read_in_full

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import requests
    from backoff.types import Details
    from campaign_client.client import CampaignClient
    from singer_sdk.helpers.types import Context, RequestFunc
    from singer_sdk.streams.rest import PageContext
    from singer_sdk.tap_base import Tap


class _Link(msgspec.Struct):
    href: str | None = None


class _Page(msgspec.Struct):
    """A Campaign list: `content` plus the `next` link (absent on the last page)."""

    content: list[dict[str, t.Any]] = msgspec.field(default_factory=list)
    next: _Link | None = None


_page_decoder = msgspec.json.Decoder(_Page)


class NextHrefPaginator(BaseHATEOASPaginator):
    """Follows the `next.href` the stream found on the page it just parsed."""

    def __init__(self, next_href: Callable[[], str | None]) -> None:
        """`next_href` returns the link of the last parsed page, or None to stop."""
        super().__init__()
        self._next_href = next_href

    def get_next_url(self, response: requests.Response) -> str | None:
        """Return the next page's URL, or None on the last page."""
        return self._next_href()


class ClientStream(RESTStream):
    """Plugs the tap's shared `CampaignClient` into the SDK's REST machinery.

    Session (TLS, gateway headers), authenticator, timeout and the retry policy all come
    from the client, so stream reads behave like the target's calls.
    """

    progress: StreamProgress  # of the read in progress (`get_records`)

    def __init__(self, tap: Tap, client: CampaignClient, **kwargs: t.Any) -> None:
        """Keep the shared client."""
        self.client = client
        super().__init__(tap, **kwargs)

    @property
    def url_base(self) -> str:
        """The API root, `<api_base_url>/<organization>/campaign/`."""
        return self.client.api_url

    @property
    def authenticator(self) -> t.Any:
        """IMS client credentials, shared with every other call."""
        return self.client.authenticator

    @property
    def requests_session(self) -> requests.Session:
        """The client's session (pool, CA bundle, X-Api-Key)."""
        return self.client.session

    @property
    def timeout(self) -> int:
        """The `request_timeout` setting."""
        return int(self.client.timeout)

    def validate_response(self, response: requests.Response) -> None:
        """Map failures to the client's error types (retriable: 429, 502-504)."""
        self.client.retry.validate(response)

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Retry with the client's policy (`Retry-After`, backoff, time budget)."""
        return self.client.retry.wrap(func, on_backoff=self.backoff_handler)

    def backoff_handler(self, details: Details) -> None:
        """Log each wait as the client does: how long, why, and the retry budget used."""
        self.client.log_backoff(details)


class CampaignStream(ClientStream):
    """A Campaign REST collection, paged through the `next.href` Campaign returns."""

    def __init__(self, tap: Tap, client: CampaignClient, **kwargs: t.Any) -> None:
        """`path` is the resource under the API root."""
        self._next_href: str | None = None
        super().__init__(tap, client, **kwargs)

    def get_new_paginator(self) -> NextHrefPaginator:
        """Follow `next.href`."""
        return NextHrefPaginator(lambda: self._next_href)

    def first_page_path(self, context: Context | None) -> str:
        """Path of the first page under the API root: the resource (and any filter)."""
        return self.path

    def first_page_params(self, context: Context | None) -> dict[str, t.Any]:
        """Query of the first page (`_forcePagination` and `_lineCount` are always added)."""
        return {}

    def get_http_request(self, *, page: PageContext) -> HTTPRequest:
        """First page: resource + query; then each `next.href` exactly as returned."""
        token = page.next_page_token
        if token:
            return HTTPRequest(url=self.client.url(token.geturl()))
        query = {
            **self.first_page_params(page.stream_context),
            "_forcePagination": "true",
            "_lineCount": self.config.get("page_size", 500),
        }
        context = page.stream_context
        return HTTPRequest(url=self.client.url(self.first_page_path(context), query))

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        """Yield the page's records and remember where the next page is."""
        page = _page_decoder.decode(response.content)
        self._next_href = page.next.href if page.next else None
        yield from page.content


#: Custom fields of a tenant (Campaign's naming rule for extensions).
CUSTOM_PREFIX = "cus"
PROFILE_SCHEMA = th.PropertiesList(
    th.Property(
        "externalId", th.StringType, required=True, description="External Resource ID (the CRM id)"
    ),
    th.Property(
        "PKey",
        th.StringType,
        description="Campaign's opaque record handle: never a durable key (Adobe: must not be "
        "stored in an external database)",
    ),
    th.Property("email", th.StringType),
    th.Property("emailFormat", th.StringType, description="unknown | text | html"),
    th.Property("domain", th.StringType),
    th.Property("firstName", th.StringType),
    th.Property("middleName", th.StringType),
    th.Property("lastName", th.StringType),
    th.Property("salutation", th.StringType),
    th.Property("title", th.StringType),
    th.Property("gender", th.StringType, description="unknown | male | female"),
    th.Property("birthDate", th.DateType),
    th.Property("age", th.IntegerType),
    th.Property("phone", th.StringType),
    th.Property("mobilePhone", th.StringType),
    th.Property("fax", th.StringType),
    th.Property("timeZone", th.StringType),
    th.Property("preferredLanguage", th.StringType),
    th.Property("isExternal", th.BooleanType),
    th.Property("blackList", th.BooleanType, description="Opted out of every channel"),
    th.Property("blackListEmail", th.BooleanType),
    th.Property("blackListFax", th.BooleanType),
    th.Property("blackListMobile", th.BooleanType),
    th.Property("blackListPhone", th.BooleanType),
    th.Property("blackListPostalMail", th.BooleanType),
    th.Property("blackListPushnotification", th.BooleanType),
    th.Property("ccpaOptOut", th.BooleanType, description="No sale of personal information"),
    th.Property("created", th.DateTimeType),
    th.Property("lastModified", th.DateTimeType, required=True),
).to_dict()
_DATETIME_FIELDS = ("created", "lastModified")


def profile_schema(fields: t.Mapping[str, t.Mapping[str, t.Any]]) -> dict[str, t.Any]:
    """PROFILE_SCHEMA plus the custom fields (`cus*`) of the resource's metadata `fields`.

    Custom links and collections are left out: they are no values of the profile.
    """
    schema = copy.deepcopy(PROFILE_SCHEMA)
    for name, field in sorted(fields.items()):
        if not name.startswith(CUSTOM_PREFIX) or name in schema["properties"]:
            continue
        value = value_schema(field)
        if value is not None:
            if field.get("label"):
                value["description"] = f"{field['label']} (custom field)"
            schema["properties"][name] = value
    return schema


class ProfilesStream(CampaignStream):
    """Campaign profiles linked to the CRM (with an `externalId`), incremental on `lastModified`.

    The key is `externalId`: Adobe says PKeys must never be stored outside Campaign, and a
    profile without an `externalId` (created in Campaign) has no CRM counterpart, so it is
    skipped (and counted in the log).

    Profiles are read oldest change first (`_order=lastModified`, `_forcePagination=true`),
    so the SDK checkpoints as it goes and an interrupted run resumes from its last bookmark.
    Campaign has no out-of-the-box "modified since" filter: with `modified_since_filter` and
    `modified_since_parameter` (a custom filter defined in the tenant, condition
    `lastModified >= parameter`) only changed profiles are read; without them the whole
    resource is read and rows older than the bookmark are skipped. Profiles modified at the
    bookmark's very millisecond are read again (`>=`); loaders upsert on `externalId`.
    """

    name = "profiles"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("externalId",)
    replication_key = "lastModified"
    is_sorted = True  # _order=lastModified ascending: resumable mid-stream
    #: Which profiles the stream holds: those with an `externalId` (linked to the CRM) or not.
    linked = True

    def __init__(
        self,
        tap: Tap,
        client: CampaignClient,
        resource: str,
        fields: t.Mapping[str, t.Mapping[str, t.Any]],
    ) -> None:
        """Read profiles from `resource` (`profileAndServicesExt/profile` shows custom fields).

        The schema is the profile's standard fields plus the tenant's custom ones (`cus*`)
        among `fields`, the resource's metadata (`campaign_client.metadata.resource_fields`).
        """
        self._bookmark: datetime.datetime | None = None
        self._skipped_link = 0
        self._older = 0
        schema = profile_schema(fields)
        if not self.linked:  # always null here
            del schema["properties"]["externalId"]
            schema["required"].remove("externalId")
        super().__init__(tap, client, path=resource, schema=schema)

    @property
    def _filter(self) -> tuple[str, str] | None:
        """The tenant's "modified since" custom filter and its parameter, when configured."""
        name = self.config.get("modified_since_filter")
        parameter = self.config.get("modified_since_parameter")
        return (name, parameter) if name and parameter else None

    def first_page_path(self, context: Context | None) -> str:
        """`<resource>/<modified_since_filter>` once there is a bookmark, else the resource."""
        if self._filter and self._bookmark:
            return f"{self.path.rstrip('/')}/{self._filter[0]}"
        return self.path

    def first_page_params(self, context: Context | None) -> dict[str, t.Any]:
        """Oldest change first; the filter's parameter is the bookmark in Campaign's format."""
        params: dict[str, t.Any] = {"_order": "lastModified"}
        if self._filter and self._bookmark:
            params[self._filter[1]] = to_campaign_datetime(self._bookmark)
        return params

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read the profiles, with progress lines and a summary line (`StreamProgress`).

        A read from a bookmark also tells its lag (the oldest `lastModified` it brought); a first
        read, even from `start_date`, tells none.
        """
        incremental = bool(self.get_context_state(context).get("replication_key_value"))
        self.progress = StreamProgress(
            self.name,
            self.logger,
            self.client.calls,
            changed_at=field_time("lastModified") if incremental else None,
        )
        yield from self.progress.track(self._read(context))

    def _read(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Read from the bookmark (or start_date) on, oldest change first."""
        self._bookmark = self.get_starting_timestamp(context)
        self._skipped_link = self._older = 0
        records = super().get_records(context)
        # A read of every profile ends with ACTIVATE_VERSION: loaders drop deleted profiles.
        yield from records if self._bookmark else read_in_full(self, records)
        if self._skipped_link:
            self.logger.info(
                "Skipped %d profiles %s",
                self._skipped_link,
                "without an externalId"
                if self.linked
                else "linked to the CRM (with an externalId)",
            )
        if self._older:
            self.logger.info(
                "Skipped %d profiles modified before the bookmark %s (set "
                "modified_since_filter/modified_since_parameter to have Campaign filter them)",
                self._older,
                self._bookmark,
            )

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        """Yield the page's profiles; once they are written, checkpoint (STATE) the page."""
        yield from super().parse_response(response)
        # Runs when the SDK asks for the next record: the page's records are written.
        self._write_state_message()
        self.progress.page()

    def post_process(
        self, row: dict[str, t.Any], context: Context | None = None
    ) -> dict[str, t.Any] | None:
        """Keep schema fields; Campaign's empty values `""` → null, its dates → ISO 8601."""
        modified = from_campaign_datetime(row.get("lastModified"))
        if self._bookmark and modified and modified < self._bookmark:
            self._older += 1
            return None
        if bool(row.get("externalId")) != self.linked:
            self._skipped_link += 1
            return None
        record = {
            name: None if row[name] == "" else row[name]
            for name in self.schema["properties"]
            if name in row
        }
        for name in _DATETIME_FIELDS:
            value = from_campaign_datetime(record.get(name))
            if value is not None:
                record[name] = value.isoformat()
        return record


class UnlinkedProfilesStream(ProfilesStream):
    """Campaign profiles without an `externalId`: created in Campaign (landing pages, imports).

    The source of Campaign Classic's "Export to CRM": loaded into D365 (target-dynamics365's
    `tables`), they come back with a CRM id and target-adobe-campaign adopts them by email
    (`adopt_by`) instead of creating duplicates. Keyed on `PKey`, Campaign's record handle:
    these profiles have no other identity, and Adobe warns that PKeys change when an instance
    moves (ACS to v8), so loaders should treat them as valid for this instance only.
    """

    name = "unlinked_profiles"
    primary_keys: t.ClassVar[tuple[str, ...]] = ("PKey",)
    linked = False
