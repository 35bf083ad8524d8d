"""Simulated marketing activity: sends, opens, clicks, opt-outs and (late) bounces.

Each action writes Campaign's logs (`broadLogRcp`, `trackingLogRcp`) and appends the matching
events to the I/O Events journal as one unit. A simulated send happens "now" on the sandbox
clock: delivery logs are stamped a little in the past (`contactDate`, `eventDate`; their
`lastModified` is the time the row was written, now, as Campaign stamps a row it writes),
tracking follows within the hour, so every timestamp is at most the current time. Outcomes
come from a seeded RNG: the same profiles, seed and rates give the same logs.

Rates: `hard_bounce_rate` and `soft_bounce_rate` are shares of the targeted profiles whose
delivery fails at once (status 2; no "sent" event); the rest are sent. `open_rate` and
`mirror_page_rate` are shares of sent messages, `click_rate` and `unsubscribe_rate` shares of
opened ones. An unsubscribe is a click on the opt-out link: tracking URL type 3, and the
profile's `blackListEmail` set (its `lastModified` and change time stamped).
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .dates import stamp
from .logschema import (
    FAILED,
    FAILURE_REASONS,
    FAILURE_TYPES,
    HARD,
    OPEN_URL_ID,
    REASONS_BY_TYPE,
    SENT,
    SOFT,
    URL_CLICK,
    URL_LABELS,
    URL_MIRROR_PAGE,
    URL_OPEN,
    URL_OPT_OUT,
)
from .schema import PROFILE
from .store import q
from .xdm import Target, delivery_log_event, mirror_page_url, tracking_log_event

if TYPE_CHECKING:
    from .runtime import Runtime

DEFAULT_MIRROR_BASE = "https://sandbox-org-m.campaign.example/m/"
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/126.0 Safari"
KINDS = ("sent", "hard_bounce", "soft_bounce", "open", "click", "optout", "mirror_page")


class MarketingError(ValueError):
    """A refused admin action (unknown delivery, bad rate, …)."""


@dataclass
class SendSpec:
    """What to send to whom, and how recipients react."""

    delivery: str  # internal name, e.g. DM190
    label: str | None = None
    campaign: str = "SandboxCampaign"  # campaign (operation) internal name
    campaign_label: str | None = None
    mirror_page_url: str = DEFAULT_MIRROR_BASE
    profiles: int | None = None  # first N eligible profiles (by row id)
    external_ids: list[str] | None = None  # or these profiles
    seed: int = 1
    hard_bounce_rate: float = 0.0
    soft_bounce_rate: float = 0.0
    open_rate: float = 0.0
    click_rate: float = 0.0
    unsubscribe_rate: float = 0.0
    mirror_page_rate: float = 0.0
    urls: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Check rates and targeting."""
        for name in ("hard_bounce_rate", "soft_bounce_rate", "open_rate", "click_rate"):
            if not 0.0 <= float(getattr(self, name)) <= 1.0:
                raise MarketingError(f"{name} must lie between 0 and 1")
        if not 0.0 <= self.unsubscribe_rate <= 1.0 or not 0.0 <= self.mirror_page_rate <= 1.0:
            raise MarketingError("rates must lie between 0 and 1")
        if self.hard_bounce_rate + self.soft_bounce_rate > 1.0:
            raise MarketingError("hard_bounce_rate + soft_bounce_rate must not exceed 1")
        if (self.profiles is None) == (self.external_ids is None):
            raise MarketingError("give either profiles (a count) or external_ids")
        if not self.delivery:
            raise MarketingError("a delivery name is required")


def _rows(rt: Runtime, sql: str, args: list[Any] | tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    cur = rt.store.conn.execute(sql, args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def _next_id(rt: Runtime, table: str) -> int:
    row = rt.store.conn.execute(
        "SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)
    ).fetchone()
    return (int(row[0]) if row else 0) + 1


def _insert(rt: Runtime, table: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    names = list(rows[0])
    sql = (
        f"INSERT INTO {q(table)} ({', '.join(map(q, names))})"
        f" VALUES ({', '.join('?' * len(names))})"
    )
    rt.store.conn.executemany(sql, [[r[n] for n in names] for r in rows])


def _operation(rt: Runtime, name: str, label: str | None) -> dict[str, Any]:
    found = _rows(rt, 'SELECT * FROM "nmsOperation" WHERE "internalName" = ?', (name,))
    if found:
        return found[0]
    row = {"id": _next_id(rt, "nmsOperation"), "internalName": name, "label": label or name}
    row["created"] = stamp(rt.clock.time())
    _insert(rt, "nmsOperation", [row])
    return row


_ELIGIBLE = (
    'SELECT id, "externalId", email FROM profile'
    ' WHERE email IS NOT NULL AND "externalId" IS NOT NULL AND "blackList" = 0'
    ' AND "blackListEmail" = 0'
)


def _audience(rt: Runtime, spec: SendSpec) -> tuple[list[tuple[int, str, str]], list[str]]:
    """(targeted (row id, externalId, email), externalIds left out: unknown or not eligible)."""
    conn = rt.store.conn
    if spec.profiles is not None:
        rows = conn.execute(f"{_ELIGIBLE} ORDER BY id LIMIT ?", (spec.profiles,)).fetchall()
        return [(int(i), str(e), str(m)) for i, e, m in rows], []
    wanted = list(dict.fromkeys(spec.external_ids or []))
    found: dict[str, tuple[int, str, str]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        sql = f'{_ELIGIBLE} AND "externalId" IN ({", ".join("?" * len(chunk))})'
        for i, e, m in conn.execute(sql, chunk):
            found.setdefault(str(e), (int(i), str(e), str(m)))
    return [found[e] for e in wanted if e in found], [e for e in wanted if e not in found]


class _Batch:
    """Logs and journal events of one action, written in one transaction."""

    def __init__(self, rt: Runtime, delivery: dict[str, Any], operation: dict[str, Any]) -> None:
        self.rt = rt
        self.delivery = delivery
        self.operation = operation
        self.events: list[tuple[str, tuple[str, dict[str, Any]]]] = []  # (sort time, event)
        self.tracking: list[dict[str, Any]] = []
        self.next_track = _next_id(rt, "trackingLogRcp")

    def target(self, recipient_id: int, external_id: str | None) -> Target:
        return Target(self.delivery, self.operation, recipient_id, external_id)

    def delivery_event(self, log: dict[str, Any], external_id: str | None) -> None:
        when = log["eventDate"] if log["status"] == FAILED else log["contactDate"]
        event = delivery_log_event(self.target(int(log["recipient-id"]), external_id), log)
        self.events.append((when, event))

    def track(
        self,
        log: dict[str, Any],
        external_id: str | None,
        url_type: int,
        url: str | None,
        when: float,
    ) -> dict[str, Any]:
        row = {
            "id": self.next_track,
            "broadLog-id": log["id"],
            "delivery-id": log["delivery-id"],
            "recipient-id": log["recipient-id"],
            "url-id": OPEN_URL_ID if url_type == URL_OPEN else 100 + url_type,
            "urlType": url_type,
            "urlLabel": URL_LABELS[url_type],
            "urlSource": url,
            "sourceType": "html",
            "userAgent": USER_AGENT,
            "trackedDevice": "pc",
            "logDate": stamp(when),
        }
        self.next_track += 1
        self.tracking.append(row)
        target = self.target(int(log["recipient-id"]), external_id)
        self.events.append((row["logDate"], tracking_log_event(target, row, log["address"])))
        return row

    def write(self) -> int:
        _insert(self.rt, "trackingLogRcp", self.tracking)
        self.events.sort(key=lambda item: item[0])
        return self.rt.journal.append([event for _, event in self.events])


def _delivery(rt: Runtime, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    found = _rows(rt, 'SELECT * FROM "nmsDelivery" WHERE "internalName" = ?', (name,))
    if not found:
        raise MarketingError(f"unknown delivery {name!r}")
    operation = _rows(rt, 'SELECT * FROM "nmsOperation" WHERE id = ?', (found[0]["operation-id"],))
    return found[0], operation[0]


def _opt_out(rt: Runtime, recipient_id: int) -> None:
    current = rt.store.get(PROFILE, recipient_id)
    if current is not None:
        rt.store.update(PROFILE, current, {"blackListEmail": 1})


def simulate_send(rt: Runtime, spec: SendSpec) -> dict[str, Any]:
    """Send a delivery to profiles and simulate reactions; logs, journal and a summary."""
    conn = rt.store.conn
    if _rows(rt, 'SELECT id FROM "nmsDelivery" WHERE "internalName" = ?', (spec.delivery,)):
        raise MarketingError(f"delivery {spec.delivery!r} exists already")
    audience, left_out = _audience(rt, spec)
    rng = random.Random(spec.seed)
    now = rt.clock.time()
    start = now - 3600  # the send ran during the last hour; tracking follows it
    conn.execute("BEGIN")
    try:
        operation = _operation(rt, spec.campaign, spec.campaign_label)
        delivery = {
            "id": _next_id(rt, "nmsDelivery"),
            "internalName": spec.delivery,
            "label": spec.label or spec.delivery,
            "operation-id": operation["id"],
            "messageType": 0,
            "mirrorPageUrl": spec.mirror_page_url,
            "created": stamp(start),
            "lastModified": stamp(now),
        }
        _insert(rt, "nmsDelivery", [delivery])
        batch = _Batch(rt, delivery, operation)
        urls = spec.urls or [f"https://www.example.com/offers/{spec.delivery.lower()}"]
        counts: Counter[str] = Counter()
        per_profile: dict[str, dict[str, int]] = {}
        logs: list[dict[str, Any]] = []
        first_id = _next_id(rt, "broadLogRcp")
        span = 1800 / max(len(audience), 1)
        for n, (recipient_id, external_id, email) in enumerate(audience):
            mine = per_profile.setdefault(external_id, dict.fromkeys(KINDS, 0))
            sent_at = start + n * span
            draw = rng.random()
            status, failure_type = SENT, None
            if draw < spec.hard_bounce_rate:
                status, failure_type = FAILED, HARD
            elif draw < spec.hard_bounce_rate + spec.soft_bounce_rate:
                status, failure_type = FAILED, SOFT
            log = _broadlog(first_id + n, delivery["id"], recipient_id, email, sent_at)
            if failure_type is not None:
                _fail(log, failure_type, rng.choice(REASONS_BY_TYPE[failure_type]), sent_at)
                kind = "hard_bounce" if failure_type == HARD else "soft_bounce"
            else:
                kind = "sent"
            # The row is written now: its lastModified is the write's time, not the (back-dated)
            # send's, or an incremental log export ("modified or created after the last
            # execution") would miss a send that followed it. The journal keeps event times.
            log["lastModified"] = stamp(now)
            counts[kind] += 1
            mine[kind] += 1
            logs.append(log)
            batch.delivery_event(log, external_id)
            if status != SENT:
                continue
            if rng.random() < spec.mirror_page_rate:
                when = sent_at + 60 + rng.random() * 1200
                batch.track(
                    log, external_id, URL_MIRROR_PAGE, mirror_page_url(delivery, log["id"]), when
                )
                counts["mirror_page"] += 1
                mine["mirror_page"] += 1
            if rng.random() >= spec.open_rate:
                continue
            opened = sent_at + 60 + rng.random() * 1200
            batch.track(log, external_id, URL_OPEN, None, opened)
            counts["open"] += 1
            mine["open"] += 1
            if rng.random() < spec.click_rate:
                batch.track(log, external_id, URL_CLICK, rng.choice(urls), opened + 30)
                counts["click"] += 1
                mine["click"] += 1
            if rng.random() < spec.unsubscribe_rate:
                optout_url = f"https://sandbox-org.campaign.example/webApp/unsub?id={log['id']:x}"
                batch.track(log, external_id, URL_OPT_OUT, optout_url, now)
                _opt_out(rt, recipient_id)
                counts["optout"] += 1
                mine["optout"] += 1
        _insert(rt, "broadLogRcp", logs)
        appended = batch.write()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return {
        "delivery": _delivery_summary(delivery, operation),
        "targeted": len(audience),
        "left_out": left_out,
        "counts": {k: counts[k] for k in KINDS},
        "by_external_id": per_profile,
        "journal_events": appended,
    }


def _broadlog(
    log_id: int, delivery_id: int, recipient_id: int, email: str, when: float
) -> dict[str, Any]:
    at = stamp(when)
    return {
        "id": log_id,
        "delivery-id": delivery_id,
        "recipient-id": recipient_id,
        "address": email,
        "status": SENT,
        "failureType": None,
        "failureReason": None,
        "message": None,
        "msg-id": f"<{log_id:x}.{delivery_id:x}@sandbox-org.campaign.example>",
        "eventDate": at,
        "contactDate": at,
        "lastModified": at,
    }


def _fail(log: dict[str, Any], failure_type: int, reason: int, when: float) -> None:
    at = stamp(when)
    log.update(
        {
            "status": FAILED,
            "failureType": failure_type,
            "failureReason": reason,
            "message": FAILURE_REASONS[reason].message.format(address=log["address"]),
            "eventDate": at,
            "lastModified": at,
        }
    )


def _delivery_summary(delivery: dict[str, Any], operation: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": delivery["id"],
        "internalName": delivery["internalName"],
        "label": delivery["label"],
        "campaign": operation["internalName"],
        "campaignLabel": operation["label"],
        "mirrorPageUrl": delivery["mirrorPageUrl"],
    }


def _external_ids(rt: Runtime, recipient_ids: list[int]) -> dict[int, str | None]:
    out: dict[int, str | None] = {}
    for start in range(0, len(recipient_ids), 500):
        chunk = recipient_ids[start : start + 500]
        sql = f'SELECT id, "externalId" FROM profile WHERE id IN ({", ".join("?" * len(chunk))})'
        out.update({int(i): e for i, e in rt.store.conn.execute(sql, chunk)})
    return out


def late_bounces(
    rt: Runtime,
    delivery_name: str,
    count: int = 1,
    *,
    failure_type: str = "hard",
    reason: int | None = None,
    external_ids: list[str] | None = None,
) -> dict[str, Any]:
    """Turn sent delivery logs of a delivery into failed ones (asynchronous bounces).

    The first `count` sent logs (by id), or those of `external_ids`; each gets status 2, the
    failure type and reason, `eventDate` and `lastModified` now, and a new journal event.
    """
    if failure_type not in FAILURE_TYPES:
        raise MarketingError(f"failure_type must be one of {', '.join(FAILURE_TYPES)}")
    ftype = FAILURE_TYPES[failure_type]
    code = reason if reason is not None else REASONS_BY_TYPE[ftype][0]
    if code not in FAILURE_REASONS:
        raise MarketingError(f"unknown failureReason {code}")
    delivery, operation = _delivery(rt, delivery_name)
    sql = 'SELECT * FROM "broadLogRcp" WHERE "delivery-id" = ? AND status = ?'
    args: list[Any] = [delivery["id"], SENT]
    logs = _rows(rt, sql + " ORDER BY id", args)
    ids = _external_ids(rt, [int(log["recipient-id"]) for log in logs])
    if external_ids is not None:
        wanted = set(external_ids)
        logs = [log for log in logs if ids.get(int(log["recipient-id"])) in wanted]
    else:
        logs = logs[: max(count, 0)]
    now = rt.clock.time()
    conn = rt.store.conn
    conn.execute("BEGIN")
    try:
        batch = _Batch(rt, delivery, operation)
        for log in logs:
            _fail(log, ftype, code, now)
            conn.execute(
                'UPDATE "broadLogRcp" SET status = ?, "failureType" = ?, "failureReason" = ?,'
                ' message = ?, "eventDate" = ?, "lastModified" = ? WHERE id = ?',
                (
                    FAILED,
                    ftype,
                    code,
                    log["message"],
                    log["eventDate"],
                    log["lastModified"],
                    log["id"],
                ),
            )
            batch.delivery_event(log, ids.get(int(log["recipient-id"])))
        appended = batch.write()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return {
        "count": len(logs),
        "bounced": [
            {"broadLogId": log["id"], "externalId": ids.get(int(log["recipient-id"]))}
            for log in logs
        ],
        "journal_events": appended,
    }


TRACK_KINDS = {
    "open": URL_OPEN,
    "click": URL_CLICK,
    "optout": URL_OPT_OUT,
    "mirror_page": URL_MIRROR_PAGE,
}


def track(
    rt: Runtime, delivery_name: str, external_id: str, kind: str, url: str | None = None
) -> dict[str, Any]:
    """Record one tracking event of a recipient of a sent delivery (an opt-out also opts out)."""
    if kind not in TRACK_KINDS:
        raise MarketingError(f"kind must be one of {', '.join(TRACK_KINDS)}")
    delivery, operation = _delivery(rt, delivery_name)
    found = _rows(
        rt,
        'SELECT b.* FROM "broadLogRcp" b JOIN profile p ON p.id = b."recipient-id"'
        ' WHERE b."delivery-id" = ? AND p."externalId" = ? AND b.status = ? ORDER BY b.id LIMIT 1',
        (delivery["id"], external_id, SENT),
    )
    if not found:
        raise MarketingError(f"no sent delivery log of {delivery_name!r} for {external_id!r}")
    log = found[0]
    url_type = TRACK_KINDS[kind]
    if url_type == URL_CLICK and not url:
        url = f"https://www.example.com/offers/{delivery_name.lower()}"
    if url_type == URL_OPT_OUT:
        url = url or f"https://sandbox-org.campaign.example/webApp/unsub?id={log['id']:x}"
    if url_type == URL_MIRROR_PAGE:
        url = mirror_page_url(delivery, int(log["id"]))
    conn = rt.store.conn
    conn.execute("BEGIN")
    try:
        batch = _Batch(rt, delivery, operation)
        row = batch.track(log, external_id, url_type, url, rt.clock.time())
        if url_type == URL_OPT_OUT:
            _opt_out(rt, int(log["recipient-id"]))
        batch.write()
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return row


def deliveries(rt: Runtime) -> list[dict[str, Any]]:
    """Every delivery with its campaign."""
    return _rows(
        rt,
        'SELECT d.*, o."internalName" AS campaign, o.label AS "campaignLabel"'
        ' FROM "nmsDelivery" d JOIN "nmsOperation" o ON o.id = d."operation-id" ORDER BY d.id',
    )
