"""`Prefer` header handling and the opaque `$skiptoken` paging cookie."""

from __future__ import annotations

import base64
import fnmatch
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from .errors import BAD_REQUEST, DataverseError

MAX_PAGE_SIZE = 5000


def _split_preferences(value: str) -> list[str]:
    """Split one Prefer header on commas outside double quotes (RFC 7240)."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


@dataclass
class Preferences:
    """The `Prefer` values Dataverse understands; `raw` keeps them as sent for echoing."""

    max_page_size: int | None = None
    track_changes: bool = False
    return_representation: bool = False
    continue_on_error: bool = False
    annotations: tuple[str, ...] = ()
    annotations_raw: str | None = None
    applied: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, headers: Iterable[str]) -> Preferences:
        """Parse every `Prefer` header (repeated headers and comma lists)."""
        prefs = cls()
        for header in headers:
            for item in _split_preferences(header):
                name, _, value = item.partition("=")
                name, value = name.strip().lower(), value.strip()
                if name == "odata.maxpagesize":
                    try:
                        prefs.max_page_size = int(value.strip('"'))
                    except ValueError:
                        raise DataverseError(
                            400, BAD_REQUEST, f"Invalid odata.maxpagesize preference '{value}'."
                        ) from None
                elif name == "odata.track-changes":
                    prefs.track_changes = True
                elif name == "return" and value.strip('"') == "representation":
                    prefs.return_representation = True
                elif name == "odata.continue-on-error":
                    prefs.continue_on_error = True
                elif name == "odata.include-annotations":
                    prefs.annotations_raw = value
                    prefs.annotations = tuple(
                        p.strip() for p in value.strip('"').split(",") if p.strip()
                    )
        return prefs

    def wants(self, term: str) -> bool:
        """Return True when `odata.include-annotations` asks for `term` (wildcards, `-`)."""
        if not self.annotations:
            return False
        included = False
        for pattern in self.annotations:
            if pattern.startswith("-"):
                if fnmatch.fnmatchcase(term, pattern[1:]):
                    return False
            elif pattern == "*" or fnmatch.fnmatchcase(term, pattern):
                included = True
        return included

    def page_size(self) -> int:
        """Effective page size: default and maximum 5000, larger values clamp."""
        if self.max_page_size is None or self.max_page_size <= 0:
            return MAX_PAGE_SIZE
        return min(self.max_page_size, MAX_PAGE_SIZE)

    def header(self) -> str | None:
        """Return the `Preference-Applied` value for what was applied."""
        return ",".join(self.applied) or None


@dataclass
class PageState:
    """What a `$skiptoken` carries from one page to the next."""

    page: int = 1
    last: list[Any] | None = None  # order key values of the last row sent
    remaining: int | None = None  # rows left under `$top`
    tracking: bool = False
    snapshot: int | None = None  # row version the tracked snapshot (or delta) started at
    phase: str = "rows"  # delta paging: "rows" then "deleted"
    since: int | None = None  # delta: the token's version


_COOKIE = re.compile(r'pagingcookie="([A-Za-z0-9_\-=]*)"')


def encode_skiptoken(state: PageState) -> str:
    """Dataverse-looking paging cookie (`<cookie pagenumber=… pagingcookie=… istracking=…/>`)."""
    payload = {
        "l": state.last,
        "r": state.remaining,
        "s": state.snapshot,
        "p": state.phase,
        "v": state.since,
    }
    blob = base64.urlsafe_b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()
    return (
        f'<cookie pagenumber="{state.page + 1}" pagingcookie="{blob}" '
        f'istracking="{"True" if state.tracking else "False"}" />'
    )


def decode_skiptoken(token: str) -> PageState:
    """Parse a paging cookie produced by `encode_skiptoken`."""
    match = _COOKIE.search(token)
    page = re.search(r'pagenumber="(\d+)"', token)
    if match is None or page is None:
        raise DataverseError(400, BAD_REQUEST, "The $skiptoken value is not valid.")
    try:
        payload = json.loads(base64.urlsafe_b64decode(match.group(1)))
    except ValueError:
        raise DataverseError(400, BAD_REQUEST, "The $skiptoken value is not valid.") from None
    return PageState(
        page=int(page.group(1)),
        last=payload.get("l"),
        remaining=payload.get("r"),
        tracking='istracking="True"' in token,
        snapshot=payload.get("s"),
        phase=payload.get("p", "rows"),
        since=payload.get("v"),
    )


def build_query(params: Iterable[tuple[str, str]]) -> str:
    """Re-encode query options for a next/delta link (keeps `$`, `,`, `'`, `(`, `)` readable)."""
    return "&".join(f"{quote(k, safe='$@')}={quote(v, safe=',()$')}" for k, v in params)
