"""From a Singer record to a Campaign body, and the fields that differ from Campaign's copy."""

from __future__ import annotations

import datetime
import decimal
import typing as t
from dataclasses import dataclass

from campaign_client.dates import to_campaign_date, to_campaign_datetime

if t.TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from target_adobe_campaign.routing import Link, Route

SDC_PREFIX = "_sdc_"
DELETED_AT = "_sdc_deleted_at"
#: Set by a stream-map expression: true for records the resource's filter now excludes.
FILTERED_OUT = "_sdc_filtered_out"


class RecordRejectedError(Exception):
    """A record that cannot be written as it is; the reason goes to the rejects file."""

    def __init__(self, reason: str, field: str | None = None) -> None:
        """Keep the reason and, when known, the offending field."""
        super().__init__(reason)
        self.reason = reason
        self.field = field


class ParentNotFoundError(RecordRejectedError):
    """A link's parent has no Campaign record (yet, or any more)."""

    def __init__(self, link: Link, parent_key: str) -> None:
        """Name the link and the parent's CRM id."""
        super().__init__(
            f"parent not found: no {link.stream} record with key '{parent_key}' in Campaign "
            f"(link '{link.name}')",
            link.field,
        )
        self.link = link
        self.parent_key = parent_key


def to_campaign(value: t.Any) -> t.Any:
    """Convert one value to its Campaign JSON form.

    Date-times become `YYYY-MM-DD HH:MM:SS.mmmZ` (UTC), dates `YYYY-MM-DD`, decimals
    numbers. Enumerations travel as their value names, which stream maps produce.
    """
    if isinstance(value, datetime.datetime):
        return to_campaign_datetime(value)
    if isinstance(value, datetime.date):
        return to_campaign_date(value)
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: to_campaign(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_campaign(v) for v in value]
    return value


def key_of(record: Mapping[str, t.Any], key: str) -> str:
    """Return the record's CRM id as Campaign stores it (a string)."""
    value = record.get(key)
    if value is None or value == "":
        msg = f"missing key: the record has no value in '{key}'"
        raise RecordRejectedError(msg, key)
    return str(value)


@dataclass(frozen=True)
class Payload:
    """A record ready for Campaign: its key and body (key and resolved links included)."""

    key: str
    body: dict[str, t.Any]


def build_payload(
    record: Mapping[str, t.Any],
    route: Route,
    parent_pkey: Callable[[Link, str], str | None],
) -> Payload:
    """Drop `_sdc_*` metadata, convert values and resolve links to the parents' PKeys.

    `parent_pkey(link, parent_crm_id)` returns the parent's PKey, or None when Campaign has
    no such parent.
    """
    key = key_of(record, route.key)
    link_fields = {link.field for link in route.links}
    body: dict[str, t.Any] = {
        name: to_campaign(value)
        for name, value in record.items()
        if not name.startswith(SDC_PREFIX) and name not in link_fields
    }
    body[route.key] = key
    for link in route.links:
        parent_id = record.get(link.field)
        if parent_id is None or parent_id == "":
            continue
        pkey = parent_pkey(link, str(parent_id))
        if pkey is None:
            raise ParentNotFoundError(link, str(parent_id))
        body[link.name] = {"PKey": pkey}
    return Payload(key=key, body=body)


def _comparable(value: t.Any) -> t.Any:
    """Campaign shows a null as its empty value: `""`, `false`, `0` or an empty link `{}`."""
    if isinstance(value, dict) and "PKey" in value:
        return value["PKey"]
    if value in ("", {}) or value is False:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
        return None
    return value


def same_value(new: t.Any, current: t.Any) -> bool:
    """Whether Campaign already holds `new`; an item (`location`) compares its given parts."""
    if isinstance(new, dict) and new and "PKey" not in new and isinstance(current, dict):
        return all(same_value(v, current.get(k)) for k, v in new.items())
    return bool(_comparable(new) == _comparable(current))


def changed_fields(
    body: Mapping[str, t.Any],
    current: Mapping[str, t.Any],
    *,
    key: str,
    create_only: frozenset[str] = frozenset(),
) -> dict[str, t.Any]:
    """Return the part of `body` that differs from Campaign's `current` values.

    The key never changes (Campaign refuses to PATCH a custom key) and create-only fields
    are left as they are; an empty result means no call at all.
    """
    return {
        name: value
        for name, value in body.items()
        if name != key and name not in create_only and not same_value(value, current.get(name))
    }
