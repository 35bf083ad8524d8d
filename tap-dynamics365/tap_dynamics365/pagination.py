"""Paging through Dataverse collections with `@odata.nextLink`, stopping at `@odata.deltaLink`."""

from __future__ import annotations

import decimal
import typing as t

import msgspec
from singer_sdk.pagination import BaseHATEOASPaginator

if t.TYPE_CHECKING:
    import requests


class PageLinks(msgspec.Struct):
    """The paging annotations of a collection response (rows are skipped, not decoded)."""

    next_link: str | None = msgspec.field(default=None, name="@odata.nextLink")
    delta_link: str | None = msgspec.field(default=None, name="@odata.deltaLink")


class Page(PageLinks):
    """A whole collection response; numbers with a fraction decode as `Decimal` (no rounding)."""

    value: list[dict[str, t.Any]] = msgspec.field(default_factory=list)


_links_decoder = msgspec.json.Decoder(PageLinks)
page_decoder = msgspec.json.Decoder(Page, float_hook=decimal.Decimal)


class ODataPaginator(BaseHATEOASPaginator):
    """Follows `@odata.nextLink` unchanged; the page carrying `@odata.deltaLink` is the last.

    Dataverse says not to alter the next link or add query options to it, so the link is
    requested exactly as received. A page without a next link (with or without a delta
    link) ends the sync; an empty page with one does not (`DataverseStream.request_records`).
    """

    def get_next_url(self, response: requests.Response) -> str | None:
        """Return the next page's URL, or None on the last page."""
        return _links_decoder.decode(response.content).next_link
