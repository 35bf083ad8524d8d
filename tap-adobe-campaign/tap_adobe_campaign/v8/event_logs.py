"""v8 delivery and tracking logs → `email_events` records, and the stream's position.

Pure functions, no I/O. A record is the journal stream's (`tap_adobe_campaign.events`), field
for field, with the same event ids: the journal's `broadlogID` / `trackinglogID` are the log
rows' `@id`, so an event read over SOAP upserts the same activity as one read from the journal.

| log (`queryDef` row) | condition | record |
|---|---|---|
| `nms:broadLogRcp` | `@status` 1 (sent) | `send:<@id>` |
| `nms:broadLogRcp` | `@status` 2, `[msg/@failureType]` 2 (hard) | `bounce:<@id>` |
| `nms:broadLogRcp` | `@status` 2, failure type 1 (soft) | `bounce:…` if include_soft_bounces |
| `nms:broadLogRcp` | failure type 3 (ignored), other statuses | skipped |
| `nms:trackingLogRcp` | `[url/@type]` 2 (open) | `open:<@id>` |
| `nms:trackingLogRcp` | `[url/@type]` 1, 10, 11 (click) | `click:<@id>` |
| `nms:trackingLogRcp` | opt-out (3), mirror page (6), others | skipped: not email events |

A delivery log is read in its current state: a log that bounced after it was sent is a
`send` when read before the bounce and a `bounce` after (both, over two runs); read only after
the bounce, it is a `bounce` alone (the journal would have carried both events).
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

from campaign_client.dates import from_campaign_datetime, to_iso_datetime
from campaign_client.querydef import Cursor, value_at

from tap_adobe_campaign.events import FAILURE_TYPES, URL_TYPES

if t.TYPE_CHECKING:
    import xml.etree.ElementTree as ET

    from tap_adobe_campaign.events import EventFilter, Skipped

BROAD_LOG = "nms:broadLogRcp"
TRACKING_LOG = "nms:trackingLogRcp"
#: What both logs repeat about the delivery and its campaign (`nms:operation`).
_DELIVERY = (
    "[@delivery-id]",
    "[delivery/@internalName]",
    "[delivery/@label]",
    "[delivery/@mirrorPageUrl]",
    "[delivery/operation/@internalName]",
    "[recipient/@externalId]",
)
BROAD_LOG_SELECT = (
    "@id",
    "@status",
    "@address",
    "@eventDate",
    "@contactDate",
    "@lastModified",
    "[msg/@failureType]",
    "[msg/@failureReason]",
    *_DELIVERY,
)
TRACKING_LOG_SELECT = (
    "@id",
    "@logDate",
    "[@broadLog-id]",
    "[url/@type]",
    "[url/@source]",
    "[broadLog/@address]",
    *_DELIVERY,
)
#: `@status` of a delivery log.
SENT, FAILED = 1, 2
#: Adobe's failure labels for the `@failureReason` codes of its reporting formulas.
FAILURE_REASONS = {
    1: "User unknown",
    2: "Invalid domain",
    3: "Unreachable",
    4: "Account disabled",
    5: "Mailbox full",
    6: "Not connected",
    8: "Address on denylist",
    20: "Refused",
}
UNDEFINED_REASON = "Not defined"


def _text(row: ET.Element, xpath: str) -> str | None:
    value = value_at(row, xpath)
    return None if value is None or value == "" else value


def _code(row: ET.Element, xpath: str) -> int:
    """Return an XTK number (0 when empty: Campaign writes empty numbers as 0)."""
    try:
        return int(value_at(row, xpath) or 0)
    except ValueError:
        return 0


def _iso(text: str | None) -> str | None:
    moment = from_campaign_datetime(text)
    return moment.isoformat() if moment else None


def mirror_page_url(row: ET.Element, broadlog_id: int) -> str | None:
    """Return the recipient's mirror page: the delivery's mirror base URL, delivery and log ids.

    [inference] The journal stream's URLs: Campaign renders the link in the message itself.
    """
    base = _text(row, "[delivery/@mirrorPageUrl]")
    if not base:
        return None
    return f"{base}?id={_code(row, '[@delivery-id]'):x}{broadlog_id:08x}"


def _common(row: ET.Element, broadlog_id: int, position: str) -> dict[str, t.Any]:
    return {
        "profile_external_id": _text(row, "[recipient/@externalId]"),
        "delivery_name": _text(row, "[delivery/@internalName]"),
        "delivery_label": _text(row, "[delivery/@label]"),
        "campaign_name": _text(row, "[delivery/operation/@internalName]"),
        "mirror_page_url": mirror_page_url(row, broadlog_id),
        "broadlog_id": str(broadlog_id),
        "journal_position": position,
    }


def _delivery_kind(row: ET.Element, rules: EventFilter) -> str:
    """`send`, `bounce`, or `skip:<reason>` for a delivery log (the journal stream's reasons)."""
    status = _code(row, "@status")
    if status == SENT:
        return "send"
    if status != FAILED:
        return f"skip:delivery status {status!r}"
    failure = FAILURE_TYPES.get(_code(row, "[msg/@failureType]"))
    if failure is None:
        return "skip:failure without failureType"
    if failure == "ignored":
        return "skip:ignored failure"
    if failure == "soft" and not rules.include_soft_bounces:
        return "skip:soft bounce"
    return "bounce"


def _bounce_reason(row: ET.Element) -> str:
    code = _code(row, "[msg/@failureReason]")
    label = FAILURE_REASONS.get(code, UNDEFINED_REASON)
    return f"{label} ({code})" if code else label


def _kept(kind: str, rules: EventFilter, skipped: Skipped) -> bool:
    if kind.startswith("skip:"):
        skipped.add(kind.removeprefix("skip:"))
        return False
    if kind not in rules.event_types:
        skipped.add(f"{kind} (not in event_types)")
        return False
    return True


def delivery_record(
    row: ET.Element, position: str, rules: EventFilter, skipped: Skipped
) -> dict[str, t.Any] | None:
    """Map one `nms:broadLogRcp` row to a record, or count it as skipped (None)."""
    kind = _delivery_kind(row, rules)
    if not _kept(kind, rules, skipped):
        return None
    broadlog_id = _code(row, "@id")
    bounce = kind == "bounce"
    when = _text(row, "@eventDate" if bounce else "@contactDate") or _text(row, "@lastModified")
    return {
        "event_id": f"{kind}:{broadlog_id}",
        "event_type": kind,
        "event_time": _iso(when),
        "email": _text(row, "@address"),
        "url": None,
        "bounce_type": FAILURE_TYPES.get(_code(row, "[msg/@failureType]")) if bounce else None,
        "bounce_reason": _bounce_reason(row) if bounce else None,
        "trackinglog_id": None,
        **_common(row, broadlog_id, position),
    }


def _tracking_kind(row: ET.Element) -> str:
    category = URL_TYPES.get(_code(row, "[url/@type]"))
    if category in {"open", "click"}:
        return str(category)
    if category == "optout":
        return "skip:opt-out"
    if category == "mirrorPage":
        return "skip:mirror page"
    return f"skip:tracking category {category!r}"


def tracking_record(
    row: ET.Element, position: str, rules: EventFilter, skipped: Skipped
) -> dict[str, t.Any] | None:
    """Map one `nms:trackingLogRcp` row to a record, or count it as skipped (None)."""
    kind = _tracking_kind(row)
    if not _kept(kind, rules, skipped):
        return None
    trackinglog_id = _code(row, "@id")
    return {
        "event_id": f"{kind}:{trackinglog_id}",
        "event_type": kind,
        "event_time": _iso(_text(row, "@logDate")),
        "email": _text(row, "[broadLog/@address]"),
        "url": _text(row, "[url/@source]") if kind == "click" else None,
        "bounce_type": None,
        "bounce_reason": None,
        "trackinglog_id": str(trackinglog_id),
        **_common(row, _code(row, "[@broadLog-id]"), position),
    }


_POSITION = re.compile(r"v8:b=(?:(?P<modified>[^,;]+),(?P<broadlog>-?\d+))?;t=(?P<tracking>-?\d+)?")


@dataclass(frozen=True)
class LogPosition:
    """Where `email_events` stands in both logs (the `journal_position` of its records).

    `broadlog`: after this (`@lastModified`, `@id`) of `nms:broadLogRcp`; `trackinglog`: after
    this `@id` of `nms:trackingLogRcp`. Written `v8:b=<ISO lastModified>,<id>;t=<id>`, a part
    left empty until that log has been read.
    """

    broadlog: Cursor | None = None
    trackinglog: int | None = None

    def __str__(self) -> str:
        """`v8:b=2025-06-01T12:00:00.000Z,42;t=17`."""
        b = self.broadlog
        broad = f"{to_iso_datetime(b.modified)},{b.id}" if b is not None and b.id else ""
        tracking = "" if self.trackinglog is None else str(self.trackinglog)
        return f"v8:b={broad};t={tracking}"

    @classmethod
    def parse(cls, value: str) -> LogPosition | None:
        """Read a position back; None when `value` is not one (e.g. a journal position)."""
        match = _POSITION.fullmatch(value)
        if match is None:
            return None
        modified = from_campaign_datetime(match["modified"])
        broadlog = Cursor(modified, match["broadlog"]) if modified else None
        tracking = int(match["tracking"]) if match["tracking"] else None
        return cls(broadlog, tracking)
