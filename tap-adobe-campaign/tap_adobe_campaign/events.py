"""Adobe I/O Events journal entries (Campaign delivery/tracking logs, XDM) → email event records.

Pure functions, no HTTP: the `email_events` stream stays thin and this mapping is unit-tested.

A journal entry is `{"position": <opaque>, "event": <CloudEvent>}`; the CloudEvent's `data` is
an XDM ExperienceEvent in full-URI form (`https://ns.adobe.com/experience/campaign/<key>`)
plus the ACS attributes XDM lacks under `data["nms"]` (address, failureType, ...).

| Campaign log | condition | record |
|---|---|---|
| delivery log | status `sent` | `send:<broadlogID>` |
| delivery log | status `failed`, failureType 2 (hard) | `bounce:<broadlogID>` |
| delivery log | status `failed`, failureType 1 (soft) | `bounce:…` if include_soft_bounces |
| delivery log | status `failed`, failureType 3 (ignored) | skipped |
| tracking log | urlCategory `open` (urlType 2) | `open:<trackinglogID>` |
| tracking log | urlCategory `click` (urlType 1, 10, 11) | `click:<trackinglogID>` |
| tracking log | opt-out, mirror page | skipped: not email events |
"""

from __future__ import annotations

import datetime
import typing as t
from collections import Counter
from dataclasses import dataclass, field

from singer_sdk import typing as th

NS = "https://ns.adobe.com/experience/campaign/"
DELIVERY_LOG = "com.adobe.campaign.deliveryLog"
TRACKING_LOG = "com.adobe.campaign.trackingLog"
EVENT_TYPES = ("send", "open", "click", "bounce")
#: ACS `@failureType` codes.
FAILURE_TYPES = {1: "soft", 2: "hard", 3: "ignored"}
#: ACS `@trackingUrlType` codes, used when XDM's `urlCategory` is missing.
URL_TYPES = {1: "click", 2: "open", 3: "optout", 6: "mirrorPage", 10: "click", 11: "click"}

EMAIL_EVENT_SCHEMA = th.PropertiesList(
    th.Property(
        "event_id",
        th.StringType,
        required=True,
        description="send:<broadlogID>, bounce:<broadlogID>, open:<trackinglogID> or "
        "click:<trackinglogID>: the same on every replay (the loader dedupes on it)",
    ),
    th.Property("event_type", th.StringType, required=True, description="send|open|click|bounce"),
    th.Property("event_time", th.DateTimeType, description="xdm:timestamp (UTC)"),
    th.Property("profile_external_id", th.StringType, description="The profile's externalId"),
    th.Property("email", th.StringType, description="Address the message went to"),
    th.Property("delivery_name", th.StringType, description="Delivery ID (e.g. DM190)"),
    th.Property("delivery_label", th.StringType),
    th.Property("campaign_name", th.StringType, description="Campaign ID"),
    th.Property("url", th.StringType, description="Clicked URL (click events only)"),
    th.Property("mirror_page_url", th.StringType),
    th.Property("bounce_type", th.StringType, description="hard|soft|ignored (bounces only)"),
    th.Property("bounce_reason", th.StringType, description='Label and code: "User unknown (1)"'),
    th.Property("broadlog_id", th.StringType, description="Delivery log id"),
    th.Property("trackinglog_id", th.StringType, description="Tracking log id"),
    th.Property(
        "journal_position",
        th.StringType,
        required=True,
        description="Adobe I/O Events journal position (opaque; the bookmark)",
    ),
).to_dict()


@dataclass(frozen=True)
class EventFilter:
    """Which events become records (the `event_types` and `include_soft_bounces` settings)."""

    event_types: frozenset[str] = frozenset(EVENT_TYPES)
    include_soft_bounces: bool = False


@dataclass
class Skipped:
    """Journal events that produced no record, counted by reason (logged once per run)."""

    reasons: Counter[str] = field(default_factory=Counter)

    def add(self, reason: str) -> None:
        """Count one skipped event."""
        self.reasons[reason] += 1

    @property
    def total(self) -> int:
        """Number of skipped events."""
        return sum(self.reasons.values())

    def summary(self) -> str:
        """`3 (2 opt-out, 1 soft bounce)`, most frequent reason first."""
        parts = ", ".join(f"{n} {reason}" for reason, n in self.reasons.most_common())
        return f"{self.total} ({parts})"


def _text(value: t.Any) -> str | None:
    """Ids and labels as strings; empty values as None."""
    if value is None or value == "":
        return None
    return str(value)


def _code(value: t.Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _iso(value: t.Any) -> str | None:
    """Return an ISO 8601 instant as UTC ISO 8601 (`…Z` → `+00:00`)."""
    if not value:
        return None
    parsed = datetime.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed.astimezone(datetime.UTC).isoformat()


def _delivery_kind(data: dict[str, t.Any], nms: dict[str, t.Any], rules: EventFilter) -> str:
    """`send`, `bounce`, or `skip:<reason>` for a delivery log event."""
    status = data.get(NS + "status")
    if status == "sent":
        return "send"
    if status != "failed":
        return f"skip:delivery status {status!r}"
    failure = FAILURE_TYPES.get(_code(nms.get("failureType")) or 0)
    if failure is None:
        return "skip:failure without failureType"
    if failure == "ignored":
        return "skip:ignored failure"
    if failure == "soft" and not rules.include_soft_bounces:
        return "skip:soft bounce"
    return "bounce"


def _tracking_kind(data: dict[str, t.Any], nms: dict[str, t.Any]) -> str:
    """`open`, `click`, or `skip:<reason>` for a tracking log event."""
    category = data.get(NS + "urlCategory") or URL_TYPES.get(_code(nms.get("urlType")) or 0)
    if category in {"open", "click"}:
        return str(category)
    if category == "optout":
        return "skip:opt-out"
    if category == "mirrorPage":
        return "skip:mirror page"
    return f"skip:tracking category {category!r}"


def _bounce_reason(data: dict[str, t.Any], nms: dict[str, t.Any]) -> str | None:
    label = _text(data.get(NS + "reason"))
    code = _text(nms.get("failureReason"))
    if label and code:
        return f"{label} ({code})"
    return label or code


def to_record(
    entry: dict[str, t.Any], rules: EventFilter, skipped: Skipped
) -> dict[str, t.Any] | None:
    """Map one journal entry to an `email_events` record, or count it as skipped (None)."""
    event = entry.get("event") or {}
    data = event.get("data") or {}
    nms = data.get("nms") or {}
    cloud_type = event.get("type")
    if cloud_type == DELIVERY_LOG:
        kind = _delivery_kind(data, nms, rules)
    elif cloud_type == TRACKING_LOG:
        kind = _tracking_kind(data, nms)
    else:
        kind = f"skip:event type {cloud_type!r}"
    if kind.startswith("skip:"):
        skipped.add(kind.removeprefix("skip:"))
        return None
    if kind not in rules.event_types:
        skipped.add(f"{kind} (not in event_types)")
        return None
    broadlog_id = _text(data.get(NS + "broadlogID"))
    trackinglog_id = _text(data.get(NS + "trackinglogID"))
    source_id = broadlog_id if kind in {"send", "bounce"} else trackinglog_id
    if source_id is None:
        skipped.add(f"{kind} without its log id")
        return None
    is_bounce = kind == "bounce"
    return {
        "event_id": f"{kind}:{source_id}",
        "event_type": kind,
        "event_time": _iso(data.get("xdm:timestamp") or event.get("time")),
        "profile_external_id": _text(data.get(NS + "externalID")),
        "email": _text(nms.get("address")),
        "delivery_name": _text(data.get(NS + "deliveryName")),
        "delivery_label": _text(data.get(NS + "deliveryLabel")),
        "campaign_name": _text(data.get(NS + "campaignName")),
        "url": _text(data.get(NS + "url")) if kind == "click" else None,
        "mirror_page_url": _text(nms.get("mirrorPageUrl")),
        "bounce_type": FAILURE_TYPES.get(_code(nms.get("failureType")) or 0) if is_bounce else None,
        "bounce_reason": _bounce_reason(data, nms) if is_bounce else None,
        "broadlog_id": broadlog_id,
        "trackinglog_id": trackinglog_id,
        "journal_position": str(entry["position"]),
    }
