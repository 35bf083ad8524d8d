"""Journal entries shaped like the contract's CloudEvents, and a fake journal server."""

from __future__ import annotations

import typing as t
from urllib.parse import quote

from tap_adobe_campaign.events import DELIVERY_LOG, NS, TRACKING_LOG

from .fakes import FakeAdapter, Reply, query

if t.TYPE_CHECKING:
    import requests

JOURNAL_PATH = "/events/organizations/98765/integrations/43210/a1e57c3e-0000-4000-8000-000000000001"
JOURNAL_URL = "https://events.test" + JOURNAL_PATH
IMS_ORG = "TESTORG0000000000@AdobeOrg"

CONFIG = {
    "organization": "org",
    "client_id": "client-1",
    "client_secret": "secret",
    "ims_url": "https://ims.test",
    "api_base_url": "https://api.test",
    "events_journal_url": JOURNAL_URL,
    "ims_org_id": IMS_ORG,
    "max_retries": 2,
}


def _common(n: int, **nms: t.Any) -> dict[str, t.Any]:
    return {
        "@id": f"xdm-{n}",
        "xdm:timestamp": f"2026-11-20T10:00:{n % 60:02d}.123Z",
        NS + "broadlogID": f"bl{n}",
        NS + "campaignID": "c1",
        NS + "campaignName": "2019LoyaltyCamp",
        NS + "campaignLabel": "Loyalty",
        NS + "deliveryID": "d1",
        NS + "deliveryName": "DM190",
        NS + "deliveryLabel": "Welcome",
        NS + "channel": "email",
        NS + "externalID": f"contact-{n}",
        NS + "recipientID": str(n),
        "nms": {"address": f"p{n}@example.org", "mirrorPageUrl": f"https://m.test/{n}", **nms},
    }


def delivery(n: int, status: str, failure_type: int | None = None, **extra: t.Any) -> dict:
    data = {**_common(n), NS + "status": status, NS + "quarantine": False}
    if failure_type is not None:
        data["nms"]["failureType"] = failure_type
        data["nms"]["failureReason"] = 1
        data[NS + "reason"] = "User unknown"
    data.update(extra)
    return {"type": DELIVERY_LOG, "id": f"ce-{n}", "time": data["xdm:timestamp"], "data": data}


def tracking(n: int, category: str, url: str | None = None) -> dict:
    data = {**_common(n), NS + "trackinglogID": f"tl{n}", NS + "urlCategory": category}
    if url:
        data[NS + "url"] = url
    return {"type": TRACKING_LOG, "id": f"ce-{n}", "time": data["xdm:timestamp"], "data": data}


class FakeJournal:
    """Serves `events` at opaque positions `p-<i>`; positions in `expired` answer 410."""

    def __init__(self, events: list[dict], *, oldest: int = 0) -> None:
        self.events = events
        self.oldest = oldest  # index of the oldest retained event
        self.requests: list[requests.PreparedRequest] = []

    def position(self, index: int) -> str:
        return f"p~{index:04d}=="  # opaque, with characters that need URL-encoding

    def __call__(self, request: requests.PreparedRequest) -> Reply:
        self.requests.append(request)
        q = query(request)
        limit = int(q.get("limit", "100"))
        start = self.oldest
        if "since" in q:
            index = next(
                (i for i in range(len(self.events)) if self.position(i) == q["since"]), None
            )
            if index is None:
                return 400, {}, {"error_code": "400", "message": "bad position"}
            if index < self.oldest - 1:
                return 410, {}, {"error_code": "410", "message": "Gone"}
            start = index + 1
        chunk = list(range(start, min(start + limit, len(self.events))))
        here = self.position(chunk[-1]) if chunk else q.get("since", "")
        link = f'<{JOURNAL_PATH}?since={quote(here, safe="")}&limit={limit}>; rel="next"'
        if not chunk:
            return 204, {"retry-after": "10", "Link": link}, b""
        body = {
            "events": [{"position": self.position(i), "event": self.events[i]} for i in chunk],
            "_page": {"last": here, "count": len(chunk)},
        }
        return 200, {"Link": link, "Content-Type": "application/json"}, body


def install(adapter: FakeAdapter, client: t.Any) -> None:
    """Route the client's API session and its IMS session through `adapter`."""
    adapter.route("/ims/token/v3", (200, {}, {"access_token": "tok", "expires_in": 86399}))
    client.session.mount("https://", adapter)
    client.authenticator._http.mount("https://", adapter)
