"""Journal events: CloudEvents whose `data` is an XDM Campaign delivery-log or tracking-log event.

`data` keys are verbatim from Adobe's XDM schemas `experienceevent-campaign-delivery-log` and
`experienceevent-campaign-tracking-log`, in full-URI form (`NS + "broadlogID"`, …) plus
`@id` and `xdm:timestamp`. The CloudEvent `type`s and the `nms` block (ACS attribute names XDM
has no field for) are ours: Adobe publishes neither Campaign's I/O event codes nor such a block.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .config import EVENTS_PROVIDER
from .logschema import FAILED, FAILURE_REASONS, HARD, URL_CATEGORIES

NS = "https://ns.adobe.com/experience/campaign/"
DELIVERY_LOG = "com.adobe.campaign.deliveryLog"
TRACKING_LOG = "com.adobe.campaign.trackingLog"
EVENT_TYPES = (DELIVERY_LOG, TRACKING_LOG)


def iso(stamp: str) -> str:
    """Campaign stamp `2025-06-01 12:00:00.000Z` → ISO 8601 `2025-06-01T12:00:00.000Z`."""
    return stamp.replace(" ", "T", 1)


@dataclass(frozen=True)
class Target:
    """What a log's event repeats about its delivery, campaign and recipient."""

    delivery: dict[str, Any]  # nmsDelivery row
    operation: dict[str, Any]  # nmsOperation row
    recipient_id: int
    external_id: str | None


def mirror_page_url(delivery: dict[str, Any], broadlog_id: int) -> str | None:
    """Return the recipient's mirror page: the delivery's base URL and the log's id."""
    base = delivery.get("mirrorPageUrl")
    return None if not base else f"{base}?id={int(delivery['id']):x}{broadlog_id:08x}"


def _common(target: Target, broadlog_id: int, when: str) -> dict[str, Any]:
    delivery, operation = target.delivery, target.operation
    data: dict[str, Any] = {
        "@id": f"urn:oeid:campaign:{uuid.uuid4()}",
        "xdm:timestamp": iso(when),
        NS + "broadlogID": str(broadlog_id),
        NS + "campaignID": str(operation["id"]),
        NS + "campaignName": operation["internalName"],
        NS + "campaignLabel": operation["label"],
        NS + "deliveryID": str(delivery["id"]),
        NS + "deliveryName": delivery["internalName"],
        NS + "deliveryLabel": delivery["label"],
        NS + "channel": "email",
        NS + "recipientID": str(target.recipient_id),
    }
    if target.external_id:
        data[NS + "externalID"] = target.external_id
    return data


def _cloud_event(kind: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    event = {
        "specversion": "1.0",
        "id": data["@id"].rsplit(":", 1)[1],
        "source": f"urn:uuid:{EVENTS_PROVIDER}",
        "type": kind,
        "time": data["xdm:timestamp"],
        "datacontenttype": "application/json",
        "data": data,
    }
    return kind, event


def _nms(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def delivery_log_event(target: Target, log: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Event of a broadLogRcp row's current state (sent, or failed with type and reason)."""
    when = log["eventDate"] if log["status"] == FAILED else log["contactDate"]
    data = _common(target, int(log["id"]), when or log["lastModified"])
    failed = log["status"] == FAILED
    data[NS + "status"] = "failed" if failed else "sent"
    if failed:
        reason = FAILURE_REASONS.get(int(log["failureReason"] or 0))
        data[NS + "reason"] = reason.label if reason else "Not defined"
        data[NS + "reasonMessage"] = log["message"] or ""
        data[NS + "quarantine"] = log["failureType"] == HARD
    data["nms"] = _nms(
        address=log["address"],
        failureType=log["failureType"] if failed else None,
        failureReason=log["failureReason"] if failed else None,
        lastModified=iso(log["lastModified"]),
        mirrorPageUrl=mirror_page_url(target.delivery, int(log["id"])),
    )
    return _cloud_event(DELIVERY_LOG, data)


def tracking_log_event(
    target: Target, track: dict[str, Any], address: str | None
) -> tuple[str, dict[str, Any]]:
    """Event of a trackingLogRcp row (open, click, opt-out or mirror page view)."""
    broadlog_id = int(track["broadLog-id"])
    data = _common(target, broadlog_id, track["logDate"])
    data[NS + "trackinglogID"] = str(track["id"])
    if track["urlSource"]:
        data[NS + "url"] = track["urlSource"]
    data[NS + "urlCategory"] = URL_CATEGORIES[int(track["urlType"])]
    data["nms"] = _nms(
        address=address,
        mirrorPageUrl=mirror_page_url(target.delivery, broadlog_id),
        urlType=int(track["urlType"]),
    )
    return _cloud_event(TRACKING_LOG, data)
